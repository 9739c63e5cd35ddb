"""Rendering one synthetic video in memory: a textured background seen by the camera, and 1-3
textured objects moving on a world plane that wraps around with the period of the frame size."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from flowkit.errors import UserValueError
from flowkit.sizes import TSN_SIZE, check_size
from flowkit.synth.affine import affine, bounds, compose, invert
from flowkit.synth.camera import camera_path, check_camera_motion
from flowkit.synth.kinds import colour_by_kind, desaturate, draw_tint, kind_index
from flowkit.synth.motion import REFERENCE_SIDE, MotionParams, draw_motion, motion_name, object_motion
from flowkit.synth.shapes import random_shape_mask
from flowkit.synth.textures import random_texture

OBJECT_DIAMETER = (0.2, 0.32)  # fraction of the shorter frame side, at t_ref
OBJECTS_PER_VIDEO = (1, 3)
MIN_SIDE = 16  # pixels: the smallest frame side rendered


@dataclass
class Sprite:
    """One object: its picture and where and how it moves."""

    pixels: np.ndarray  # (S, S, 4) float32: colour * alpha (premultiplied, so warping blends right), alpha
    base_scale: float  # sprite pixels -> world pixels at t_ref
    centre: tuple[float, float]  # world position at t_ref
    motion: MotionParams


def render_video(
    motion_class: str | int,
    frames: int,
    size: tuple[int, int] = TSN_SIZE,
    camera_motion: str = "none",
    rng: np.random.Generator | int | None = None,
    kind: int | str | None = None,
    motion_scale: float = 1.0,
    objects: tuple[int, int] = OBJECTS_PER_VIDEO,
) -> np.ndarray:
    """Render one synthetic video in memory: (frames, height, width, 3) uint8 RGB.

    motion_class: a name from MOTIONS or its index. size: (width, height) pixels. camera_motion:
    'none' | 'pan' | 'shake'. rng: a numpy Generator (or a seed); the same state gives the same
    frames, and for one state the frame at t = frames // 2 is identical for every motion class
    (appearance, layout and camera never depend on the motion). kind: None for objects of random
    colours, or a kind of flowkit.synth.kinds (name or index): objects coloured in its hue family
    over a faintly tinted background; for one state, every kind gives the same gray frames (up to
    rounding), only the objects' hue changes. motion_scale: multiplies the objects' motion
    magnitudes in pixels (speed, oscillation amplitude, orbit radius; not the camera's).
    objects: (fewest, most) objects in the video; the count is drawn uniformly.
    """
    import cv2

    motion = motion_name(motion_class)
    width, height = check_size(size, minimum=MIN_SIDE)
    if int(frames) != frames or frames < 1:
        raise UserValueError(f"frames must be an integer >= 1, got {frames!r}")
    check_camera_motion(camera_motion)
    kind = None if kind is None else kind_index(kind)
    rng = np.random.default_rng(rng)
    appearance_rng, layout_rng, motion_rng, camera_rng = (
        np.random.default_rng(s) for s in rng.integers(0, 2**63, size=4)
    )
    px = min(width, height) / REFERENCE_SIDE
    t_ref = frames // 2

    cameras = camera_path(camera_motion, frames, (width, height), camera_rng)
    views = np.array([bounds(c, width, height) for c in cameras])  # world bbox seen per frame
    x0 = math.floor(views[:, 0].min()) - 2
    y0 = math.floor(views[:, 1].min()) - 2
    x1 = math.ceil(views[:, 2].max()) + 2
    y1 = math.ceil(views[:, 3].max()) + 2
    background = random_texture(y1 - y0, x1 - x0, appearance_rng)
    if kind is not None:
        background = desaturate(background)

    sprites = []
    count = int(layout_rng.integers(objects[0], objects[1] + 1))
    for _ in range(count):
        diameter = layout_rng.uniform(*OBJECT_DIAMETER) * min(width, height)
        centre = (layout_rng.uniform(0, width), layout_rng.uniform(0, height))
        params = draw_motion(motion_rng, px * motion_scale)
        # Render the sprite at the largest size an Expand/Contract object with these parameters
        # would reach, so scaling never upsamples it; every class uses the same resolution, so the
        # sprite (and the frame at t_ref) does not depend on the class.
        largest = math.exp(params.scale_rate * max(t_ref, frames - 1 - t_ref))
        side = max(8, int(math.ceil(diameter * largest / 0.9)) + 2)
        alpha = random_shape_mask(side, appearance_rng)
        colour = random_texture(side, side, appearance_rng, feature_scale=0.9 * side / diameter)
        if kind is not None:
            colour = colour_by_kind(colour, kind, draw_tint(appearance_rng))
        # The shape spans 0.9 * side sprite pixels; base_scale makes that `diameter` world pixels.
        pixels = np.dstack([colour * alpha[..., None], alpha])
        sprites.append(Sprite(pixels, diameter / (0.9 * side), centre, params))

    video = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        camera = cameras[t]
        to_background = camera.copy()
        to_background[:, 2] -= (x0, y0)
        frame = cv2.warpAffine(
            background, to_background, (width, height),
            # A black border here would mean the background does not cover the view (tests check).
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )
        world_to_screen = invert(camera)
        for sprite in sprites:
            _draw_sprite(frame, sprite, motion, t - t_ref, world_to_screen, views[t], (width, height))
        video[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return video


def _draw_sprite(frame, sprite: Sprite, motion: str, dt: float, world_to_screen, view, size) -> None:
    """Composite every wrapped copy of `sprite` that the camera sees into `frame` (in place)."""
    import cv2

    width, height = size
    dx, dy, angle, log_scale = object_motion(motion, sprite.motion, dt)
    side = sprite.pixels.shape[0]
    scale = sprite.base_scale * math.exp(log_scale)
    cx, cy = sprite.centre[0] + dx, sprite.centre[1] + dy
    reach = scale * side * math.sqrt(0.5)  # sprite half-diagonal in world pixels
    columns = range(math.floor((view[0] - reach - cx) / width), math.ceil((view[2] + reach - cx) / width) + 1)
    rows = range(math.floor((view[1] - reach - cy) / height), math.ceil((view[3] + reach - cy) / height) + 1)
    for k in columns:
        for m in rows:
            to_world = compose(
                affine(scale, angle, cx + k * width, cy + m * height),
                affine(1.0, 0.0, -side / 2.0, -side / 2.0),
            )
            to_screen = compose(world_to_screen, to_world)
            bx0, by0, bx1, by1 = bounds(to_screen, side, side)
            bx0, by0 = max(int(math.floor(bx0)), 0), max(int(math.floor(by0)), 0)
            bx1, by1 = min(int(math.ceil(bx1)) + 1, width), min(int(math.ceil(by1)) + 1, height)
            if bx0 >= bx1 or by0 >= by1:
                continue
            to_roi = to_screen.copy()
            to_roi[:, 2] -= (bx0, by0)
            warped = cv2.warpAffine(
                sprite.pixels, to_roi, (bx1 - bx0, by1 - by0),
                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
            )
            roi = frame[by0:by1, bx0:bx1]
            roi *= 1.0 - warped[..., 3:4]
            roi += warped[..., :3]
