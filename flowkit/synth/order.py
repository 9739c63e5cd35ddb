"""The `order` family of synthetic classes: pairs of classes whose videos are the same frames in
opposite order, so that only the order of events tells them apart.

ORDER_CLASSES come in pairs (2k, 2k + 1): a video of class 2k + 1 is a video of class 2k played
backwards. A single frame says which pair a video belongs to (an object that is there or not, a red or
green object, a bright or dark frame) but never which class of the pair: a model that pools its
snippets without regard to their order (TSN's average consensus) is at chance within a pair, one
that knows where each snippet sits in the video can tell them apart.

- Appear / Vanish: a textured object fades in over the middle fifth of the video / fades out.
- TintRedToGreen / TintGreenToRed: an object's colour moves from red to green / back.
- Brighten / Darken: the whole frame's brightness ramps from 0.6x to 1.4x / back.

Every video draws its own background texture, object shape, texture and place; the two classes
of a pair get the same draws from the same generator state (order_content_key), so they are exact
time reverses of each other.
"""

from __future__ import annotations

import numpy as np

from flowkit.errors import UserValueError
from flowkit.sizes import TSN_SIZE, check_size
from flowkit.synth.names import choice_index
from flowkit.synth.shapes import random_shape_mask
from flowkit.synth.textures import random_texture

ORDER_CLASSES: tuple[str, ...] = (
    "Appear",
    "Vanish",
    "TintRedToGreen",
    "TintGreenToRed",
    "Brighten",
    "Darken",
)
MIN_SIDE = 16  # pixels
OBJECT_DIAMETER = (0.35, 0.5)  # fraction of the shorter frame side
FADE_FRACTION = 0.2  # Appear: the share of the video over which the object fades in, centred in the middle
TINTS = (np.array([230.0, 40.0, 40.0], np.float32), np.array([40.0, 210.0, 40.0], np.float32))  # red, green RGB
GAIN_RANGE = (0.6, 1.4)  # Brighten: brightness factor at the first and at the last frame
BACKGROUND_CONTRAST = 0.5  # background texture pulled halfway to mid-gray, so the object stands out


def order_class_name(order_class: str | int) -> str:
    """A name from ORDER_CLASSES, given the name or its index (ValueError otherwise)."""
    return ORDER_CLASSES[choice_index(order_class, ORDER_CLASSES, "order class")]


def order_content_key(label: int) -> int:
    """The pair of class `label`: the two classes of a pair draw their videos from the same seeds."""
    return int(label) // 2


def render_order_video(
    order_class: str | int,
    frames: int,
    size: tuple[int, int] = TSN_SIZE,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Render one video of an order class: (frames, height, width, 3) uint8 RGB.

    order_class: a name from ORDER_CLASSES or its index. size: (width, height) pixels. rng: a numpy
    Generator (or seed); for one generator state the two classes of a pair give the same frames in
    opposite order (frame t of one is frame frames - 1 - t of the other).
    """
    name = order_class_name(order_class)
    width, height = check_size(size, minimum=MIN_SIDE)
    if int(frames) != frames or frames < 1:
        raise UserValueError(f"frames must be an integer >= 1, got {frames!r}")
    frames = int(frames)
    index = ORDER_CLASSES.index(name)
    forward = _render_forward(ORDER_CLASSES[index - index % 2], frames, width, height, np.random.default_rng(rng))
    video = forward if index % 2 == 0 else forward[::-1]
    return np.ascontiguousarray(video)


def _render_forward(name: str, frames: int, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The first class of a pair: Appear, TintRedToGreen or Brighten."""
    background = random_texture(height, width, rng)
    background = 127.5 + BACKGROUND_CONTRAST * (background - 127.5)
    side = max(8, int(rng.uniform(*OBJECT_DIAMETER) * min(width, height) / 0.9))
    alpha = random_shape_mask(side, rng)
    shading = random_texture(side, side, rng).mean(axis=2, keepdims=True) / 255.0  # gray detail in [0, 1]
    colour = random_texture(side, side, rng)
    left = int(rng.integers(0, max(1, width - side + 1)))
    top = int(rng.integers(0, max(1, height - side + 1)))
    progress = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    video = np.empty((frames, height, width, 3), np.uint8)
    for t, p in enumerate(progress):
        frame = background.copy()
        if name == "TintRedToGreen":
            tint = (1.0 - p) * TINTS[0] + p * TINTS[1]
            sprite, opacity = (0.5 + 0.5 * shading) * tint, alpha
        else:
            sprite, opacity = colour, alpha
            if name == "Appear":
                opacity = alpha * float(np.clip((p - 0.5) / FADE_FRACTION + 0.5, 0.0, 1.0))
        _composite(frame, sprite, opacity, left, top)
        if name == "Brighten":
            frame *= GAIN_RANGE[0] + p * (GAIN_RANGE[1] - GAIN_RANGE[0])
        video[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return video


def _composite(frame: np.ndarray, sprite: np.ndarray, opacity: np.ndarray, left: int, top: int) -> None:
    """Blend `sprite` (S, S, 3) with alpha `opacity` (S, S) into `frame` at (left, top), clipped to it."""
    h = min(sprite.shape[0], frame.shape[0] - top)
    w = min(sprite.shape[1], frame.shape[1] - left)
    a = opacity[:h, :w, None]
    region = frame[top : top + h, left : left + w]
    region *= 1.0 - a
    region += a * sprite[:h, :w]
