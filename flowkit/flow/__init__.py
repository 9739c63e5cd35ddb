"""Optical flow: a batched torch Dual TV-L1 engine that tracks OpenCV's, plus OpenCV backends.

Flow convention everywhere (OpenCV's): float32 (N, 2, H, W) in pixels, x then y, mapping prev to
next, next(p + flow(p)) ~ prev(p).

    from flowkit.flow import tvl1, TVL1Engine, compute_flow, ALGORITHMS
    flow = tvl1(prev, next)                        # (N, 2, H, W) on the input's device
    engine = TVL1Engine(device="cuda:0")           # fused Triton kernels (engine="torch", compile=True: inductor)
    flow = engine(prev_batch, next_batch)          # reuse for many batches

Importing this package is light (no torch, cv2); the names below load their modules on first use.
"""

from __future__ import annotations

import importlib

from flowkit.flow.params import ALGORITHMS

_LAZY = {
    "tvl1": "flowkit.flow.engine",
    "TVL1Engine": "flowkit.flow.engine",
    "TVL1Params": "flowkit.flow.params",
    "compute_flow": "flowkit.flow.backends",
    "opencv_tvl1": "flowkit.flow.backends",
    "farneback": "flowkit.flow.backends",
    "endpoint_error": "flowkit.flow.metrics",
}

__all__ = ["ALGORITHMS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flowkit.flow' has no attribute {name!r}")
