"""The camera of a synthetic video: still, panning (with a slight zoom) or shaking, as per-frame
affine maps from screen to world pixels. Unrelated to the class: it moves everything in view."""

from __future__ import annotations

import math

import numpy as np

from flowkit.errors import UserValueError
from flowkit.synth.affine import affine, compose
from flowkit.synth.motion import REFERENCE_SIDE

CAMERA_MOTIONS: tuple[str, ...] = ("none", "pan", "shake")
PAN_SPEED_PX = (1.0, 3.0)
PAN_ZOOM_RATE = 0.004  # |log-scale per frame| at most
SHAKE_SHIFT_PX = 3.0  # stationary std of the jitter
SHAKE_ROTATION_DEG = 1.0
SHAKE_ZOOM = 0.01
SHAKE_CORRELATION = 0.5  # AR(1) coefficient of the jitter from frame to frame


def check_camera_motion(camera_motion: str) -> None:
    """ValueError unless camera_motion is one of CAMERA_MOTIONS."""
    if camera_motion not in CAMERA_MOTIONS:
        raise UserValueError(f"unknown camera motion {camera_motion!r}; choose from {', '.join(CAMERA_MOTIONS)}")


def camera_path(camera_motion: str, frames: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Per-frame camera as (frames, 2, 3) float64 affines mapping screen pixels to world pixels.
    'none': identity; 'pan': constant random direction and speed plus a slight steady zoom about
    the frame centre (identity at t_ref); 'shake': correlated random jitter of shift, rotation and
    zoom about the frame centre."""
    check_camera_motion(camera_motion)
    width, height = size
    px = min(width, height) / REFERENCE_SIDE
    cx, cy = width / 2.0, height / 2.0
    t_ref = frames // 2
    # Draw everything for every mode so the stream is the same whatever the mode.
    direction = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(*PAN_SPEED_PX) * px
    zoom_rate = rng.uniform(-PAN_ZOOM_RATE, PAN_ZOOM_RATE)
    innovations = rng.standard_normal((frames, 4))
    path = np.empty((frames, 2, 3), np.float64)
    jitter = innovations[0].copy()
    innovation_scale = math.sqrt(1 - SHAKE_CORRELATION**2)
    for t in range(frames):
        dt = t - t_ref
        if camera_motion == "none":
            scale, angle, shift = 1.0, 0.0, (0.0, 0.0)
        elif camera_motion == "pan":
            scale = math.exp(-zoom_rate * dt)  # screen->world; <1 means zooming in
            angle = 0.0
            shift = (speed * dt * math.cos(direction), speed * dt * math.sin(direction))
        else:
            if t > 0:
                jitter = SHAKE_CORRELATION * jitter + innovation_scale * innovations[t]
            scale = math.exp(SHAKE_ZOOM * jitter[3])
            angle = math.radians(SHAKE_ROTATION_DEG) * jitter[2]
            shift = (SHAKE_SHIFT_PX * px * jitter[0], SHAKE_SHIFT_PX * px * jitter[1])
        # world = centre + shift + scale * R(angle) (screen - centre)
        about_centre = affine(scale, angle, cx + shift[0], cy + shift[1])
        path[t] = compose(about_centre, affine(1.0, 0.0, -cx, -cy))
    return path
