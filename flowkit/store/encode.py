"""Turn one video's decoded arrays into the encoded records a StoreWriter appends."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from flowkit.quantize import DEFAULT_BOUND, quantize_flow
from flowkit.store import format as fmt
from flowkit.store.codec import DEFAULT_JPEG_QUALITY, encode_image


def encode_streams(
    codecs: Mapping[str, str],
    rgb: np.ndarray | None = None,
    flow: np.ndarray | None = None,
    warp: np.ndarray | None = None,
    bound: float = DEFAULT_BOUND,
    quality: int = DEFAULT_JPEG_QUALITY,
) -> dict[str, list[np.ndarray]]:
    """Encode the streams named in `codecs` ({stream: 'jpeg'|'png'|'zstd'}; flowkit.store.format.CODECS).

    rgb: (T, H, W, 3) uint8 RGB. flow, warp: (T-1, 2, H, W) float flow in pixels (x then y) or
    already-quantized uint8 of that shape. Returns {stream: list of 1-D uint8 encoded records}.
    """
    sources = {fmt.RGB: rgb, fmt.FLOW_X: flow, fmt.FLOW_Y: flow, fmt.WARP_X: warp, fmt.WARP_Y: warp}
    encoded: dict[str, list[np.ndarray]] = {}
    quantized: dict[int, np.ndarray] = {}
    for stream, codec in codecs.items():
        source = sources[stream]
        if source is None:
            raise ValueError(f"stream {stream} requested but no data was given for it")
        if stream == fmt.RGB:
            encoded[stream] = [encode_image(frame, codec, quality) for frame in source]
            continue
        key = id(source)
        if key not in quantized:
            array = np.asarray(source.detach().cpu() if hasattr(source, "detach") else source)
            quantized[key] = array if array.dtype == np.uint8 else quantize_flow(array, bound)
        component = 0 if stream in (fmt.FLOW_X, fmt.WARP_X) else 1
        encoded[stream] = [encode_image(plane, codec, quality) for plane in quantized[key][:, component]]
    return encoded
