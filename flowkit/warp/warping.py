"""Warp frames by homographies with OpenCV's remap, on numpy arrays (no torch).

Convention (see homography.py): H maps a prev-frame point p to its next-frame position. The warped
next frame is next_w(p) = next(H p), i.e. the next frame resampled into the prev frame's camera, so
the flow prev -> next_w holds only motion that is not the camera's. Pixel centres are at integer
coordinates (OpenCV's convention); sampling is bilinear (cv2.remap, INTER_LINEAR, the border pixel
repeated), the same as cv2.warpPerspective(next, H, flags=INTER_LINEAR | WARP_INVERSE_MAP).

A pixel p is valid when H p lands inside the next frame ([0, W-1] x [0, H-1], in front of the
camera). Invalid pixels have no source; they are filled with a caller-given image (the prev frame,
as IDT does, so the second flow pass sees no artificial edge there) and flagged in the mask.

The warp runs on the CPU for every flow device: a 340x256 frame costs well under a millisecond,
and the homographies come from OpenCV on the CPU anyway.
"""

from __future__ import annotations

import cv2
import numpy as np

# Slack (pixels) when testing if a sample lies inside the frame: keeps the border pixels of an
# identity warp valid despite float rounding.
INSIDE_TOLERANCE_PX = 1e-3


def homography_sampling_grid(homographies, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each prev-frame pixel samples the next frame.

    homographies: (N, 3, 3) array, prev -> next (computed in float64 for accuracy).
    Returns maps (N, 2, H, W) float32 in pixels, x then y (cv2.remap's map_x, map_y; invalid pixels
    hold -1, outside the frame), and valid (N, H, W) bool: True where H p falls inside the next frame.
    """
    h = np.asarray(homographies, dtype=np.float64)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    points = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])  # (3, HW)
    mapped = h @ points  # (N, 3, HW)
    depth = mapped[:, 2]
    in_front = depth > 1e-12
    safe_depth = np.where(in_front, depth, 1.0)
    x, y = mapped[:, 0] / safe_depth, mapped[:, 1] / safe_depth
    tol = INSIDE_TOLERANCE_PX
    valid = in_front & (x >= -tol) & (x <= width - 1 + tol) & (y >= -tol) & (y <= height - 1 + tol)
    maps = np.stack([np.where(valid, x, -1.0), np.where(valid, y, -1.0)], 1).astype(np.float32)
    return maps.reshape(-1, 2, height, width), valid.reshape(-1, height, width)


def warp_by_homography(frames, homographies, fill=None) -> tuple[np.ndarray, np.ndarray]:
    """Resample next frames into the prev frames' camera: out(p) = frames(H p).

    frames: (N, H, W) gray or (N, C, H, W), uint8 or float (numpy, or CPU tensors).
    homographies: (N, 3, 3) (float64 preferred), prev -> next.
    fill: same shape as frames (typically the prev frames), used where H p is outside the frame;
    zeros if None.
    Returns (warped, valid): warped has the shape and dtype of frames (uint8 is rounded); valid is
    (N, H, W) bool.
    """
    frames = np.asarray(frames)
    homographies = np.asarray(homographies)
    if frames.ndim not in (3, 4):
        raise ValueError(f"frames must be (N, H, W) or (N, C, H, W), got {tuple(frames.shape)}")
    if homographies.shape != (frames.shape[0], 3, 3):
        raise ValueError(f"homographies must be ({frames.shape[0]}, 3, 3), got {tuple(homographies.shape)}")
    if fill is not None:
        fill = np.asarray(fill)
        if fill.shape != frames.shape:
            raise ValueError(f"fill must have the frames' shape {tuple(frames.shape)}, got {tuple(fill.shape)}")
    if not (frames.dtype == np.uint8 or frames.dtype.kind == "f"):
        raise ValueError(f"frames must be uint8 or floating point, got {frames.dtype}")
    height, width = frames.shape[-2:]
    maps, valid = homography_sampling_grid(homographies, height, width)
    planes = frames.reshape(frames.shape[0], -1, height, width)
    work = planes if planes.dtype in (np.uint8, np.float32, np.float64) else planes.astype(np.float32)
    warped = np.empty_like(work)
    for n in range(planes.shape[0]):
        for c in range(planes.shape[1]):
            warped[n, c] = cv2.remap(np.ascontiguousarray(work[n, c]), maps[n, 0], maps[n, 1], cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE)
    warped = warped.astype(frames.dtype, copy=False)
    mask = valid[:, None]
    source = np.zeros_like(warped) if fill is None else fill.reshape(warped.shape).astype(frames.dtype, copy=False)
    return np.where(mask, warped, source).reshape(frames.shape), valid
