"""2x3 affine maps (float64, [x', y'] = A [x, y, 1]) as the synthetic videos use them: objects and
camera are placed with them, and the renderer composes and inverts them."""

from __future__ import annotations

import math

import numpy as np


def affine(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    """[x', y'] = scale * R(angle) [x, y] + [tx, ty]; angle in radians, positive = clockwise on
    screen (image y points down)."""
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine of x -> outer(inner(x))."""
    composed = outer[:, :2] @ inner
    composed[:, 2] += outer[:, 2]
    return composed


def invert(transform: np.ndarray) -> np.ndarray:
    """The 2x3 affine undoing `transform`."""
    linear = np.linalg.inv(transform[:, :2])
    return np.concatenate([linear, -linear @ transform[:, 2:]], axis=1)


def bounds(transform: np.ndarray, width: float, height: float) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 of the image of the rectangle [0, width] x [0, height] under `transform`."""
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], np.float64).T
    points = transform @ corners
    return points[0].min(), points[1].min(), points[0].max(), points[1].max()
