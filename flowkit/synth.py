"""Synthetic motion dataset: classes that differ only in how things move, never in appearance.

Every video draws its own random textures and colours for the background and for 1-3 textured
objects; the class decides only the objects' motion (MOTIONS). Appearance, layout, motion
parameters and camera path come from separate random streams spawned from the caller's generator,
so for one generator state the frame at time `t_ref = frames // 2` is the same picture for every
class: a single RGB frame carries no class information by construction.

Objects live on a world plane that wraps around with the period of the frame size, so an object
leaving on one side comes back on the other: every frame shows the same amount of moving texture,
and translation classes do not drift their objects into one half of the frame. With camera motion
the whole world (background and objects) is seen through a moving camera; the background texture is
rendered over everything the camera ever sees, so there are no empty borders.

Rendering is pure (`render_video`); `make_dataset` writes the videos and UCF101-style lists.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

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
CAMERA_MOTIONS: tuple[str, ...] = ("none", "pan", "shake")

FPS = 25.0  # like UCF101
CLIPS_PER_GROUP = 4  # UCF101 has 4-7 clips per group
TEST_GROUP_FRACTION = 0.3  # UCF101 split 1 tests on 7 of 25 groups

# Motion magnitudes are given for a 256-pixel-high frame and scale with the frame.
REFERENCE_SIDE = 256.0
SPEED_PX = (1.5, 4.0)  # translation, px/frame
ROTATION_DEG = (3.0, 6.0)  # rotation, degrees/frame
SCALE_RATE = (0.015, 0.03)  # expansion/contraction, log-scale per frame
OSCILLATION_AMPLITUDE_PX = (6.0, 14.0)
OSCILLATION_PERIOD_FRAMES = (6.0, 12.0)
ORBIT_RADIUS_PX = (12.0, 30.0)
OBJECT_DIAMETER = (0.2, 0.32)  # fraction of the shorter frame side, at t_ref
OBJECTS_PER_VIDEO = (1, 3)
PAN_SPEED_PX = (1.0, 3.0)
PAN_ZOOM_RATE = 0.004  # |log-scale per frame| at most
SHAKE_SHIFT_PX = 3.0  # stationary std of the jitter
SHAKE_ROTATION_DEG = 1.0
SHAKE_ZOOM = 0.01
SHAKE_CORRELATION = 0.5  # AR(1) coefficient of the jitter from frame to frame
MIN_PALETTE_CONTRAST = 70.0  # brightness range (0-255) of a texture's colours, at least


@dataclass(frozen=True)
class SynthVideo:
    """One generated video: path relative to the videos folder, 0-based class index, group, clip."""

    path: str
    label: int
    group: int
    clip: int
    split: str  # "train" or "test"


@dataclass
class DatasetInfo:
    """What make_dataset wrote. `videos_dir` holds <ClassName>/<file>; lists sit in `out_dir`."""

    out_dir: Path
    videos_dir: Path
    classes: list[str]
    videos: list[SynthVideo]
    frames: int
    size: tuple[int, int]  # (width, height) pixels
    fps: float
    camera_motion: str
    seed: int
    container: str  # ".mp4" or ".avi" (fallback)
    fourcc: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# Textures and shapes


def random_texture(height: int, width: int, rng: np.random.Generator, feature_scale: float = 1.0) -> np.ndarray:
    """A random colour texture, (height, width, 3) float32 RGB in [0, 255], with detail down to
    3 * feature_scale pixels so optical flow is measurable everywhere: multi-octave value noise,
    optionally mixed with stripes or dots, mapped through a random 3-colour palette. A sprite drawn
    at `feature_scale` times its on-screen size passes that factor so it looks like the rest."""
    import cv2

    value = np.zeros((height, width), np.float32)
    total_weight = 0.0
    for base_cell in (48, 24, 12, 6, 3):
        cell = max(1, int(round(base_cell * feature_scale)))
        weight = float(rng.uniform(0.3, 1.0))
        coarse = rng.random((height // cell + 3, width // cell + 3), dtype=np.float32)
        fine = cv2.resize(coarse, (coarse.shape[1] * cell, coarse.shape[0] * cell), interpolation=cv2.INTER_CUBIC)
        dy, dx = int(rng.integers(0, cell)), int(rng.integers(0, cell))
        value += weight * fine[dy : dy + height, dx : dx + width]
        total_weight += weight
    value /= total_weight
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
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    while True:
        palette = rng.uniform(0, 255, size=(3, 3)).astype(np.float32)
        brightness = palette @ luma
        if brightness.max() - brightness.min() >= MIN_PALETTE_CONTRAST:
            return palette


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


# ----------------------------------------------------------------------------------------------
# Motions and camera as 2x3 affine maps


def _affine(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    """[x', y'] = scale * R(angle) [x, y] + [tx, ty]; angle in radians, positive = clockwise on
    screen (image y points down)."""
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine of x -> outer(inner(x))."""
    composed = outer[:, :2] @ inner
    composed[:, 2] += outer[:, 2]
    return composed


def _invert(affine: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(affine[:, :2])
    return np.concatenate([linear, -linear @ affine[:, 2:]], axis=1)


@dataclass(frozen=True)
class _MotionParams:
    """Per-object motion draws; every class draws all of them so the random streams do not
    depend on the class."""

    speed: float
    rotation: float  # radians/frame
    scale_rate: float
    amplitude: float
    period: float
    phase: float
    orbit_radius: float


def _draw_motion(rng: np.random.Generator, px: float) -> _MotionParams:
    amplitude = rng.uniform(*OSCILLATION_AMPLITUDE_PX) * px
    return _MotionParams(
        speed=rng.uniform(*SPEED_PX) * px,
        rotation=math.radians(rng.uniform(*ROTATION_DEG)),
        scale_rate=rng.uniform(*SCALE_RATE),
        amplitude=amplitude,
        period=rng.uniform(*OSCILLATION_PERIOD_FRAMES),
        phase=rng.uniform(0, 2 * np.pi),
        orbit_radius=rng.uniform(*ORBIT_RADIUS_PX) * px,
    )


def object_motion(motion: str, params: _MotionParams, dt: float) -> tuple[float, float, float, float]:
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
    raise ValueError(f"unknown motion {motion!r}; choose from {', '.join(MOTIONS)}")


def camera_path(camera_motion: str, frames: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Per-frame camera as (frames, 2, 3) float64 affines mapping screen pixels to world pixels.
    'none': identity; 'pan': constant random direction and speed plus a slight steady zoom about
    the frame centre (identity at t_ref); 'shake': correlated random jitter of shift, rotation and
    zoom about the frame centre."""
    if camera_motion not in CAMERA_MOTIONS:
        raise ValueError(f"unknown camera motion {camera_motion!r}; choose from {', '.join(CAMERA_MOTIONS)}")
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
        about_centre = _affine(scale, angle, cx + shift[0], cy + shift[1])
        path[t] = _compose(about_centre, _affine(1.0, 0.0, -cx, -cy))
    return path


def _corners(width: float, height: float) -> np.ndarray:
    return np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], np.float64).T


def _bounds(affine: np.ndarray, width: float, height: float) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 of the image of the rectangle [0, width] x [0, height] under `affine`."""
    points = affine @ _corners(width, height)
    return points[0].min(), points[1].min(), points[0].max(), points[1].max()


# ----------------------------------------------------------------------------------------------
# Rendering


@dataclass
class _Sprite:
    pixels: np.ndarray  # (S, S, 4) float32: colour * alpha (premultiplied, so warping blends right), alpha
    base_scale: float  # sprite pixels -> world pixels at t_ref
    centre: tuple[float, float]  # world position at t_ref
    motion: _MotionParams


def render_video(
    motion_class: str | int,
    frames: int,
    size: tuple[int, int] = (340, 256),
    camera_motion: str = "none",
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Render one synthetic video in memory: (frames, height, width, 3) uint8 RGB.

    motion_class: a name from MOTIONS or its index. size: (width, height) pixels. camera_motion:
    'none' | 'pan' | 'shake'. rng: a numpy Generator (or a seed); the same state gives the same
    frames, and for one state the frame at t = frames // 2 is identical for every motion class
    (appearance, layout and camera never depend on the class).
    """
    import cv2

    motion = _motion_name(motion_class)
    width, height = _check_size(size)
    if int(frames) != frames or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    if camera_motion not in CAMERA_MOTIONS:
        raise ValueError(f"unknown camera motion {camera_motion!r}; choose from {', '.join(CAMERA_MOTIONS)}")
    rng = np.random.default_rng(rng)
    appearance_rng, layout_rng, motion_rng, camera_rng = (
        np.random.default_rng(s) for s in rng.integers(0, 2**63, size=4)
    )
    px = min(width, height) / REFERENCE_SIDE
    t_ref = frames // 2

    cameras = camera_path(camera_motion, frames, (width, height), camera_rng)
    views = np.array([_bounds(c, width, height) for c in cameras])  # world bbox seen per frame
    x0 = math.floor(views[:, 0].min()) - 2
    y0 = math.floor(views[:, 1].min()) - 2
    x1 = math.ceil(views[:, 2].max()) + 2
    y1 = math.ceil(views[:, 3].max()) + 2
    background = random_texture(y1 - y0, x1 - x0, appearance_rng)

    sprites = []
    count = int(layout_rng.integers(OBJECTS_PER_VIDEO[0], OBJECTS_PER_VIDEO[1] + 1))
    for _ in range(count):
        diameter = layout_rng.uniform(*OBJECT_DIAMETER) * min(width, height)
        centre = (layout_rng.uniform(0, width), layout_rng.uniform(0, height))
        params = _draw_motion(motion_rng, px)
        # Render the sprite at the largest size an Expand/Contract object with these parameters
        # would reach, so scaling never upsamples it; every class uses the same resolution, so the
        # sprite (and the frame at t_ref) does not depend on the class.
        largest = math.exp(params.scale_rate * max(t_ref, frames - 1 - t_ref))
        side = max(8, int(math.ceil(diameter * largest / 0.9)) + 2)
        alpha = random_shape_mask(side, appearance_rng)
        colour = random_texture(side, side, appearance_rng, feature_scale=0.9 * side / diameter)
        # The shape spans 0.9 * side sprite pixels; base_scale makes that `diameter` world pixels.
        pixels = np.dstack([colour * alpha[..., None], alpha])
        sprites.append(_Sprite(pixels, diameter / (0.9 * side), centre, params))

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
        world_to_screen = _invert(camera)
        for sprite in sprites:
            _draw_sprite(frame, sprite, motion, t - t_ref, world_to_screen, views[t], (width, height))
        video[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    return video


def _draw_sprite(frame, sprite: _Sprite, motion: str, dt: float, world_to_screen, view, size) -> None:
    """Composite every wrapped copy of `sprite` that the camera sees into `frame` (in place)."""
    import cv2

    width, height = size
    dx, dy, angle, log_scale = object_motion(motion, sprite.motion, dt)
    side = sprite.pixels.shape[0]
    scale = sprite.base_scale * math.exp(log_scale)
    cx, cy = sprite.centre[0] + dx, sprite.centre[1] + dy
    reach = scale * side * math.sqrt(0.5)  # sprite half-diagonal in world pixels
    for k in range(math.floor((view[0] - reach - cx) / width), math.ceil((view[2] + reach - cx) / width) + 1):
        for m in range(math.floor((view[1] - reach - cy) / height), math.ceil((view[3] + reach - cy) / height) + 1):
            to_world = _compose(
                _affine(scale, angle, cx + k * width, cy + m * height),
                _affine(1.0, 0.0, -side / 2.0, -side / 2.0),
            )
            to_screen = _compose(world_to_screen, to_world)
            bx0, by0, bx1, by1 = _bounds(to_screen, side, side)
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


def _motion_name(motion_class: str | int) -> str:
    if isinstance(motion_class, (int, np.integer)) and not isinstance(motion_class, bool):
        if not 0 <= motion_class < len(MOTIONS):
            raise ValueError(f"motion class index {motion_class} out of range 0..{len(MOTIONS) - 1}")
        return MOTIONS[motion_class]
    if motion_class not in MOTIONS:
        raise ValueError(f"unknown motion class {motion_class!r}; choose from {', '.join(MOTIONS)}")
    return motion_class


def _check_size(size) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if width < 16 or height < 16:
        raise ValueError(f"size must be at least 16x16 pixels, got {width}x{height}")
    return width, height


# ----------------------------------------------------------------------------------------------
# Writing a dataset

SPLIT_STREAM = 0x5B117  # mixed into the seed for choosing test groups, apart from video content
LIST_FILES = ("classInd.txt", "trainlist01.txt", "testlist01.txt", "synth.json")


def make_dataset(
    out_dir: str | Path,
    classes: int = 8,
    videos_per_class: int = 24,
    frames: int = 48,
    size: tuple[int, int] = (340, 256),
    camera_motion: str = "none",
    seed: int = 0,
    progress: bool = True,
    overwrite: bool = False,
) -> DatasetInfo:
    """Write a synthetic motion dataset in UCF101 layout and return what was written.

    out_dir/videos/<ClassName>/v_<ClassName>_g<GG>_c<CC>.mp4 (mp4v; MJPG .avi if this OpenCV
    cannot write and re-read mp4v, noted in the result), plus out_dir/classInd.txt (`1 ClassName`),
    trainlist01.txt (`ClassName/v_....mp4 1`, label 1-based), testlist01.txt (`ClassName/v_....mp4`),
    all with CRLF line endings like UCF101's, and synth.json with the parameters and video table.
    Videos of a class are numbered in groups of CLIPS_PER_GROUP clips; ~30% of the groups, chosen
    from the seed and the same for every class, form the test split (as UCF101 splits by group).
    classes: the first `classes` entries of MOTIONS. size: (width, height) pixels, both even (the
    codecs would crop odd sizes). A video's frames
    depend only on (seed, class index, group, clip): byte-identical across runs and dataset sizes.
    Refuses a non-empty out_dir unless overwrite=True, which replaces the videos folder and lists.
    """
    import time

    from tqdm import tqdm

    started = time.perf_counter()
    if int(classes) != classes or not 1 <= classes <= len(MOTIONS):
        raise ValueError(f"classes must be between 1 and {len(MOTIONS)} (one per distinct motion), got {classes!r}")
    if int(videos_per_class) != videos_per_class or videos_per_class < 2:
        raise ValueError(f"videos_per_class must be an integer >= 2 (train and test need one each), got {videos_per_class!r}")
    if int(frames) != frames or frames < 2:
        raise ValueError(f"frames must be an integer >= 2 (flow needs a pair), got {frames!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if camera_motion not in CAMERA_MOTIONS:
        raise ValueError(f"unknown camera motion {camera_motion!r}; choose from {', '.join(CAMERA_MOTIONS)}")
    width, height = _check_size(size)
    if width % 2 or height % 2:
        # OpenCV's mp4v and MJPG writers silently crop odd sizes to even ones.
        raise ValueError(f"video size must have an even width and height, got {width}x{height}")
    classes, videos_per_class, frames, seed = int(classes), int(videos_per_class), int(frames), int(seed)

    out_dir = Path(out_dir)
    videos_dir = out_dir / "videos"
    _prepare_out_dir(out_dir, videos_dir, overwrite)
    container, fourcc, notes = _choose_container(out_dir, (width, height))
    for note in notes:
        warnings.warn(note, stacklevel=2)

    class_names = list(MOTIONS[:classes])
    plan = split_plan(videos_per_class, seed)
    group_digits = max(2, len(str(max(group for group, _, _ in plan))))
    videos = []
    for label, name in enumerate(class_names):
        for group, clip, split in plan:
            file_name = f"v_{name}_g{group:0{group_digits}d}_c{clip:02d}{container}"
            videos.append(SynthVideo(f"{name}/{file_name}", label, group, clip, split))

    for video in tqdm(videos, desc="synth", unit="video", disable=not progress):
        rng = np.random.default_rng([seed, video.label, video.group, video.clip])
        pixels = render_video(class_names[video.label], frames, (width, height), camera_motion, rng)
        write_video(videos_dir / video.path, pixels, FPS, fourcc)

    info = DatasetInfo(
        out_dir=out_dir,
        videos_dir=videos_dir,
        classes=class_names,
        videos=videos,
        frames=frames,
        size=(width, height),
        fps=FPS,
        camera_motion=camera_motion,
        seed=seed,
        container=container,
        fourcc=fourcc,
        notes=notes,
    )
    _write_lists(info)
    info.seconds = time.perf_counter() - started
    return info


def split_plan(videos_per_class: int, seed: int) -> list[tuple[int, int, str]]:
    """(group, clip, split) for each video of a class, both numbered from 1, sorted like UCF101.
    max(2, ceil(n / CLIPS_PER_GROUP)) groups take the videos in turn; round(30%) of the groups
    (at least one, never all) are test groups, drawn from the seed."""
    groups = max(2, math.ceil(videos_per_class / CLIPS_PER_GROUP))
    test_count = min(groups - 1, max(1, round(TEST_GROUP_FRACTION * groups)))
    chooser = np.random.default_rng([seed, SPLIT_STREAM])
    test_groups = {int(g) + 1 for g in chooser.choice(groups, size=test_count, replace=False)}
    plan = [(index % groups + 1, index // groups + 1) for index in range(videos_per_class)]
    return [(group, clip, "test" if group in test_groups else "train") for group, clip in sorted(plan)]


def write_video(path: str | Path, frames: np.ndarray, fps: float = FPS, fourcc: str = "mp4v") -> None:
    """Write (T, H, W, 3) uint8 RGB frames to a video file with OpenCV (parent folders created).
    Raises OSError if OpenCV cannot open a writer for that file and codec."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {fourcc} video to {path}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def _prepare_out_dir(out_dir: Path, videos_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output exists and is not a folder: {out_dir}")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ValueError(f"output folder is not empty: {out_dir} (overwrite=True / --overwrite replaces a dataset there)")
        # Only what make_dataset writes is removed; stale videos would otherwise be picked up by
        # `flowkit extract OUT/videos`.
        if videos_dir.is_dir():
            shutil.rmtree(videos_dir)
        for name in LIST_FILES:
            (out_dir / name).unlink(missing_ok=True)
    videos_dir.mkdir(parents=True, exist_ok=True)


def _choose_container(out_dir: Path, size: tuple[int, int]) -> tuple[str, str, list[str]]:
    """(".mp4", "mp4v") if this OpenCV writes mp4v that it reads back, else (".avi", "MJPG")."""
    from flowkit.video import VideoDecodeError, read_frames

    probe_frames = np.zeros((2, size[1], size[0], 3), np.uint8)
    probe_frames[1] = 200
    for container, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG")):
        probe_path = out_dir / f".synth-probe{container}"
        try:
            write_video(probe_path, probe_frames, FPS, fourcc)
            decoded = read_frames(probe_path, size=None)
            if decoded.shape == probe_frames.shape and abs(float(decoded[1].mean()) - 200) < 8:
                notes = [] if container == ".mp4" else ["mp4v writing failed here; wrote MJPG .avi instead"]
                return container, fourcc, notes
        except (OSError, VideoDecodeError):
            pass
        finally:
            probe_path.unlink(missing_ok=True)
    raise OSError("this OpenCV can neither write mp4v (.mp4) nor MJPG (.avi) videos")


def _write_lists(info: DatasetInfo) -> None:
    """classInd.txt, trainlist01.txt, testlist01.txt (CRLF, labels 1-based) and synth.json."""

    def write_crlf(name: str, lines: list[str]) -> None:
        (info.out_dir / name).write_bytes("".join(f"{line}\r\n" for line in lines).encode("utf-8"))

    write_crlf("classInd.txt", [f"{index + 1} {name}" for index, name in enumerate(info.classes)])
    write_crlf("trainlist01.txt", [f"{v.path} {v.label + 1}" for v in info.videos if v.split == "train"])
    write_crlf("testlist01.txt", [v.path for v in info.videos if v.split == "test"])
    description = {
        "generator": "flowkit.synth.make_dataset",
        "classes": info.classes,
        "frames": info.frames,
        "size": list(info.size),
        "fps": info.fps,
        "camera_motion": info.camera_motion,
        "seed": info.seed,
        "container": info.container,
        "fourcc": info.fourcc,
        "videos": [asdict(v) for v in info.videos],
    }
    (info.out_dir / "synth.json").write_text(json.dumps(description, indent=1) + "\n", encoding="utf-8")
