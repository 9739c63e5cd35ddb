"""Dual TV-L1 on the CPU in numpy, OpenCV and the fused C kernel (flowkit.flow.native): no torch.

The same solver as flowkit.flow.engine's TVL1Engine, step for step (its module docstring lists
OpenCV's steps), for the CPU: the pyramid and the flow's upsampling are cv2.resize(INTER_LINEAR),
which the torch engine reproduces; the median between iteration blocks is cv2.medianBlur; the
warp's linearization and the iterations are the C kernel's. Importing it costs numpy and cv2 only,
so a CPU extraction or a one-pair `flowkit flow` does not pay torch's import (seconds, more than a
short job's flow on a slow machine). TVL1Engine delegates its CPU path here whenever the kernel
builds, so there is one CPU implementation.

Each pair is solved on its own (convergence per pair, as OpenCV); the pairs of a batch are spread
over `threads` threads (the kernel, cv2.resize and cv2.medianBlur release the GIL).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from flowkit.cpus import available_cpus
from flowkit.flow.native import NativeKernel
from flowkit.flow.params import TVL1Params, pyramid_sizes


def gray_planes(frames) -> np.ndarray:
    """Gray frames (H, W), (N, H, W) or (N, 1, H, W), uint8 or floating point (numpy, or CPU tensors)
    as an (N, H, W) array of the same dtype (a view when it can be); ValueError for other shapes or
    dtypes. RGB frames are for TVL1Engine (or flowkit.color.rgb_to_gray first)."""
    x = np.asarray(frames)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    elif x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"gray frames must be (H, W), (N, H, W) or (N, 1, H, W), got {tuple(x.shape)}")
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise ValueError(f"frames must be uint8 or floating point, got {x.dtype}")
    return x


def gray_batch(frames) -> np.ndarray:
    """gray_planes' frames, uint8 in 0..255 or float in [0, 1] -> float32 (N, H, W) in 0..255, the
    intensities OpenCV's TV-L1 works on."""
    x = gray_planes(frames)
    if x.dtype == np.uint8:
        return x.astype(np.float32)
    return (x * 255.0).astype(np.float32)


def centered_gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0.5 * (I(x+1) - I(x-1)) along x and y, the border pixel repeated (OpenCV's centeredGradient):
    (H, W) float32 -> (dx, dy), each (H, W) float32."""
    padded = np.pad(image, 1, mode="edge")
    dx = 0.5 * (padded[1:-1, 2:] - padded[1:-1, :-2])
    dy = 0.5 * (padded[2:, 1:-1] - padded[:-2, 1:-1])
    return dx, dy


class NativeTVL1:
    """A reusable CPU TV-L1 solver on the fused kernel; OpenCV's parameters (TVL1Params).

    kernel: flowkit.flow.native.load()'s NativeKernel. threads: pairs solved at once (default: the
    CPUs this process may use). Call with two frame batches (gray_batch's shapes) to get float32
    (N, 2, H, W) numpy flow in pixels, x then y, prev -> next (next(p + flow(p)) ~ prev(p)).
    `iterations` holds, after each call, the (N,) int32 iterations each pair ran (all scales, warps).
    """

    def __init__(self, kernel: NativeKernel, params: TVL1Params | None = None, threads: int | None = None):
        if threads is not None and (int(threads) != threads or threads < 1):
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        self.kernel = kernel
        self.params = params if params is not None else TVL1Params()
        p = self.params
        self.channels = 3 if p.gamma != 0 else 2
        self.constants = dict(l_t=float(p.lambda_ * p.theta), theta=float(p.theta), taut=float(p.tau / p.theta))
        self.threads = threads
        self.iterations = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._pool_lock = threading.Lock()

    def __call__(self, prev, next, initial_flow=None) -> np.ndarray:
        """Flow of each pair: prev, next (N, H, W) gray -> (N, 2, H, W) float32, pixels.

        initial_flow: (N, 2, H, W) starting flow in pixels, required with use_initial_flow=True."""
        i0, i1 = gray_batch(prev), gray_batch(next)
        if i0.shape != i1.shape:
            raise ValueError(f"prev and next frames differ in shape: {i0.shape} vs {i1.shape}")
        if i0.shape[0] == 0:
            raise ValueError("empty batch of frames")
        if i0.shape[1] < 3 or i0.shape[2] < 3:
            raise ValueError(f"frames must be at least 3x3 pixels, got {i0.shape[2]}x{i0.shape[1]}")
        expected = (i0.shape[0], 2, *i0.shape[1:])
        if self.params.use_initial_flow:
            if initial_flow is None:
                raise ValueError(f"use_initial_flow=True needs initial_flow of shape {expected}")
            initial_flow = np.asarray(initial_flow, dtype=np.float32)
            if initial_flow.shape != expected:
                raise ValueError(f"initial_flow must have shape {expected}, got {initial_flow.shape}")
        elif initial_flow is not None:
            raise ValueError("initial_flow given but use_initial_flow is False")
        flow, self.iterations = self.solve(i0, i1, initial_flow)
        return flow

    def solve(self, i0: np.ndarray, i1: np.ndarray, initial_flow: np.ndarray | None = None):
        """Checked inputs -> (flow (N, 2, H, W) float32, iterations (N,) int32). i0, i1: float32
        (N, H, W) in 0..255; initial_flow: float32 (N, 2, H, W) or None."""
        n = i0.shape[0]
        threads = min(self.threads or available_cpus(), n)

        def one(k: int):
            return self._solve_pair(i0[k], i1[k], None if initial_flow is None else initial_flow[k])

        solved = list(self._executor(threads).map(one, range(n))) if threads > 1 else [one(k) for k in range(n)]
        flow = np.stack([f for f, _ in solved])
        return flow, np.array([count for _, count in solved], np.int32)

    def _executor(self, threads: int) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool_size < threads:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)  # a smaller pool from an earlier call: its threads end now
                self._pool = ThreadPoolExecutor(threads, thread_name_prefix="flowkit-tvl1")
                self._pool_size = threads
            assert self._pool is not None
            return self._pool

    def _solve_pair(self, i0: np.ndarray, i1: np.ndarray, initial_flow: np.ndarray | None):
        """One pair: (H, W) float32 images -> ((2, H, W) float32 flow, iterations run)."""
        p = self.params
        sizes = pyramid_sizes(i0.shape[0], i0.shape[1], p.nscales, p.scale_step)
        levels = [(i0, i1)]
        for _ in sizes[1:]:
            levels.append((_downscale(levels[-1][0], p.scale_step), _downscale(levels[-1][1], p.scale_step)))
        h, w = sizes[-1]
        u = np.zeros((1, self.channels, h, w), np.float32)
        if initial_flow is not None:
            # Only the coarsest scale's start matters: finer scales start from the coarser result.
            start = initial_flow
            for _ in sizes[1:]:
                start = np.stack([_downscale(plane, p.scale_step) for plane in start]) * np.float32(p.scale_step)
            u[0, :2] = start
        counts = np.zeros(1, np.int32)
        for s in range(len(levels) - 1, -1, -1):
            self._solve_scale(*levels[s], u, counts)
            if s > 0:
                h, w = sizes[s - 1]
                up = np.empty((1, self.channels, h, w), np.float32)
                for c in range(self.channels):
                    up[0, c] = _resize(u[0, c], h, w)
                up[0, :2] *= np.float32(1.0 / p.scale_step)  # the illumination channel is not a displacement
                u = up
        return u[0, :2].copy(), int(counts[0])

    def _solve_scale(self, i0: np.ndarray, i1: np.ndarray, u: np.ndarray, counts: np.ndarray) -> None:
        """Refine u (1, C, H, W) in place on one scale: `warps` linearizations, each iterated to convergence."""
        p = self.params
        h, w = i0.shape
        i1x, i1y = centered_gradient(i1)
        planes = np.stack((i1, i1x, i1y, np.zeros_like(i1)), -1)[None]
        prev = np.ascontiguousarray(i0)[None]
        px, py = np.zeros_like(u), np.zeros_like(u)
        g = np.empty_like(u)
        neg_inv_grad, rho_c = np.empty((1, 1, h, w), np.float32), np.empty((1, 1, h, w), np.float32)
        scaled_epsilon = p.epsilon * p.epsilon * h * w
        for _ in range(p.warps):
            self.kernel.linearize(prev, planes, u, float(p.gamma), g, neg_inv_grad, rho_c)
            active = np.ones(1, np.uint8)
            for _ in range(p.outer_iterations):
                if p.median_filtering > 1:
                    _median_in_place(u[0], p.median_filtering)
                self.kernel.run_block(u, px, py, g, neg_inv_grad, rho_c, active, counts, p.inner_iterations,
                                      scaled_epsilon, **self.constants)
                if not active[0]:
                    break


def _median_in_place(u: np.ndarray, ksize: int) -> None:
    """cv2.medianBlur of the x and y planes of u (C, H, W) float32, in place; the illumination plane is
    not filtered (as OpenCV). (OpenCV copies its input first when asked to filter in place.)"""
    for c in range(2):
        cv2.medianBlur(u[c], ksize, dst=u[c])


def _resize(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """cv2.resize(INTER_LINEAR) of a float32 (H, W) plane to (height, width) (scale: the size ratio)."""
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)


def _downscale(plane: np.ndarray, factor: float) -> np.ndarray:
    """cv2.resize(INTER_LINEAR) of a float32 (H, W) plane by `factor`, as OpenCV's TV-L1 builds its
    pyramid: the scale is exactly 1 / factor, not the ratio of the rounded sizes."""
    return cv2.resize(plane, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
