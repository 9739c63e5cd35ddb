"""One interface over the flow algorithms: our torch TV-L1 and OpenCV's TV-L1 and Farneback.

All take prev / next frames in the shapes flowkit.flow.frames accepts and return float32
(N, 2, H, W) torch flow in pixels, x then y, prev -> next (next(p + flow(p)) ~ prev(p)).
"""

from __future__ import annotations

import numpy as np
import torch

from flowkit.errors import UserValueError
from flowkit.flow.frames import frame_pair
from flowkit.flow.params import TVL1Params, check_algorithm, check_device, farneback_params


def _opencv_gray(prev, next) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames -> lists of (H, W) arrays as OpenCV wants them: uint8 when the values are 8-bit integers
    (exactly what uint8 input gives), else float32 in [0, 1] (OpenCV scales float input by 255)."""
    a, b = frame_pair(prev, next, "cpu")
    out = []
    for frames in (a, b):
        arr = frames.numpy()
        if np.array_equal(arr, np.rint(arr)) and arr.min() >= 0 and arr.max() <= 255:
            out.append([np.ascontiguousarray(f, dtype=np.uint8) for f in arr])
        else:
            out.append([np.ascontiguousarray(f / 255.0, dtype=np.float32) for f in arr])
    return out[0], out[1]


def _to_tensor(flows: list[np.ndarray]) -> torch.Tensor:
    """List of OpenCV (H, W, 2) flows -> (N, 2, H, W) float32 tensor."""
    return torch.from_numpy(np.stack(flows).transpose(0, 3, 1, 2).astype(np.float32, copy=False)).contiguous()


def opencv_tvl1(prev, next, device="cpu", initial_flow=None, **params) -> torch.Tensor:
    """OpenCV's CPU Dual TV-L1 (cv2.optflow.DualTVL1OpticalFlow_create) on each pair, the reference.

    params: as for flowkit.flow.engine.tvl1 (OpenCV's names and defaults). Returns CPU (N, 2, H, W) float32.
    """
    check_device("opencv-tvl1", device)
    import cv2

    if not hasattr(cv2, "optflow"):
        raise UserValueError("opencv-tvl1 needs opencv-contrib (cv2.optflow), which this OpenCV lacks")
    settings = TVL1Params.from_kwargs(**params)
    solver = cv2.optflow.DualTVL1OpticalFlow_create(*settings.opencv_args())
    a, b = _opencv_gray(prev, next)
    if settings.use_initial_flow:
        if initial_flow is None:
            raise ValueError("use_initial_flow=True needs initial_flow (N, 2, H, W)")
        starts = np.asarray(torch.as_tensor(initial_flow, dtype=torch.float32).cpu()).transpose(0, 2, 3, 1)
        return _to_tensor([solver.calc(x, y, np.ascontiguousarray(f)) for x, y, f in zip(a, b, starts)])
    return _to_tensor([solver.calc(x, y, None) for x, y in zip(a, b)])


def farneback(prev, next, device="cpu", **params) -> torch.Tensor:
    """OpenCV's Farneback flow (fast, less accurate): a preview. params: cv2.calcOpticalFlowFarneback's
    (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags), defaults
    flowkit.flow.params.FARNEBACK_DEFAULTS."""
    check_device("farneback", device)
    import cv2

    settings = farneback_params(params)
    a, b = frame_pair(prev, next, "cpu")
    to8 = lambda f: np.clip(np.rint(f.numpy()), 0, 255).astype(np.uint8)  # noqa: E731 - Farneback takes 8-bit only
    flows = [cv2.calcOpticalFlowFarneback(to8(x), to8(y), None, **settings) for x, y in zip(a, b)]
    return _to_tensor(flows)


def compute_flow(prev, next, algo: str = "tvl1", device="cpu", **params) -> torch.Tensor:
    """Flow between frame batches with the chosen algorithm (one of ALGORITHMS).

    "tvl1": flowkit's Dual TV-L1 (flowkit.flow.engine.tvl1) on `device`; "opencv-tvl1": OpenCV's CPU
    TV-L1 with the same parameters; "farneback": OpenCV's Farneback. Returns float32 (N, 2, H, W) flow
    in pixels, x then y, with next(p + flow(p)) ~ prev(p).
    """
    check_algorithm(algo)
    if algo == "tvl1":
        from flowkit.flow.engine import tvl1

        return tvl1(prev, next, device=device, **params)
    if algo == "opencv-tvl1":
        return opencv_tvl1(prev, next, device=device, **params)
    return farneback(prev, next, device=device, **params)
