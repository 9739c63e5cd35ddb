"""Warped optical flow for a batch of frame pairs: flow with the camera's motion removed (IDT/TSN).

Pipeline for N pairs (prev[i], next[i]):
1. CPU worker threads find the flow-independent correspondences of each pair (ORB matches,
   corners of prev) while the first flow pass runs (when it is not given).
2. With the first-pass flow, each pair's corners are moved by the flow and a homography
   H_i (prev -> next, camera motion) is fitted with RANSAC, in the same threads.
3. The next frames are warped on the flow's device in one grid_sample call:
   next_w(p) = next(H p), filled with prev(p) where H p leaves the frame (as IDT does).
4. The second flow pass runs on the whole batch (prev, next_w): a constant batch shape keeps a
   compiled engine from recompiling. The warped flow is zeroed where next_w had no source, and
   pairs whose fit fell back to the identity get the first-pass flow (the same pair).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from flowkit.flow.frames import as_tensor, frame_pair
from flowkit.warp.homography import HomographyParams, fit_pair, pair_features
from flowkit.warp.warping import warp_by_homography

FlowFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def default_executor() -> ThreadPoolExecutor:
    """A process-wide thread pool for the per-pair OpenCV work (cv2 releases the GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="flowkit-warp")
        return _pool


@dataclass
class WarpedFlowResult:
    """Output of warped_flow_batch for N pairs of H x W frames.

    flow: (N, 2, H, W) float32, pixels, x then y: first-pass flow prev -> next (given or computed).
    warped_flow: (N, 2, H, W) float32, pixels, x then y: flow prev -> next_w, the non-camera motion;
        exactly 0 where `valid` is False. Same device as `flow`.
    valid: (N, H, W) bool, same device as `flow`: True where H p lies inside the next frame.
    homographies: (N, 3, 3) float64 CPU tensor, prev -> next (camera motion); identity on fallback.
    fallback: (N,) bool CPU tensor: True where the fit was rejected and the identity used.
    inliers: (N,) int64 CPU tensor: RANSAC inlier counts (0 when no fit was attempted).
    reasons: N strings, why each pair fell back ('' when it did not).
    """

    flow: torch.Tensor
    warped_flow: torch.Tensor
    valid: torch.Tensor
    homographies: torch.Tensor
    fallback: torch.Tensor
    inliers: torch.Tensor
    reasons: list[str]


def frames_to_gray_uint8(prev: torch.Tensor, next: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """CPU uint8 gray copies of a batch of pairs for OpenCV feature detection.

    prev, next: frame batches in any shape flowkit.flow.frames accepts ((N, H, W), (N, 1, H, W),
    (N, 3, H, W) RGB, uint8 0..255 or float 0..1), any device; converted to gray exactly as the
    flow engine converts them. Returns two (N, H, W) uint8 arrays.
    """
    gray_prev, gray_next = frame_pair(prev, next)
    to_uint8 = lambda gray: gray.round().clamp_(0, 255).to(torch.uint8).cpu().numpy()  # noqa: E731
    return to_uint8(gray_prev), to_uint8(gray_next)


def default_flow_fn() -> FlowFn:
    """flowkit's TV-L1 engine with its default parameters."""
    from flowkit.flow import tvl1

    return tvl1


def warped_flow_batch(
    prev: torch.Tensor,
    next: torch.Tensor,
    flow: torch.Tensor | None = None,
    flow_fn: FlowFn | None = None,
    *,
    params: HomographyParams | None = None,
    executor: Executor | None = None,
) -> WarpedFlowResult:
    """Camera-motion-compensated flow for N frame pairs.

    prev, next: numpy arrays or tensors, (N, H, W) or (N, 1, H, W) gray or (N, 3, H, W) RGB (or
        (H, W) for one pair), uint8 in 0..255 or float in [0, 1] (flowkit.flow.frames' rules), on
        any device; passed to flow_fn as they are (as tensors).
    flow: (N, 2, H, W) float32 first-pass flow prev -> next in pixels (x then y), on the flow
        device; computed with flow_fn when None.
    flow_fn: callable (prev_batch, next_batch) -> (N, 2, H, W) float32 flow, a tensor or a numpy
        array (flowkit.flow.functions), OpenCV's convention (next(p + flow(p)) ~ prev(p)); defaults to
        flowkit.flow.tvl1. The warped next frames reach it with next's shape and dtype, on the flow
        device (the CPU for numpy flow).
    params: HomographyParams (defaults follow IDT). executor: where the per-pair OpenCV work
        runs (default: a shared thread pool with one worker per CPU core).
    Returns a WarpedFlowResult (shapes, dtypes and units documented there).
    """
    prev, next = as_tensor(prev), as_tensor(next)
    if prev.ndim == 2:  # one pair, as the flow engine accepts it
        prev, next = prev[None], next[None]
    params = HomographyParams() if params is None else params
    flow_fn = default_flow_fn() if flow_fn is None else flow_fn
    executor = default_executor() if executor is None else executor
    prev_gray, next_gray = frames_to_gray_uint8(prev, next)
    count, height, width = prev_gray.shape

    feature_jobs = [executor.submit(pair_features, prev_gray[i], next_gray[i], params) for i in range(count)]
    if flow is None:
        flow = as_tensor(flow_fn(prev, next))  # overlaps with the feature jobs
    if tuple(flow.shape) != (count, 2, height, width):
        raise ValueError(f"flow must be ({count}, 2, {height}, {width}), got {tuple(flow.shape)}")
    flow_cpu = flow.detach().float().cpu().numpy()
    # Collected here, not inside pool jobs: a pool job waiting on another could starve the pool.
    features = [job.result() for job in feature_jobs]
    fits = list(executor.map(fit_pair, features, flow_cpu, [params] * count))

    homographies = torch.from_numpy(np.stack([fit.homography for fit in fits]).astype(np.float64))
    fallback = torch.tensor([fit.fallback for fit in fits], dtype=torch.bool)
    inliers = torch.tensor([fit.inliers for fit in fits], dtype=torch.int64)

    device = flow.device
    next_on_device = next.to(device)
    next_warped, valid = warp_by_homography(next_on_device, homographies, fill=prev.to(device))
    warped_flow = as_tensor(flow_fn(prev, next_warped)).to(device=device, dtype=torch.float32)
    warped_flow = warped_flow * valid.unsqueeze(1)
    fallback_on_device = fallback.to(device)
    if bool(fallback.any()):
        warped_flow[fallback_on_device] = flow[fallback_on_device].float()
    return WarpedFlowResult(flow=flow, warped_flow=warped_flow, valid=valid, homographies=homographies,
                            fallback=fallback, inliers=inliers, reasons=[fit.reason for fit in fits])
