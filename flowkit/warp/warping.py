"""Warp frames by homographies with torch.grid_sample, batched, on whatever device the frames are.

Convention (see homography.py): H maps a prev-frame point p to its next-frame position. The warped
next frame is next_w(p) = next(H p), i.e. the next frame resampled into the prev frame's camera, so
the flow prev -> next_w holds only motion that is not the camera's. Pixel centres are at integer
coordinates (OpenCV's convention); sampling is bilinear.

A pixel p is valid when H p lands inside the next frame ([0, W-1] x [0, H-1], in front of the
camera). Invalid pixels have no source; they are filled with a caller-given image (the prev frame,
as IDT does, so the second flow pass sees no artificial edge there) and flagged in the mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Slack (pixels) when testing if a sample lies inside the frame: keeps the border pixels of an
# identity warp valid despite float rounding.
INSIDE_TOLERANCE_PX = 1e-3


def homography_sampling_grid(
    homographies: torch.Tensor, height: int, width: int, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each prev-frame pixel samples the next frame.

    homographies: (N, 3, 3) float tensor, prev -> next (computed in float64 for accuracy).
    Returns grid (N, H, W, 2) float32 in grid_sample's normalized coordinates (align_corners=True),
    x then y, and valid (N, H, W) bool: True where H p falls inside the next frame.
    """
    device = homographies.device if device is None else torch.device(device)
    h = homographies.to(device=device, dtype=torch.float64)
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float64),
        torch.arange(width, device=device, dtype=torch.float64),
        indexing="ij",
    )
    points = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)  # (1, HW, 3)
    mapped = points @ h.transpose(1, 2)  # (N, HW, 3)
    depth = mapped[..., 2]
    in_front = depth > 1e-12
    safe_depth = torch.where(in_front, depth, torch.ones_like(depth))
    x = mapped[..., 0] / safe_depth
    y = mapped[..., 1] / safe_depth
    tol = INSIDE_TOLERANCE_PX
    valid = in_front & (x >= -tol) & (x <= width - 1 + tol) & (y >= -tol) & (y <= height - 1 + tol)
    # Normalized coordinates; invalid samples are parked at -2 (outside) and overwritten by the fill.
    gx = torch.where(valid, 2.0 * x / max(width - 1, 1) - 1.0, torch.full_like(x, -2.0))
    gy = torch.where(valid, 2.0 * y / max(height - 1, 1) - 1.0, torch.full_like(y, -2.0))
    grid = torch.stack([gx, gy], dim=-1).reshape(-1, height, width, 2).to(torch.float32)
    return grid, valid.reshape(-1, height, width)


def warp_by_homography(
    frames: torch.Tensor, homographies: torch.Tensor, fill: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample next frames into the prev frames' camera: out(p) = frames(H p).

    frames: (N, H, W) gray or (N, C, H, W), uint8 or float, on any device.
    homographies: (N, 3, 3) float (float64 preferred), prev -> next.
    fill: same shape as frames (typically the prev frames), used where H p is outside the frame;
    zeros if None.
    Returns (warped, valid): warped has the shape, dtype (uint8 is rounded) and device of frames;
    valid is (N, H, W) bool on the same device.
    """
    if frames.ndim not in (3, 4):
        raise ValueError(f"frames must be (N, H, W) or (N, C, H, W), got {tuple(frames.shape)}")
    if homographies.shape != (frames.shape[0], 3, 3):
        raise ValueError(f"homographies must be ({frames.shape[0]}, 3, 3), got {tuple(homographies.shape)}")
    if fill is not None and fill.shape != frames.shape:
        raise ValueError(f"fill must have the frames' shape {tuple(frames.shape)}, got {tuple(fill.shape)}")
    gray = frames.ndim == 3
    images = frames.unsqueeze(1) if gray else frames
    height, width = images.shape[-2:]
    grid, valid = homography_sampling_grid(homographies, height, width, device=frames.device)
    warped = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    mask = valid.unsqueeze(1)
    if fill is not None:
        fill_images = (fill.unsqueeze(1) if gray else fill).to(device=frames.device, dtype=torch.float32)
        warped = torch.where(mask, warped, fill_images)
    else:
        warped = warped * mask
    if frames.dtype == torch.uint8:
        warped = warped.round_().clamp_(0, 255).to(torch.uint8)
    else:
        warped = warped.to(frames.dtype)
    return (warped.squeeze(1) if gray else warped), valid
