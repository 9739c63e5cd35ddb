"""Encoding of frames to the bytes a store holds: JPEG for RGB; zlib (lossless, the default), PNG
(lossless) or JPEG (dense_flow's choice, lossy) for quantized flow planes."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from flowkit.store.format import CODECS, ZLIB_LEVEL, ZLIB_MAGIC

_ZLIB_HEADER = struct.Struct("<2sHH")

DEFAULT_JPEG_QUALITY = 95


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}")


def encode_image(image: np.ndarray, codec: str, quality: int = DEFAULT_JPEG_QUALITY) -> np.ndarray:
    """Encode one (H, W, 3) uint8 RGB image or (H, W) uint8 plane -> 1-D uint8 array of file bytes."""
    import cv2

    _check_codec(codec)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if codec == "zlib":
        if image.ndim != 2:
            raise ValueError(f"the zlib codec stores single planes, got shape {image.shape}")
        header = _ZLIB_HEADER.pack(ZLIB_MAGIC, *image.shape)
        return np.frombuffer(header + zlib.compress(image.tobytes(), ZLIB_LEVEL), np.uint8)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buffer = cv2.imencode(".jpg" if codec == "jpeg" else ".png", image, params)
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as {codec}")
    return buffer.reshape(-1)


def decode_image(buffer: np.ndarray, color: bool) -> np.ndarray:
    """Decode a record (JPEG, PNG or zlib; told apart by their first bytes) -> (H, W, 3) uint8 RGB
    when `color`, else (H, W) uint8."""
    import cv2

    buffer = np.frombuffer(buffer, dtype=np.uint8)
    if buffer[:2].tobytes() == ZLIB_MAGIC:
        return _decode_zlib(buffer, color)
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE
    image = cv2.imdecode(buffer, flag)
    if image is None:
        raise ValueError("a stored record does not decode as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color else image


def _decode_zlib(buffer: np.ndarray, color: bool) -> np.ndarray:
    import cv2

    try:
        _, height, width = _ZLIB_HEADER.unpack_from(buffer)
        plane = np.frombuffer(zlib.decompress(buffer[_ZLIB_HEADER.size :].tobytes()), np.uint8)
        plane = plane.reshape(height, width)
    except (struct.error, zlib.error, ValueError):
        raise ValueError("a stored zlib record is damaged") from None
    return cv2.cvtColor(plane, cv2.COLOR_GRAY2RGB) if color else plane
