"""Image derivatives and backward warping for TV-L1, with OpenCV's border rules.

- `centered_gradient`: 0.5 * (I(x+1) - I(x-1)) with the border pixel repeated, as OpenCV's
  centeredGradient (its one-sided border formulas are exactly that).
- `warp_bicubic`: I(x + u(x)) sampled with Keys' cubic (A = -0.75), samples outside the image
  counting as 0, which is cv2.remap(INTER_CUBIC, BORDER_CONSTANT) on float maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def centered_gradient(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences of (N, H, W) float images -> (d/dx, d/dy), each (N, H, W), replicated border."""
    padded = F.pad(images[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    dx = 0.5 * (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2])
    dy = 0.5 * (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1])
    return dx, dy


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """Flow (N, 2, H, W) in pixels -> grid_sample grid (N, H, W, 2) of x + u, y + v, align_corners=True."""
    n, _, h, w = flow.shape
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype)
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype)
    # Normalized so that -1 and 1 are the centres of the first and last pixels.
    gx = (flow[:, 0] + xs) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (flow[:, 1] + ys[:, None]) * (2.0 / max(h - 1, 1)) - 1.0
    return torch.stack((gx, gy), dim=-1)


def warp_bicubic(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample images (N, C, H, W) at p + flow(p): bicubic, zero outside. flow (N, 2, H, W) pixels, x then y.

    Returns (N, C, H, W) float32; out[n, c, y, x] = images[n, c](x + flow[n, 0, y, x], y + flow[n, 1, y, x]).
    """
    return F.grid_sample(images, sampling_grid(flow), mode="bicubic", padding_mode="zeros", align_corners=True)


def warp_bilinear(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """As warp_bicubic, with bilinear interpolation."""
    return F.grid_sample(images, sampling_grid(flow), mode="bilinear", padding_mode="zeros", align_corners=True)
