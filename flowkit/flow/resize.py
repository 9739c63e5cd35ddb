"""Bilinear resizing with cv2.resize(INTER_LINEAR) semantics, for the TV-L1 image pyramid and flow
upsampling, on any device.

OpenCV maps output pixel d to source coordinate (d + 0.5) * scale - 0.5 and clamps to the edge; with
a scale factor given (fx), the scale is exactly 1 / fx rather than the ratio of the rounded sizes,
and the output size is rounded to nearest. Both details shift the pyramid by fractions of a pixel,
so they are reproduced here to track OpenCV's flow closely.
"""

from __future__ import annotations

import functools

import torch


def scaled_size(height: int, width: int, factor: float) -> tuple[int, int]:
    """Output (height, width) of cv2.resize(..., fx=factor, fy=factor): rounded to nearest."""
    return _round_half_even(height * factor), _round_half_even(width * factor)


def _round_half_even(value: float) -> int:
    # saturate_cast<int>(double) uses the FPU's round-to-nearest-even mode.
    return int(round(value))


@functools.lru_cache(maxsize=256)
def _axis_taps(n_in: int, n_out: int, scale: float, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each output index: the two source indices and the weight of the second one (float32).
    Cached (read-only tensors): a pyramid asks for the same few sizes for every pair, and building
    them takes a dozen small torch operators per call."""
    dst = torch.arange(n_out, dtype=torch.float64)
    src = (dst + 0.5) * scale - 0.5
    first = torch.floor(src)
    frac = src - first
    first = first.long()
    below = first < 0
    above = first >= n_in - 1
    frac[below | above] = 0.0
    first[below] = 0
    first[above] = n_in - 1
    second = torch.clamp(first + 1, max=n_in - 1)
    return first.to(device), second.to(device), frac.to(torch.float32).to(device)


def resize_linear(x: torch.Tensor, size: tuple[int, ...], scale: tuple[float, float] | None = None) -> torch.Tensor:
    """Resize the last two dims of x (..., H, W) to size (h, w), bilinear, as cv2.resize INTER_LINEAR.

    scale: (source pixels per output pixel along y, along x); default is the size ratio, as when
    cv2.resize is given dsize. Pass (1 / fy, 1 / fx) to mimic cv2.resize(..., fx, fy).
    Horizontal pass first, then vertical, as OpenCV does. float32 in, float32 out.
    """
    h_in, w_in = x.shape[-2:]
    h_out, w_out = size
    scale_y, scale_x = scale if scale is not None else (h_in / h_out, w_in / w_out)
    x0, x1, fx = _axis_taps(w_in, w_out, scale_x, x.device)
    y0, y1, fy = _axis_taps(h_in, h_out, scale_y, x.device)
    rows = torch.lerp(x.index_select(-1, x0), x.index_select(-1, x1), fx)
    fy = fy[:, None]
    return torch.lerp(rows.index_select(-2, y0), rows.index_select(-2, y1), fy)


def downscale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """x (..., H, W) resized by `factor` (< 1) as cv2.resize(x, None, fx=factor, fy=factor, INTER_LINEAR)."""
    size = scaled_size(x.shape[-2], x.shape[-1], factor)
    return resize_linear(x, size, scale=(1.0 / factor, 1.0 / factor))
