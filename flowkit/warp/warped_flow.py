"""Warped optical flow for a batch of frame pairs: flow with the camera's motion removed (IDT/TSN).

Pipeline for N pairs (prev[i], next[i]):
1. CPU worker threads find the flow-independent correspondences of each pair (ORB matches,
   corners of prev) while the first flow pass runs (when it is not given).
2. With the first-pass flow, each pair's corners are moved by the flow and a homography
   H_i (prev -> next, camera motion) is fitted with RANSAC, in the same threads.
3. The next frames are warped on the CPU (cv2.remap, flowkit.warp.warping):
   next_w(p) = next(H p), filled with prev(p) where H p leaves the frame (as IDT does).
4. The second flow pass runs on the whole batch (prev, next_w): a constant batch shape keeps a
   compiled engine from recompiling. The warped flow is zeroed where next_w had no source, and
   pairs whose fit fell back to the identity get the first-pass flow (the same pair).

numpy throughout (no torch): with a numpy flow function (flowkit.flow.functions) a CPU run of
warped flow never imports torch. Tensors are accepted (copied to the host) and flow functions may
return tensors (the torch engine's), on any device.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from flowkit.color import GRAY_WEIGHTS, rgb_to_gray
from flowkit.cpus import available_cpus
from flowkit.flow.functions import FlowFn, host_array
from flowkit.warp.homography import HomographyParams, fit_pair, pair_features
from flowkit.warp.warping import warp_by_homography

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def default_executor() -> ThreadPoolExecutor:
    """A process-wide thread pool for the per-pair OpenCV work (cv2 releases the GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=available_cpus(), thread_name_prefix="flowkit-warp")
        return _pool


@dataclass
class WarpedFlowResult:
    """Output of warped_flow_batch for N pairs of H x W frames.

    All numpy arrays:
    flow: (N, 2, H, W) float32, pixels, x then y: first-pass flow prev -> next (given or computed).
    warped_flow: (N, 2, H, W) float32, pixels, x then y: flow prev -> next_w, the non-camera motion;
        exactly 0 where `valid` is False.
    valid: (N, H, W) bool: True where H p lies inside the next frame.
    homographies: (N, 3, 3) float64, prev -> next (camera motion); identity on fallback.
    fallback: (N,) bool: True where the fit was rejected and the identity used.
    inliers: (N,) int64: RANSAC inlier counts (0 when no fit was attempted).
    reasons: N strings, why each pair fell back ('' when it did not).
    """

    flow: np.ndarray
    warped_flow: np.ndarray
    valid: np.ndarray
    homographies: np.ndarray
    fallback: np.ndarray
    inliers: np.ndarray
    reasons: list[str]


def frames_to_gray_uint8(prev, next) -> tuple[np.ndarray, np.ndarray]:
    """uint8 gray copies of a batch of pairs for OpenCV feature detection.

    prev, next: frame batches (N, H, W), (N, 1, H, W) or (N, 3, H, W) RGB, uint8 0..255 or float
    0..1 (numpy); converted to gray as the flow engine converts them (uint8 RGB exactly as
    cv2.cvtColor). Returns two (N, H, W) uint8 arrays.
    """
    if prev.shape != next.shape:
        raise ValueError(f"prev and next frames differ in shape: {tuple(prev.shape)} vs {tuple(next.shape)}")
    return _gray_uint8(prev), _gray_uint8(next)


def _gray_uint8(frames: np.ndarray) -> np.ndarray:
    if frames.ndim == 4 and frames.shape[1] == 1:
        frames = frames[:, 0]
    if frames.ndim == 4 and frames.shape[1] == 3:
        if frames.dtype == np.uint8:
            return rgb_to_gray(frames.transpose(0, 2, 3, 1))
        frames = np.tensordot(np.asarray(GRAY_WEIGHTS, np.float32), frames.astype(np.float32), ([0], [1]))
    if frames.ndim != 3:
        raise ValueError(f"frames must be (N, H, W), (N, 1, H, W) or (N, 3, H, W), got {tuple(frames.shape)}")
    if frames.dtype == np.uint8:
        return frames
    if frames.dtype.kind != "f":
        raise ValueError(f"frames must be uint8 or floating point, got {frames.dtype}")
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def default_flow_fn(device=None) -> FlowFn:
    """flowkit's TV-L1 with its default parameters: on `device` (a torch.device of the caller's
    frames) when that is a GPU, else the CPU solver (flowkit.flow.functions, no torch)."""
    from flowkit.flow.functions import make_flow_fn

    gpu = device is not None and getattr(device, "type", "cpu") != "cpu"
    return make_flow_fn("tvl1", {}, device=str(device) if gpu else "cpu")


def warped_flow_batch(
    prev,
    next,
    flow=None,
    flow_fn: FlowFn | None = None,
    *,
    params: HomographyParams | None = None,
    executor: Executor | None = None,
) -> WarpedFlowResult:
    """Camera-motion-compensated flow for N frame pairs.

    prev, next: numpy arrays or tensors (any device; copied to the host), (N, H, W) or (N, 1, H, W)
        gray or (N, 3, H, W) RGB (or (H, W) for one pair), uint8 in 0..255 or float in [0, 1]
        (flowkit.flow.frames' rules); passed to flow_fn as numpy arrays.
    flow: (N, 2, H, W) float32 first-pass flow prev -> next in pixels (x then y), numpy or tensor;
        computed with flow_fn when None.
    flow_fn: callable (prev_batch, next_batch) -> (N, 2, H, W) float32 flow, numpy or a tensor,
        OpenCV's convention (next(p + flow(p)) ~ prev(p)); defaults to flowkit's TV-L1 with
        OpenCV's defaults, on the frames' GPU when they are CUDA tensors. The warped next frames
        reach it as numpy arrays with next's shape and dtype.
    params: HomographyParams (defaults follow IDT). executor: where the per-pair OpenCV work
        runs (default: a shared thread pool with one worker per CPU core).
    Returns a WarpedFlowResult (shapes, dtypes and units documented there).
    """
    flow_fn = default_flow_fn(getattr(prev, "device", None)) if flow_fn is None else flow_fn
    prev, next = host_array(prev), host_array(next)
    if prev.ndim == 2:  # one pair, as the flow engine accepts it
        prev, next = prev[None], next[None]
    params = HomographyParams() if params is None else params
    executor = default_executor() if executor is None else executor
    prev_gray, next_gray = frames_to_gray_uint8(prev, next)
    count, height, width = prev_gray.shape

    feature_jobs = [executor.submit(pair_features, prev_gray[i], next_gray[i], params) for i in range(count)]
    flow = host_array(flow_fn(prev, next) if flow is None else flow)  # overlaps with the feature jobs
    if tuple(flow.shape) != (count, 2, height, width):
        raise ValueError(f"flow must be ({count}, 2, {height}, {width}), got {tuple(flow.shape)}")
    flow = flow.astype(np.float32, copy=False)
    # Collected here, not inside pool jobs: a pool job waiting on another could starve the pool.
    features = [job.result() for job in feature_jobs]
    fits = list(executor.map(fit_pair, features, flow, [params] * count))

    homographies = np.stack([fit.homography for fit in fits]).astype(np.float64)
    fallback = np.array([fit.fallback for fit in fits], dtype=bool)
    inliers = np.array([fit.inliers for fit in fits], dtype=np.int64)

    next_warped, valid = warp_by_homography(next, homographies, fill=prev)
    warped_flow = host_array(flow_fn(prev, next_warped)).astype(np.float32, copy=False) * valid[:, None]
    warped_flow[fallback] = flow[fallback]
    return WarpedFlowResult(flow=flow, warped_flow=warped_flow, valid=valid, homographies=homographies,
                            fallback=fallback, inliers=inliers, reasons=[fit.reason for fit in fits])
