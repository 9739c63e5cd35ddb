"""Random textures: detail at several scales, so optical flow is measurable everywhere.

One generator, `layered_noise` (a weighted sum of band-limited noise layers), serves every
synthetic source in flowkit, each with its own settings (their outputs are fixed: tests and
documented results depend on them):

- `random_texture`: colour textures of the synthetic motion videos (flowkit.synth);
- `textured_image`: gray sources of the ground-truth flow pairs (flowkit.flow.synthetic);
- `noise_texture`: gray backgrounds and objects of the warped-flow scenes (flowkit.warp.synthetic).

Import-light: numpy, with cv2 loaded on first use.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from flowkit.color import brightness

NOISE_KINDS = ("cells", "stretched", "blurred")
RANDOM_WEIGHT = (0.3, 1.0)  # range a layer's weight is drawn from when none is given
MIN_PALETTE_CONTRAST = 70.0  # brightness range (0-255) of a colour texture's palette, at least


def layered_noise(
    height: int,
    width: int,
    rng: np.random.Generator,
    scales: Sequence[float],
    weights: Sequence[float] | None = None,
    kind: str = "cells",
    mean: bool = True,
) -> np.ndarray:
    """Band-limited random noise, (height, width) float32: one layer per scale (pixels), weighted.

    kind 'cells': uniform [0, 1) values on a grid of `scale`-pixel cells (an integer), upsampled
    bicubically by exactly that factor and cropped at a random phase; 'stretched': standard normal
    values on a grid of about `scale`-pixel cells, stretched bicubically over the frame; 'blurred':
    white standard normal noise blurred by a Gaussian of sigma `scale`, scaled to unit std.
    weights: one per scale, or None to draw each from RANDOM_WEIGHT just before its layer.
    mean: divide by the sum of the weights (the weighted mean), else return the weighted sum.
    """
    import cv2

    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; choose from {', '.join(NOISE_KINDS)}")
    if weights is not None and len(weights) != len(scales):
        raise ValueError(f"give one weight per scale: {len(scales)} scales, {len(weights)} weights")
    value = np.zeros((height, width), np.float32)
    total_weight = 0.0
    for k, scale in enumerate(scales):
        weight = float(rng.uniform(*RANDOM_WEIGHT)) if weights is None else weights[k]
        if kind == "cells":
            cell = int(scale)
            coarse = rng.random((height // cell + 3, width // cell + 3), dtype=np.float32)
            size = (coarse.shape[1] * cell, coarse.shape[0] * cell)
            fine = cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC)
            dy, dx = int(rng.integers(0, cell)), int(rng.integers(0, cell))
            layer = fine[dy : dy + height, dx : dx + width]
        elif kind == "stretched":
            cell = int(scale)
            coarse = rng.standard_normal((height // cell + 2, width // cell + 2)).astype(np.float32)
            layer = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        else:
            white = rng.standard_normal((height, width)).astype(np.float32)
            layer = cv2.GaussianBlur(white, (0, 0), scale)
            layer = layer / layer.std()
        value += weight * layer
        total_weight += weight
    if mean:
        value /= total_weight
    return value


def random_texture(height: int, width: int, rng: np.random.Generator, feature_scale: float = 1.0) -> np.ndarray:
    """A random colour texture, (height, width, 3) float32 RGB in [0, 255], with detail down to
    3 * feature_scale pixels so optical flow is measurable everywhere: multi-octave value noise,
    optionally mixed with stripes or dots, mapped through a random 3-colour palette. A sprite drawn
    at `feature_scale` times its on-screen size passes that factor so it looks like the rest."""
    import cv2

    cells = [max(1, int(round(base_cell * feature_scale))) for base_cell in (48, 24, 12, 6, 3)]
    value = layered_noise(height, width, rng, cells, kind="cells")
    pattern = int(rng.integers(0, 3))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if pattern == 1:  # stripes at a random angle and period
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(6, 24) * feature_scale
        stripes = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period))
        value = 0.5 * value + 0.5 * stripes
    elif pattern == 2:  # dots
        dots = np.zeros((height, width), np.float32)
        for _ in range(max(1, int(height * width / (300 * feature_scale**2)))):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            radius = int(round(rng.integers(2, 6) * feature_scale))
            cv2.circle(dots, centre, radius, float(rng.uniform(0.5, 1.0)), -1, cv2.LINE_AA)
        value = 0.6 * value + 0.4 * np.clip(dots, 0, 1)
    lo, hi = np.percentile(value, (2, 98))
    value = np.clip((value - lo) / max(hi - lo, 1e-6), 0, 1)
    palette = _random_palette(rng)
    lower = value < 0.5
    t = np.where(lower, value * 2, value * 2 - 1)[..., None]
    rgb = np.where(lower[..., None], palette[0] * (1 - t) + palette[1] * t, palette[1] * (1 - t) + palette[2] * t)
    return rgb.astype(np.float32)


def _random_palette(rng: np.random.Generator) -> np.ndarray:
    """Three RGB colours (3, 3) float32 for a texture ramp, redrawn until the ends of the ramp
    differ clearly in brightness: a flat texture would carry no measurable motion."""
    while True:
        palette = rng.uniform(0, 255, size=(3, 3)).astype(np.float32)
        levels = brightness(palette)
        if levels.max() - levels.min() >= MIN_PALETTE_CONTRAST:
            return palette


def textured_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A (height, width) uint8 gray texture with detail at several scales (2, 6 and 18 px) and some
    sharp-edged shapes (discs and squares), lightly blurred; its 1st and 99th percentiles map to 10
    and 245 (the tails are clipped to 0..255)."""
    import cv2

    rng = np.random.default_rng(seed)
    image = layered_noise(height, width, rng, (2, 6, 18), (0.35, 0.35, 0.3), kind="stretched")
    for _ in range(max(1, height * width // 2000)):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(3, max(4.0, min(height, width) / 8))
        mask = np.zeros((height, width), np.uint8)
        if rng.random() < 0.5:
            cv2.circle(mask, (int(cx), int(cy)), int(radius), 1, -1)
        else:
            cv2.rectangle(mask, (int(cx - radius), int(cy - radius)), (int(cx + radius), int(cy + radius)), 1, -1)
        image[mask > 0] += rng.uniform(-1.5, 1.5)
    image = cv2.GaussianBlur(image, (0, 0), 0.7)
    lo, hi = np.percentile(image, (1, 99))
    return np.clip((image - lo) / (hi - lo) * 235 + 10, 0, 255).astype(np.uint8)


# Scales (Gaussian sigmas, pixels) of noise_texture: fine enough for good flow, smooth enough that
# bilinear rendering is accurate.
NOISE_TEXTURE_SIGMAS = (1.5, 3.0, 6.0)


def noise_texture(height: int, width: int, seed: int) -> np.ndarray:
    """A (height, width) float32 gray texture, mean 128, std about 40, in 0..255: the sum of
    Gaussian-blurred noise layers at NOISE_TEXTURE_SIGMAS, standardized."""
    rng = np.random.default_rng(seed)
    texture = layered_noise(height, width, rng, NOISE_TEXTURE_SIGMAS, (1.0,) * 3, kind="blurred", mean=False)
    texture = (texture - texture.mean()) / texture.std()
    return np.clip(128.0 + 40.0 * texture, 0.0, 255.0)
