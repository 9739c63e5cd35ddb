"""TVL1Engine's CPU path on the fused C kernel (flowkit.flow.native), with the pairs of a batch spread
over threads.

Per warp: one linearization pass per pair, then `outer_iterations` blocks of a median filter and up to
`inner_iterations` in-place iterations per pair, each pair stopping at its own convergence (OpenCV's
loop). Work is cut into contiguous ranges of pairs with equal numbers of pairs still iterating, one
range per thread; the kernel and cv2.medianBlur release the GIL, so the threads run in parallel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch

from flowkit.flow.native import NativeKernel
from flowkit.flow.params import TVL1Params


class FusedCPU:
    """Linearization and iteration blocks of TV-L1 for CPU batches, on the fused kernel.

    kernel: the loaded NativeKernel. constants: the engine's l_t, theta, taut. median_planes:
    (planes (..., H, W), ksize) -> filtered planes. threads: pairs solved at once (None: torch's
    intra-op thread count at each call).
    """

    def __init__(self, kernel: NativeKernel, params: TVL1Params, constants: dict, median_planes: Callable,
                 threads: int | None = None):
        self.kernel = kernel
        self.params = params
        self.constants = constants
        self.median_planes = median_planes
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0

    @staticmethod
    def interleave(i1: torch.Tensor, i1x: torch.Tensor, i1y: torch.Tensor) -> torch.Tensor:
        """(N, H, W) image and gradient planes -> (N, H, W, 4) interleaved, as the kernel samples them."""
        return torch.stack((i1, i1x, i1y, torch.zeros_like(i1)), -1)

    def linearize(self, i0: torch.Tensor, planes: torch.Tensor, u: torch.Tensor):
        """(g (N, C, H, W), neg_inv_grad, rho_c (N, 1, H, W)) around u (N, C, H, W), bicubic warping."""
        u = u.contiguous()
        n, c, h, w = u.shape
        out = (torch.empty_like(u), torch.empty(n, 1, h, w), torch.empty(n, 1, h, w))
        gamma = float(self.params.gamma)
        self._spread(np.ones(n, bool), lambda a, b: self.kernel.linearize(i0, planes, u, gamma, *out, start=a, stop=b))
        return out

    def iterate_warp(self, u, px, py, g, neg_inv_grad, rho_c, scaled_epsilon: float, counts: np.ndarray):
        """All median / iteration blocks of one warp, in place; returns (u, px, py). counts: (N,) int32
        iterations run per pair, incremented."""
        p = self.params
        u, px, py = u.contiguous(), px.contiguous(), py.contiguous()
        tensors = (u, px, py, g.contiguous(), neg_inv_grad.contiguous(), rho_c.contiguous())
        active = np.ones(u.shape[0], np.uint8)

        def block(a: int, b: int) -> None:
            if p.median_filtering > 1:
                self._median_in_place(u, active, a, b)
            self.kernel.run_block(*tensors, active, counts, p.inner_iterations, scaled_epsilon, **self.constants,
                                  start=a, stop=b)

        for _ in range(p.outer_iterations):
            self._spread(active.astype(bool), block)
            if not active.any():
                break
        return u, px, py

    def _median_in_place(self, u: torch.Tensor, active: np.ndarray, a: int, b: int) -> None:
        """Median filter the x, y planes of the active pairs among a..b-1 (the illumination plane is
        left alone, as OpenCV does)."""
        k = self.params.median_filtering
        if active[a:b].all():
            u[a:b, :2] = self.median_planes(u[a:b, :2], k)
            return
        for i in a + np.flatnonzero(active[a:b]):
            u[i, :2] = self.median_planes(u[i, :2], k)

    def _spread(self, busy: np.ndarray, work: Callable[[int, int], None]) -> None:
        """Run work(a, b) over contiguous pair ranges covering busy (N,) bool, one range per thread,
        each holding the same number of busy pairs."""
        rows = np.flatnonzero(busy)
        threads = min(self.threads or torch.get_num_threads(), len(rows))
        if threads <= 1:
            if len(rows):
                work(int(rows[0]), int(rows[-1]) + 1)
            return
        cuts = [int(rows[len(rows) * k // threads]) for k in range(threads)] + [int(rows[-1]) + 1]
        if self._pool_size < threads - 1:
            self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="flowkit-tvl1")
            self._pool_size = threads - 1
        jobs = [self._pool.submit(work, a, b) for a, b in zip(cuts[1:-1], cuts[2:])]
        work(cuts[0], cuts[1])  # this thread takes the first range
        for job in jobs:
            job.result()
