"""RGB to gray, once: OpenCV's weights (ITU-R BT.601), in float and in OpenCV's 8-bit fixed point.

Flow is computed on gray frames, and dense_flow converts with cv2.cvtColor; matching its rounding
exactly makes flow from RGB input equal to flow from frames OpenCV converted. Import-light (numpy;
cv2 on first use). flowkit.flow.frames converts torch tensors with the same constants.
"""

from __future__ import annotations

import numpy as np

GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # R, G, B
# cv2.cvtColor's fixed-point weights for 8-bit images (they sum to 1 << GRAY_SHIFT).
GRAY_FIXED_POINT = (9798, 19235, 3735)
GRAY_SHIFT = 15


def rgb_to_gray(images: np.ndarray) -> np.ndarray:
    """uint8 RGB images (..., H, W, 3), any number of leading dimensions -> uint8 gray (..., H, W),
    exactly as cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) converts each image."""
    import cv2

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim < 3 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB images (..., H, W, 3), got {images.dtype} {images.shape}")
    # The conversion is per pixel, so a stack converts as one tall image in one call.
    tall = np.ascontiguousarray(images).reshape(-1, images.shape[-2], 3)
    return cv2.cvtColor(tall, cv2.COLOR_RGB2GRAY).reshape(images.shape[:-1])


def brightness(colors: np.ndarray) -> np.ndarray:
    """Gray level of RGB colours (..., 3) of any float or integer dtype, as float32 (...)."""
    return np.asarray(colors, np.float32) @ np.asarray(GRAY_WEIGHTS, np.float32)
