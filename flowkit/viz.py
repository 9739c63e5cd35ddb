"""Flow visualization with the Middlebury color wheel (Baker et al., 2011).

Hue encodes direction, saturation encodes magnitude relative to a maximum. Flow is (2, H, W)
float in pixels, x then y, as everywhere in flowkit.
"""

from __future__ import annotations

import numpy as np

# Number of hue steps between the wheel's primary and secondary colours, as in the Middlebury code.
RY, YG, GC, CB, BM, MR = 15, 6, 4, 11, 13, 6


def color_wheel() -> np.ndarray:
    """The Middlebury wheel: (55, 3) uint8 RGB colours, red at angle 0 going through yellow, green,
    cyan, blue, magenta."""
    segments = [
        ((255, 0, 0), (255, 255, 0), RY),
        ((255, 255, 0), (0, 255, 0), YG),
        ((0, 255, 0), (0, 255, 255), GC),
        ((0, 255, 255), (0, 0, 255), CB),
        ((0, 0, 255), (255, 0, 255), BM),
        ((255, 0, 255), (255, 0, 0), MR),
    ]
    rows = []
    for start, end, steps in segments:
        t = np.arange(steps, dtype=np.float64)[:, None] / steps
        rows.append(np.asarray(start) * (1 - t) + np.asarray(end) * t)
    return np.floor(np.concatenate(rows)).astype(np.uint8)


def flow_to_rgb(flow, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field.

    flow: (2, H, W) float array or tensor, pixels, x then y. max_magnitude: the magnitude drawn at
    full saturation (default: the field's largest finite magnitude). Returns (H, W, 3) uint8 RGB;
    zero flow is white, non-finite flow is black.
    """
    flow = np.asarray(flow.detach().cpu() if hasattr(flow, "detach") else flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow must have shape (2, H, W), got {flow.shape}")
    u, v = flow[0], flow[1]
    finite = np.isfinite(u) & np.isfinite(v)
    u = np.where(finite, u, 0.0)
    v = np.where(finite, v, 0.0)
    magnitude = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(magnitude.max()) if magnitude.size else 0.0
    radius = magnitude / max(max_magnitude, 1e-9)

    wheel = color_wheel().astype(np.float64) / 255.0
    n = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]; the Middlebury orientation
    position = (angle + 1) / 2 * (n - 1)
    k0 = np.floor(position).astype(int) % n
    k1 = (k0 + 1) % n
    frac = (position - np.floor(position))[..., None]
    color = (1 - frac) * wheel[k0] + frac * wheel[k1]
    r = radius[..., None]
    inside = r <= 1
    # Inside the unit circle saturation grows with magnitude; beyond it the colour darkens.
    color = np.where(inside, 1 - r * (1 - color), color * 0.75)
    color[~finite] = 0.0
    return np.floor(255 * color).astype(np.uint8)
