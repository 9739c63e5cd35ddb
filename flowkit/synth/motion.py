"""How the objects of a synthetic video move: one class per motion (MOTIONS), each object with its
own random speed, rotation rate, oscillation and orbit drawn by `draw_motion`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from flowkit.errors import UserValueError
from flowkit.synth.names import choice_index

# One class per motion, named UCF101-style (CamelCase; used for folders and file names).
# The first eight are the default classes.
MOTIONS: tuple[str, ...] = (
    "MoveRight",
    "MoveLeft",
    "MoveUp",
    "MoveDown",
    "RotateClockwise",
    "RotateCounterClockwise",
    "Expand",
    "OscillateHorizontal",
    "Contract",
    "OscillateVertical",
    "OrbitClockwise",
    "OrbitCounterClockwise",
)

# Motion magnitudes are given for a 256-pixel-high frame and scale with the frame.
REFERENCE_SIDE = 256.0
SPEED_PX = (1.5, 4.0)  # translation, px/frame
ROTATION_DEG = (3.0, 6.0)  # rotation, degrees/frame
SCALE_RATE = (0.015, 0.03)  # expansion/contraction, log-scale per frame
OSCILLATION_AMPLITUDE_PX = (6.0, 14.0)
OSCILLATION_PERIOD_FRAMES = (6.0, 12.0)
ORBIT_RADIUS_PX = (12.0, 30.0)


@dataclass(frozen=True)
class MotionParams:
    """Per-object motion draws; every class draws all of them so the random streams do not
    depend on the class."""

    speed: float  # pixels/frame
    rotation: float  # radians/frame
    scale_rate: float  # log-scale per frame
    amplitude: float  # pixels
    period: float  # frames
    phase: float  # radians
    orbit_radius: float  # pixels


def draw_motion(rng: np.random.Generator, px: float) -> MotionParams:
    """One object's motion parameters; px: pixels per reference pixel (frame side / REFERENCE_SIDE)."""
    amplitude = rng.uniform(*OSCILLATION_AMPLITUDE_PX) * px
    return MotionParams(
        speed=rng.uniform(*SPEED_PX) * px,
        rotation=math.radians(rng.uniform(*ROTATION_DEG)),
        scale_rate=rng.uniform(*SCALE_RATE),
        amplitude=amplitude,
        period=rng.uniform(*OSCILLATION_PERIOD_FRAMES),
        phase=rng.uniform(0, 2 * np.pi),
        orbit_radius=rng.uniform(*ORBIT_RADIUS_PX) * px,
    )


def object_motion(motion: str, params: MotionParams, dt: float) -> tuple[float, float, float, float]:
    """Displacement of an object `dt` frames after t_ref: (dx, dy) pixels, rotation (radians,
    clockwise on screen) and log-scale; all zero at dt = 0."""
    p = params
    if motion == "MoveRight":
        return p.speed * dt, 0.0, 0.0, 0.0
    if motion == "MoveLeft":
        return -p.speed * dt, 0.0, 0.0, 0.0
    if motion == "MoveUp":
        return 0.0, -p.speed * dt, 0.0, 0.0
    if motion == "MoveDown":
        return 0.0, p.speed * dt, 0.0, 0.0
    if motion == "RotateClockwise":
        return 0.0, 0.0, p.rotation * dt, 0.0
    if motion == "RotateCounterClockwise":
        return 0.0, 0.0, -p.rotation * dt, 0.0
    if motion == "Expand":
        return 0.0, 0.0, 0.0, p.scale_rate * dt
    if motion == "Contract":
        return 0.0, 0.0, 0.0, -p.scale_rate * dt
    swing = math.sin(2 * math.pi * dt / p.period + p.phase) - math.sin(p.phase)
    if motion == "OscillateHorizontal":
        return p.amplitude * swing, 0.0, 0.0, 0.0
    if motion == "OscillateVertical":
        return 0.0, p.amplitude * swing, 0.0, 0.0
    if motion in ("OrbitClockwise", "OrbitCounterClockwise"):
        sign = 1.0 if motion == "OrbitClockwise" else -1.0
        angle = p.phase + sign * p.speed / p.orbit_radius * dt
        return (
            p.orbit_radius * (math.cos(angle) - math.cos(p.phase)),
            p.orbit_radius * (math.sin(angle) - math.sin(p.phase)),
            0.0,
            0.0,
        )
    raise UserValueError(f"unknown motion {motion!r}; choose from {', '.join(MOTIONS)}")


def motion_name(motion_class: str | int) -> str:
    """A name from MOTIONS, given the name or its index (ValueError otherwise)."""
    return MOTIONS[choice_index(motion_class, MOTIONS, "motion class")]
