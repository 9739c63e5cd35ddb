"""TVL1Engine's CPU path on the fused C kernel (flowkit.flow.native).

Per warp: one linearization pass per pair, then `outer_iterations` blocks of a median filter and up to
`inner_iterations` in-place iterations per pair, each pair stopping at its own convergence (OpenCV's
loop). The kernel and cv2.medianBlur release the GIL, so the engine runs different pairs on
different threads (TVL1Engine's `threads`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from flowkit.flow.native import NativeKernel
from flowkit.flow.params import TVL1Params


class FusedCPU:
    """Linearization and iteration blocks of TV-L1 for CPU batches, on the fused kernel.

    kernel: the loaded NativeKernel. constants: the engine's l_t, theta, taut. median_planes:
    (planes (..., H, W), ksize) -> filtered planes.
    """

    def __init__(self, kernel: NativeKernel, params: TVL1Params, constants: dict, median_planes: Callable):
        self.kernel = kernel
        self.params = params
        self.constants = constants
        self.median_planes = median_planes

    @staticmethod
    def interleave(i1: torch.Tensor, i1x: torch.Tensor, i1y: torch.Tensor) -> torch.Tensor:
        """(N, H, W) image and gradient planes -> (N, H, W, 4) interleaved, as the kernel samples them."""
        return torch.stack((i1, i1x, i1y, torch.zeros_like(i1)), -1)

    def linearize(self, i0: torch.Tensor, planes: torch.Tensor, u: torch.Tensor):
        """(g (N, C, H, W), neg_inv_grad, rho_c (N, 1, H, W)) around u (N, C, H, W), bicubic warping."""
        u = u.contiguous()
        n, c, h, w = u.shape
        out = (torch.empty_like(u), torch.empty(n, 1, h, w), torch.empty(n, 1, h, w))
        self.kernel.linearize(i0, planes, u, float(self.params.gamma), *out)
        return out

    def iterate_warp(self, u, px, py, g, neg_inv_grad, rho_c, scaled_epsilon: float, counts: np.ndarray):
        """All median / iteration blocks of one warp, in place; returns (u, px, py). counts: (N,) int32
        iterations run per pair, incremented."""
        p = self.params
        u, px, py = u.contiguous(), px.contiguous(), py.contiguous()
        tensors = (u, px, py, g.contiguous(), neg_inv_grad.contiguous(), rho_c.contiguous())
        active = np.ones(u.shape[0], np.uint8)
        for _ in range(p.outer_iterations):
            if p.median_filtering > 1:
                self._median_in_place(u, active)
            self.kernel.run_block(*tensors, active, counts, p.inner_iterations, scaled_epsilon, **self.constants)
            if not active.any():
                break
        return u, px, py

    def _median_in_place(self, u: torch.Tensor, active: np.ndarray) -> None:
        """Median filter the x, y planes of the active pairs (the illumination plane is left alone, as
        OpenCV does)."""
        k = self.params.median_filtering
        if active.all():
            u[:, :2] = self.median_planes(u[:, :2], k)
            return
        for i in np.flatnonzero(active):
            u[i, :2] = self.median_planes(u[i, :2], k)
