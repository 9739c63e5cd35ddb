"""Linear quantization of flow to uint8, the dense_flow / TSN storage convention.

A flow value v (pixels) maps to round(255 * (clip(v, -bound, bound) + bound) / (2 * bound)), so
0 <-> -bound, 255 <-> +bound, and the quantization step is 2 * bound / 255 pixels (0.157 px for
the default bound of 20). Works on numpy arrays and torch tensors alike, any shape.
"""

from __future__ import annotations

from flowkit.errors import UserValueError

DEFAULT_BOUND = 20.0


def quantization_step(bound: float = DEFAULT_BOUND) -> float:
    """Width in pixels of one uint8 level: 2 * bound / 255."""
    return 2.0 * bound / 255.0


def _check_bound(bound: float) -> None:
    if not bound > 0:
        raise UserValueError(f"bound must be positive, got {bound}")


def quantize_flow(flow, bound: float = DEFAULT_BOUND):
    """Float flow in pixels (any shape; numpy array or torch tensor) -> uint8 of the same shape.

    Values beyond +-bound saturate to 255 / 0; the worst-case error inside the bound is half a
    step (bound / 255 px).
    """
    _check_bound(bound)
    scale = 255.0 / (2.0 * bound)
    if hasattr(flow, "clamp"):  # torch.Tensor
        import torch

        return ((flow.float().clamp(-bound, bound) + bound) * scale).round_().to(torch.uint8)
    import numpy as np

    clipped = np.clip(np.asarray(flow, dtype=np.float32), -bound, bound)
    return np.rint((clipped + bound) * scale).astype(np.uint8)


def dequantize_flow(quantized, bound: float = DEFAULT_BOUND):
    """uint8 flow (any shape; numpy or torch) -> float32 flow in pixels, the inverse of quantize_flow."""
    _check_bound(bound)
    step = quantization_step(bound)
    if hasattr(quantized, "clamp"):
        return quantized.float() * step - bound
    import numpy as np

    return np.asarray(quantized, dtype=np.float32) * np.float32(step) - np.float32(bound)
