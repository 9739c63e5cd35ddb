"""Object shapes: alpha masks of the objects a synthetic video moves (blobs, ellipses, polygons)."""

from __future__ import annotations

import numpy as np


def random_shape_mask(side: int, rng: np.random.Generator) -> np.ndarray:
    """A random filled shape (blob, ellipse or rounded polygon) centred in a (side, side) float32
    alpha mask in [0, 1] with soft (anti-aliased) edges; the shape fits in a circle of
    diameter ~0.9 * side."""
    import cv2

    mask = np.zeros((side, side), np.float32)
    centre = side / 2.0
    radius = 0.45 * side
    kind = int(rng.integers(0, 3))
    if kind == 0:  # blob: radius modulated by a few harmonics
        angles = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        r = np.ones_like(angles)
        for k in (2, 3, 4):
            r += rng.uniform(0, 0.12) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
        r = radius * r / r.max()
    elif kind == 1:  # ellipse
        angles = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        a, b = radius, radius * rng.uniform(0.5, 1.0)
        tilt = rng.uniform(0, np.pi)
        x, y = a * np.cos(angles), b * np.sin(angles)
        angles, r = np.arctan2(y, x) + tilt, np.hypot(x, y)
    else:  # irregular polygon
        count = int(rng.integers(4, 8))
        # Evenly spread corners with jitter: random sorted angles often give slivers.
        angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * (np.arange(count) + rng.uniform(-0.25, 0.25, count)) / count
        r = radius * rng.uniform(0.75, 1.0, count)
    points = np.stack([centre + r * np.cos(angles), centre + r * np.sin(angles)], axis=1)
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(mask, (0, 0), 0.7)
