"""Encoding of frames to the bytes a store holds: JPEG for RGB, PNG (lossless) or JPEG for flow."""

from __future__ import annotations

import numpy as np

from flowkit.store.format import CODECS

DEFAULT_JPEG_QUALITY = 95


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}")


def encode_image(image: np.ndarray, codec: str, quality: int = DEFAULT_JPEG_QUALITY) -> np.ndarray:
    """Encode one (H, W, 3) uint8 RGB image or (H, W) uint8 plane -> 1-D uint8 array of file bytes."""
    import cv2

    _check_codec(codec)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buffer = cv2.imencode(".jpg" if codec == "jpeg" else ".png", image, params)
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as {codec}")
    return buffer.reshape(-1)


def decode_image(buffer: np.ndarray, color: bool) -> np.ndarray:
    """Decode file bytes -> (H, W, 3) uint8 RGB when `color`, else (H, W) uint8."""
    import cv2

    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE
    image = cv2.imdecode(np.frombuffer(buffer, dtype=np.uint8), flag)
    if image is None:
        raise ValueError("a stored record does not decode as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color else image
