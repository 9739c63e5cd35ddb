"""Benchmark clips: real photographs seen by a moving camera, with an object moving across them.

No real video ships with the package and tests never download, so the extraction benchmarks film
scikit-image's bundled photographs (astronaut, coffee, chelsea, rocket, ...) with a camera that pans,
zooms and rolls, while a patch cut from another photograph moves over the scene on its own path.
Flat regions, sharp edges and a moving object make TV-L1 work the way it does on real footage
(hundreds of iterations per pair), unlike procedural textures, which converge fast. Without
scikit-image (the `test` extra), flowkit.synth's procedural videos are used instead.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
PAN_PX = (1.0, 3.0)  # camera pan per frame, px
ZOOM_RATE = 0.004  # camera log-zoom per frame
ROLL_DEG = 0.25  # camera roll per frame
OBJECT_SPEED_PX = (2.0, 5.0)  # the moving patch, px per frame
OBJECT_SIDE = 0.3  # patch side, fraction of the frame height


def _photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def photo_clip(index: int, frames: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(frames, H, W, 3) uint8 RGB: photo PHOTOS[index % 6] under a camera path, plus a moving patch
    of the next photo. size: (width, height). Deterministic in (index, seed)."""
    rng = np.random.default_rng([seed, index])
    width, height = size
    scene = _photo(PHOTOS[index % len(PHOTOS)])
    patch_side = max(8, int(OBJECT_SIDE * height))
    source = _photo(PHOTOS[(index + 1) % len(PHOTOS)])
    patch = cv2.resize(source, (patch_side, patch_side), interpolation=cv2.INTER_AREA)
    pan = rng.uniform(*PAN_PX) * np.array([math.cos(a := rng.uniform(0, 2 * math.pi)), math.sin(a)])
    zoom = rng.uniform(-ZOOM_RATE, ZOOM_RATE)
    roll = rng.uniform(-ROLL_DEG, ROLL_DEG)
    speed = rng.uniform(*OBJECT_SPEED_PX) * np.array([math.cos(b := rng.uniform(0, 2 * math.pi)), math.sin(b)])
    start = rng.uniform(0.2, 0.8, 2) * (width - patch_side, height - patch_side)
    h, w = scene.shape[:2]
    base = 0.8 * min(w / width, h / height)  # scene pixels per frame pixel: room to pan and zoom
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        scale = base * math.exp(-zoom * t)
        angle = math.radians(roll * t)
        rotation = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        centre = np.array([w / 2, h / 2]) + pan * t * base
        affine = np.hstack([rotation, (centre - rotation @ np.array([width / 2, height / 2]))[:, None]])
        frame = cv2.warpAffine(scene, affine, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        x, y = (start + speed * t) % (width - patch_side, height - patch_side)
        shift = np.float32([[1, 0, x], [0, 1, y]])  # sub-pixel placement
        mask = cv2.warpAffine(np.ones(patch.shape[:2], np.float32), shift, (width, height))[..., None]
        moved = cv2.warpAffine(patch, shift, (width, height), flags=cv2.INTER_LINEAR)
        out[t] = np.rint(frame * (1 - mask) + moved * mask).astype(np.uint8)
    return out


def make_clips(folder: Path, count: int, frames: int, size: tuple[int, int], seed: int = 0) -> str:
    """Write `count` clips of `frames` frames at size (width, height) as mp4 under folder/<Class>/.
    Returns the content used: "photo", or "synth" when scikit-image is missing."""
    from flowkit.synth import write_video

    try:
        import skimage.data  # noqa: F401
    except ImportError:
        from flowkit.synth import make_dataset

        info = make_dataset(folder.parent / "synth", classes=min(count, 8), videos_per_class=2, frames=frames,
                            size=size, seed=seed, progress=False)
        for i, video in enumerate(sorted(info.videos_dir.rglob("*.mp4"))[:count]):
            target = folder / video.relative_to(info.videos_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            video.rename(target)
        return "synth"
    for i in range(count):
        write_video(folder / f"Class{i % 2}" / f"clip{i:02d}.mp4", photo_clip(i, frames, size, seed))
    return "photo"
