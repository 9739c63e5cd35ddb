"""Ground-truth scenes for camera-motion compensation: a textured background seen by a moving
camera (a known homography) plus an independently moving textured object. Used by the tests and
the warped-flow benchmark; nothing here is needed at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from flowkit.synth.textures import noise_texture

# Camera steps of the ground-truth scenes (keyword arguments of camera_homography).
CAMERA_MOTIONS: dict[str, dict[str, Any]] = {
    "pan": dict(pan=(3.0, -2.0)),
    "zoom": dict(zoom=1.04),
    "rotation": dict(rotation_deg=2.0),
    "mixed": dict(pan=(1.5, 1.0), zoom=1.02, rotation_deg=1.0, perspective=(2e-5, -1e-5)),
}


def camera_homography(
    width: int,
    height: int,
    pan: tuple[float, float] = (0.0, 0.0),
    zoom: float = 1.0,
    rotation_deg: float = 0.0,
    perspective: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """(3, 3) float64 homography prev -> next of a camera step: zoom and rotation about the frame
    centre, then a pan (pixels, x then y), then a small projective term (h20, h21) about the centre."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    to_centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
    from_centre = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], np.float64)
    angle = math.radians(rotation_deg)
    similarity = np.array(
        [
            [zoom * math.cos(angle), -zoom * math.sin(angle), pan[0]],
            [zoom * math.sin(angle), zoom * math.cos(angle), pan[1]],
            [perspective[0], perspective[1], 1.0],
        ],
        np.float64,
    )
    h = from_centre @ similarity @ to_centre
    return h / h[2, 2]


@dataclass
class SyntheticPair:
    """prev, next: (H, W) uint8 frames. homography: (3, 3) float64, prev -> next, of the
    background. object_mask: (H, W) bool, the object's pixels in prev. object_shift: (2,) float64,
    the object's own image motion prev -> next, pixels x then y."""

    prev: np.ndarray
    next: np.ndarray
    homography: np.ndarray
    object_mask: np.ndarray
    object_shift: np.ndarray

    def expected_warped_flow(self) -> np.ndarray:
        """(2, H, W) float64: the flow prev -> next_w an exact method would give on the object,
        H^-1 (p + shift) - p. On the background the exact warped flow is zero."""
        height, width = self.prev.shape
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        moved = np.stack([xs + self.object_shift[0], ys + self.object_shift[1], np.ones_like(xs)])
        back = np.einsum("ij,jhw->ihw", np.linalg.inv(self.homography), moved)
        return np.stack([back[0] / back[2] - xs, back[1] / back[2] - ys])

    def camera_flow(self) -> np.ndarray:
        """(2, H, W) float64: the background's true flow prev -> next, H p - p."""
        height, width = self.prev.shape
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        mapped = np.einsum("ij,jhw->ihw", self.homography, np.stack([xs, ys, np.ones_like(xs)]))
        return np.stack([mapped[0] / mapped[2] - xs, mapped[1] / mapped[2] - ys])


def render_pair(
    width: int,
    height: int,
    homography: np.ndarray,
    object_box: tuple[int, int, int, int] | None = None,
    object_shift: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> SyntheticPair:
    """Render prev and next of a textured background moved by `homography` (prev -> next) with,
    optionally, a textured object at object_box = (x, y, w, h) in prev that moves by object_shift
    (pixels, x then y) in the image, independently of the camera."""
    margin_x, margin_y = width, height  # background canvas twice the frame: no borders in view
    background = noise_texture(height + 2 * margin_y, width + 2 * margin_x, seed)
    to_canvas = np.array([[1, 0, margin_x], [0, 1, margin_y], [0, 0, 1]], np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP  # dst(q) = src(M q)
    prev = cv2.warpPerspective(background, to_canvas, (width, height), flags=flags)
    next_ = cv2.warpPerspective(background, to_canvas @ np.linalg.inv(homography), (width, height), flags=flags)
    mask = np.zeros((height, width), bool)
    shift = np.asarray(object_shift, np.float64)
    if object_box is not None:
        x, y, w, h = object_box
        texture = noise_texture(h, w, seed + 1)
        ones = np.ones((h, w), np.float32)
        for frame, offset in ((prev, np.zeros(2)), (next_, shift)):
            place = np.array([[1, 0, x + offset[0]], [0, 1, y + offset[1]]], np.float64)
            patch = cv2.warpAffine(texture, place, (width, height), flags=cv2.INTER_LINEAR)
            alpha = cv2.warpAffine(ones, place, (width, height), flags=cv2.INTER_LINEAR)
            frame *= 1.0 - alpha
            frame += patch
        mask[y : y + h, x : x + w] = True
    as_uint8 = lambda image: np.clip(np.rint(image), 0, 255).astype(np.uint8)  # noqa: E731
    return SyntheticPair(as_uint8(prev), as_uint8(next_), homography, mask, shift)
