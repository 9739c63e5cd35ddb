"""Flow accuracy measures."""

from __future__ import annotations

import numpy as np

from flowkit.flow.functions import host_array


def _numpy(array) -> np.ndarray:
    return host_array(array).astype(np.float64, copy=False)


def endpoint_error(flow, truth, valid=None) -> float:
    """Mean end-point error in pixels: mean over valid pixels of |flow - truth|.

    flow, truth: (2, H, W) or (N, 2, H, W), numpy or torch, x then y. valid: optional bool mask of
    shape (H, W) or (N, H, W); default all pixels.
    """
    flow, truth = _numpy(flow), _numpy(truth)
    if flow.shape != truth.shape or flow.shape[-3] != 2:
        raise ValueError(f"flow and truth must both be (..., 2, H, W), got {flow.shape} and {truth.shape}")
    error = np.hypot(flow[..., 0, :, :] - truth[..., 0, :, :], flow[..., 1, :, :] - truth[..., 1, :, :])
    if valid is None:
        return float(error.mean())
    valid = np.broadcast_to(np.asarray(_numpy(valid) > 0), error.shape)
    if not valid.any():
        raise ValueError("no valid pixel to measure")
    return float(error[valid].mean())
