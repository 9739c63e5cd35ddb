"""Encoding of frames to the bytes a store holds: JPEG for RGB; zstd (lossless, the default), PNG
(lossless) or JPEG (dense_flow's choice, lossy) for quantized flow planes."""

from __future__ import annotations

import struct

import numpy as np

from flowkit.errors import UserValueError
from flowkit.limits import check_pixels
from flowkit.store.format import CODECS, ZSTD_LEVEL, ZSTD_MAGIC

_ZSTD_HEADER = struct.Struct("<2sHH")

DEFAULT_JPEG_QUALITY = 95


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise UserValueError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}")


def encode_image(image: np.ndarray, codec: str, quality: int = DEFAULT_JPEG_QUALITY) -> np.ndarray:
    """Encode one (H, W, 3) uint8 RGB image or (H, W) uint8 plane -> 1-D uint8 array of file bytes."""
    import cv2

    _check_codec(codec)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if codec == "zstd":
        import zstandard

        if image.ndim != 2:
            raise ValueError(f"the zstd codec stores single planes, got shape {image.shape}")
        header = _ZSTD_HEADER.pack(ZSTD_MAGIC, *image.shape)
        return np.frombuffer(header + zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(image.tobytes()), np.uint8)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buffer = cv2.imencode(".jpg" if codec == "jpeg" else ".png", image, params)
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as {codec}")
    return buffer.reshape(-1)


def decode_image(buffer: np.ndarray, color: bool) -> np.ndarray:
    """Decode a record (JPEG, PNG or zstd; told apart by their first bytes) -> (H, W, 3) uint8 RGB
    when `color`, else (H, W) uint8. ValueError (one line, the reason) when it does not decode or
    declares more pixels than the limit (flowkit.limits)."""
    import cv2

    buffer = np.frombuffer(buffer, dtype=np.uint8)
    if buffer.size == 0:
        raise UserValueError("an empty record")
    if buffer[:2].tobytes() == ZSTD_MAGIC:
        return _decode_zstd(buffer, color)
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE
    try:
        image = cv2.imdecode(buffer, flag)
    except cv2.error as exc:  # e.g. a header declaring more pixels than OPENCV_IO_MAX_IMAGE_PIXELS
        reason = next((line for line in str(exc).splitlines() if "error:" in line), str(exc)).strip()
        raise UserValueError(f"does not decode as an image: {reason}") from None
    if image is None:
        raise UserValueError("does not decode as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if color else image


def _decode_zstd(buffer: np.ndarray, color: bool) -> np.ndarray:
    import cv2
    import zstandard

    try:
        _, height, width = _ZSTD_HEADER.unpack_from(buffer.data)
    except struct.error:
        raise UserValueError("a zstd record shorter than its header") from None
    check_pixels(width, height, "a zstd record")
    try:
        payload = buffer[_ZSTD_HEADER.size :].tobytes()
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=height * width)
        plane = np.frombuffer(raw, np.uint8).reshape(height, width)
    except (zstandard.ZstdError, ValueError):
        raise UserValueError("zstd data does not decompress to its declared size") from None
    return cv2.cvtColor(plane, cv2.COLOR_GRAY2RGB) if color else plane
