"""Frame pairs with known ground-truth flow, for tests and benchmarks.

A pair is rendered from a source image S larger than the frame: prev(p) = S(o + p) and
next(q) = S(o + T^-1(q)) for a smooth motion T, so that the true flow is flow(p) = T(p) - p and,
with OpenCV's convention, next(p + flow(p)) = prev(p). Both frames are resampled (bicubic, at a common
random sub-pixel offset o) so neither is sharper than the other, and content enters from outside the
frame as in real video. Motions:

  translation  a constant shift
  rotation     about the frame centre
  zoom         about the frame centre (in or out)
  nonrigid     a smooth field: a sum of a few long-wavelength sinusoids

`magnitude` is the largest flow length in pixels over the frame. Everything is seeded and
deterministic. Sources: `textured_image` (procedural, flowkit.synth.textures), or any gray or RGB
image (e.g. skimage.data) through `make_pair(source, ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from flowkit.color import rgb_to_gray
from flowkit.synth.textures import textured_image

MOTIONS = ("translation", "rotation", "zoom", "nonrigid")


@dataclass(frozen=True)
class FlowPair:
    """prev, next: (H, W) uint8 gray frames; flow: (2, H, W) float32 ground truth in pixels, x then y,
    prev -> next; valid: (H, W) bool, where p + flow(p) lies inside the frame; motion: its name."""

    prev: np.ndarray
    next: np.ndarray
    flow: np.ndarray
    valid: np.ndarray
    motion: str


def _to_gray(image: np.ndarray) -> np.ndarray:
    """Gray (H, W) or RGB(A) (H, W, 3|4) uint8 -> (H, W) uint8 gray (alpha ignored)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"source image must be uint8, got {image.dtype}")
    return rgb_to_gray(image[..., :3]) if image.ndim == 3 else image


def fit_source(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Gray uint8 image scaled (area interpolation) to cover (height, width), then centre-cropped to it."""
    gray = _to_gray(image)
    scale = max(height / gray.shape[0], width / gray.shape[1])
    h, w = max(height, round(gray.shape[0] * scale)), max(width, round(gray.shape[1] * scale))
    resized = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    top, left = (h - height) // 2, (w - width) // 2
    return resized[top : top + height, left : left + width]


def motion_flow(motion: str, height: int, width: int, magnitude: float, rng: np.random.Generator):
    """A motion as a function (x, y) -> (dx, dy) of float arrays: the flow T(p) - p, max length ~ magnitude."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    reach = float(np.hypot(cx, cy))  # distance from the centre to a corner
    if motion == "translation":
        angle = rng.uniform(0, 2 * np.pi)
        tx, ty = magnitude * np.cos(angle), magnitude * np.sin(angle)
        return lambda x, y: (np.full_like(x, tx), np.full_like(y, ty))
    if motion == "rotation":
        theta = 2 * np.arcsin(min(1.0, magnitude / (2 * reach))) * rng.choice((-1, 1))
        c, s = np.cos(theta), np.sin(theta)
        return lambda x, y: (c * (x - cx) - s * (y - cy) + cx - x, s * (x - cx) + c * (y - cy) + cy - y)
    if motion == "zoom":
        zoom = 1 + magnitude / reach * rng.choice((-1, 1))
        return lambda x, y: ((zoom - 1) * (x - cx), (zoom - 1) * (y - cy))
    if motion == "nonrigid":
        waves = []
        for _ in range(3):
            wavelength = rng.uniform(0.6, 1.2) * max(height, width)
            direction = rng.uniform(0, 2 * np.pi)
            k = 2 * np.pi / wavelength * np.array([np.cos(direction), np.sin(direction)])
            amplitude = rng.uniform(-1, 1, size=2)
            waves.append((k, rng.uniform(0, 2 * np.pi), amplitude))

        def field(x, y):
            dx, dy = np.zeros_like(x), np.zeros_like(y)
            for k, phase, (ax, ay) in waves:
                wave = np.sin(k[0] * x + k[1] * y + phase)
                dx, dy = dx + ax * wave, dy + ay * wave
            return dx, dy

        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        peak = float(np.hypot(*field(xs, ys)).max())
        gain = magnitude / max(peak, 1e-9)
        return lambda x, y: tuple(gain * d for d in field(x, y))
    raise ValueError(f"unknown motion {motion!r}; choose from {MOTIONS}")


def _invert(flow_fn, x: np.ndarray, y: np.ndarray, iterations: int = 60):
    """Solve p + flow(p) = q for p by fixed-point iteration (the motions here have |Jacobian| << 1)."""
    px, py = x.copy(), y.copy()
    for _ in range(iterations):
        dx, dy = flow_fn(px, py)
        px, py = x - dx, y - dy
    dx, dy = flow_fn(px, py)
    residual = np.hypot(px + dx - x, py + dy - y).max()
    if residual > 1e-4:
        raise ValueError(f"motion too strong to invert (residual {residual:.2g} px); lower the magnitude")
    return px, py


def make_pair(source: np.ndarray, motion: str, size: tuple[int, int] = (96, 128), magnitude: float = 3.0,
              seed: int = 0) -> FlowPair:
    """Render a FlowPair of `size` (H, W) from `source` (gray or RGB uint8, any size; it is scaled to
    cover the frame plus a margin) under `motion` (one of MOTIONS) with largest flow `magnitude` px."""
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; choose from {MOTIONS}")
    height, width = size
    rng = np.random.default_rng(seed)
    margin = int(np.ceil(magnitude)) + 4
    canvas = fit_source(source, height + 2 * margin, width + 2 * margin).astype(np.float32)
    flow_fn = motion_flow(motion, height, width, magnitude, rng)
    offset = margin + rng.uniform(0, 1, size=2)  # common sub-pixel offset (x, y) into the canvas

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    fx, fy = flow_fn(xs, ys)
    bx, by = _invert(flow_fn, xs, ys)

    def render(map_x, map_y):
        sx = (map_x + offset[0]).astype(np.float32)
        sy = (map_y + offset[1]).astype(np.float32)
        frame = cv2.remap(canvas, sx, sy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        return np.clip(np.rint(frame), 0, 255).astype(np.uint8)

    flow = np.stack((fx, fy)).astype(np.float32)
    valid = (xs + fx >= 0) & (xs + fx <= width - 1) & (ys + fy >= 0) & (ys + fy <= height - 1)
    return FlowPair(prev=render(xs, ys), next=render(bx, by), flow=flow, valid=valid, motion=motion)


def synthetic_pair(motion: str, height: int = 96, width: int = 128, magnitude: float = 3.0, seed: int = 0) -> FlowPair:
    """make_pair on a procedural texture (textured_image seeded with `seed`)."""
    margin = int(np.ceil(magnitude)) + 4
    source = textured_image(height + 2 * margin, width + 2 * margin, seed)
    return make_pair(source, motion, (height, width), magnitude, seed)


def synthetic_pairs(count: int, height: int = 96, width: int = 128, magnitude: float = 3.0, seed: int = 0,
                    motions: tuple[str, ...] = MOTIONS) -> list[FlowPair]:
    """`count` pairs cycling through `motions`, each with its own texture (seeds seed, seed + 1, ...)."""
    return [synthetic_pair(motions[i % len(motions)], height, width, magnitude, seed + i) for i in range(count)]


@dataclass(frozen=True)
class FlowSequence:
    """frames: (K, H, W) uint8 gray frames of one motion repeated; flow: (2, H, W) float32 ground truth
    in pixels, x then y, of every consecutive pair (frames[k] -> frames[k + 1]); valid: (H, W) bool;
    motion: its name."""

    frames: np.ndarray
    flow: np.ndarray
    valid: np.ndarray
    motion: str


def synthetic_sequence(motion: str, frames: int = 8, height: int = 96, width: int = 128, magnitude: float = 2.0,
                       seed: int = 0) -> FlowSequence:
    """`frames` frames of a procedural texture moved by the same motion T (one of MOTIONS) between every
    two consecutive frames: frame k is the texture seen through T^-k, so every pair has the true flow
    T(p) - p (largest length `magnitude` px), the case a warm-started solver sees in a steady shot."""
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; choose from {MOTIONS}")
    if int(frames) != frames or frames < 2:
        raise ValueError(f"frames must be an integer >= 2, got {frames!r}")
    rng = np.random.default_rng(seed)
    margin = int(np.ceil(magnitude * (frames - 1))) + 4
    canvas = textured_image(height + 2 * margin, width + 2 * margin, seed).astype(np.float32)
    flow_fn = motion_flow(motion, height, width, magnitude, rng)
    offset = margin + rng.uniform(0, 1, size=2)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    fx, fy = flow_fn(xs, ys)
    out, map_x, map_y = [], xs, ys
    for k in range(frames):
        if k:
            map_x, map_y = _invert(flow_fn, map_x, map_y)  # T^-k = T^-1 applied k times
        sx, sy = (map_x + offset[0]).astype(np.float32), (map_y + offset[1]).astype(np.float32)
        frame = cv2.remap(canvas, sx, sy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        out.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    valid = (xs + fx >= 0) & (xs + fx <= width - 1) & (ys + fy >= 0) & (ys + fy <= height - 1)
    return FlowSequence(np.stack(out), np.stack((fx, fy)).astype(np.float32), valid, motion)


def stereo_pair(width: int = 148) -> FlowPair:
    """A real rectified stereo pair with ground truth: scikit-image's Middlebury motorcycle (bundled
    with scikit-image, no download), scaled to `width` px wide, as a FlowPair from left (prev) to right
    (next). The true flow is (-disparity, 0); `valid` marks pixels whose disparity is known at every
    source pixel they cover. Needs scikit-image (the `test` extra)."""
    from skimage.data import stereo_motorcycle

    left, right, disparity = stereo_motorcycle()
    scale = width / left.shape[1]
    height = round(left.shape[0] * scale)

    def shrink(image):
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)

    known = np.isfinite(disparity)
    coverage = shrink(known.astype(np.float32))
    disparity = shrink(np.where(known, disparity, 0).astype(np.float32)) / np.maximum(coverage, 1e-6) * scale
    flow = np.stack((-disparity, np.zeros_like(disparity))).astype(np.float32)
    return FlowPair(prev=shrink(_to_gray(left)), next=shrink(_to_gray(right)), flow=flow,
                    valid=coverage > 0.999, motion="stereo")
