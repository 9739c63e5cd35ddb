"""Turn user frames (numpy or torch, uint8 or float, gray or RGB, single or batched) into the float32
gray batches the flow solvers work on.

Accepted shapes, for prev and next alike:
  (H, W)        one gray frame
  (N, H, W)     N gray frames (a 3-D input is always a batch of gray frames, never one RGB image)
  (N, 1, H, W)  N gray frames
  (N, 3, H, W)  N RGB frames, converted to gray with OpenCV's weights (0.299, 0.587, 0.114)
Intensities: uint8 frames are in 0..255; float frames are in [0, 1] and are scaled by 255, as OpenCV's
TV-L1 does with CV_32F input.
"""

from __future__ import annotations

import numpy as np
import torch

from flowkit.color import GRAY_FIXED_POINT, GRAY_SHIFT, GRAY_WEIGHTS


def as_tensor(frames, device=None) -> torch.Tensor:
    """numpy array or tensor -> tensor on `device` (default: where it already is)."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    elif not isinstance(frames, torch.Tensor):
        raise ValueError(f"frames must be a numpy array or a torch tensor, got {type(frames).__name__}")
    return frames if device is None else frames.to(device)


def to_gray_batch(frames, device=None) -> torch.Tensor:
    """Frames in any accepted shape (module docstring) -> float32 (N, H, W) gray in 0..255 on `device`.

    uint8 RGB is converted exactly as cv2.cvtColor(..., COLOR_RGB2GRAY) does (rounded to integers),
    so flow from RGB input equals flow from OpenCV's gray conversion of it.
    """
    x = as_tensor(frames, device)
    if x.dtype == torch.bool or x.is_complex() or not (x.dtype == torch.uint8 or x.is_floating_point()):
        raise ValueError(f"frames must be uint8 or floating point, got {x.dtype}")
    if x.ndim == 2:
        x = x[None]
    elif x.ndim == 4:
        if x.shape[1] == 3:
            x = _rgb_to_gray(x)
        elif x.shape[1] == 1:
            x = x[:, 0]
        else:
            raise ValueError(f"4-D frames must be (N, 1, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
    elif x.ndim != 3:
        raise ValueError(f"frames must have shape (H, W), (N, H, W) or (N, C, H, W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float()
    return x.float() * 255.0


def _rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, H, W) gray of the same dtype family (uint8 stays uint8, rounded as
    OpenCV rounds: flowkit.color.rgb_to_gray is the numpy twin, for channel-last arrays)."""
    if rgb.dtype == torch.uint8:
        r, g, b = rgb.int().unbind(1)
        wr, wg, wb = GRAY_FIXED_POINT
        gray = (r * wr + g * wg + b * wb + (1 << (GRAY_SHIFT - 1))) >> GRAY_SHIFT
        return gray.to(torch.uint8)
    fr, fg, fb = GRAY_WEIGHTS
    r, g, b = rgb.unbind(1)
    return r * fr + g * fg + b * fb


def frame_pair(prev, next, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Both frame batches as float32 (N, H, W) gray on one device; ValueError if they do not pair up.

    device defaults to prev's device (CPU for numpy input).
    """
    if device is None and isinstance(prev, torch.Tensor):
        device = prev.device
    a = to_gray_batch(prev, device)
    b = to_gray_batch(next, device)
    if a.shape != b.shape:
        raise ValueError(f"prev and next frames differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.shape[0] == 0:
        raise ValueError("empty batch of frames")
    if a.shape[-2] < 3 or a.shape[-1] < 3:
        raise ValueError(f"frames must be at least 3x3 pixels, got {a.shape[-1]}x{a.shape[-2]}")
    return a, b
