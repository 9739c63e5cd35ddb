"""TV-L1 over the consecutive pairs of a video, warm-started and/or with an early exit at the finest
scale, composed from the solvers' public settings (nscales, use_initial_flow, epsilon) so that both
engines (flowkit.flow.native_solver.NativeTVL1 on the CPU, flowkit.flow.engine.TVL1Engine elsewhere)
run it unchanged.

Warm start: a pair starts from the flow of the pair before it, on the `warm_scales` finest scales
only: the solver runs with nscales=warm_scales and that flow as its initial flow (downscaled to the
coarsest of those scales, as OpenCV's use_initial_flow does). The coarser scales, which exist to
find large motions from zero, are skipped; a pair whose motion is close to its predecessor's
converges in fewer iterations. Pair 0 of a video, and every `restart`-th pair after it (pair k with
k % restart == 0), is solved from zero on every scale, as plain TV-L1: a chain never runs longer
than `restart` pairs (what a cut or a sudden motion can spoil), and the chains of a batch of pairs
are independent, so step j solves the j-th pair of every chain in one batch and a multi-threaded
(or GPU) solver keeps several pairs in flight. Which pairs start cold depends only on their index
in the video, so the flow does not depend on how a video's pairs are cut into calls (windows),
nor on threads.

Fast: the finest scale stops once the mean squared flow change per pixel falls to FAST_EPSILON**2
instead of epsilon**2 (OpenCV's test, a looser tolerance); the coarser scales are solved as usual
(the frames downscaled once with cv2.resize as the solvers' pyramids do, the flow upsampled as they
do, so the coarse result is the solver's, bit for bit on the CPU).

Flows are float32 (N, 2, H, W) numpy in pixels, x then y, prev -> next (next(p + flow(p)) ~ prev(p)).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Protocol

import cv2
import numpy as np

from flowkit.flow.native_solver import gray_batch
from flowkit.flow.params import TVL1Params, pyramid_sizes

WARM_SCALES = 2  # finest pyramid scales a warm-started pair is solved on
WARM_RESTART = 8  # pairs: every restart-th pair of a video is solved from zero
FAST_EPSILON = 0.05  # px: the stopping threshold of the finest scale with fast=True (OpenCV's default: 0.01)


class Solver(Protocol):
    """A TV-L1 solver's checked entry (NativeTVL1.solve's contract): i0, i1 float32 (N, H, W) gray in
    0..255, initial_flow float32 (N, 2, H, W) or None -> (flow (N, 2, H, W) float32, iterations (N,))."""

    def solve(self, i0: np.ndarray, i1: np.ndarray, initial_flow: np.ndarray | None = None) -> tuple: ...


SolverFactory = Callable[[TVL1Params], Solver]


class SequenceTVL1:
    """TV-L1 for consecutive pairs of one video (module docstring). make_solver: builds a solver for
    a TVL1Params. params: the run's TV-L1 settings. warm_start / fast: the two options. warm_scales:
    scales a warm pair is solved on. restart: a pair whose index in the video is a multiple of it
    starts from zero.

    Call with prev, next (N, H, W) gray frames (uint8, or float in [0, 1]) of N consecutive pairs,
    `previous_flow`, the (2, H, W) flow of the pair just before them (None at a video's start), and
    `first_pair`, the index in the video of the first of them; returns (N, 2, H, W) float32.
    `iterations` holds the (N,) iterations each pair ran after the latest call (of any thread). No
    other state between calls, so one instance serves several videos and threads at once.
    """

    def __init__(self, make_solver: SolverFactory, params: TVL1Params, warm_start: bool = True, fast: bool = False,
                 warm_scales: int = WARM_SCALES, restart: int = WARM_RESTART):
        for name, value in (("warm_scales", warm_scales), ("restart", restart)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.make_solver, self.params = make_solver, params
        self.warm_start, self.fast, self.warm_scales, self.restart = warm_start, fast, int(warm_scales), int(restart)
        self.iterations: np.ndarray | None = None
        self._solvers: dict[tuple, Solver] = {}

    def __call__(self, prev, next, previous_flow=None, first_pair: int = 0) -> np.ndarray:
        prev, next = gray_batch(prev), gray_batch(next)
        if prev.shape != next.shape:
            raise ValueError(f"prev and next frames differ in shape: {prev.shape} vs {next.shape}")
        n = prev.shape[0]
        flow = np.empty((n, 2, *prev.shape[1:]), np.float32)
        counts = np.zeros(n, np.int64)
        if not self.warm_start:
            flow[:], counts[:] = self._solve(prev, next, None, self.params.nscales)
            self.iterations = counts
            return flow
        heads = [i for i in range(n) if (first_pair + i) % self.restart == 0 or (i == 0 and previous_flow is None)]
        runs = [np.arange(a, b) for a, b in zip([0, *heads], [*heads, n]) if b > a]
        for k in range(max(len(r) for r in runs)):
            cold, warm, starts = [], [], []
            for run in runs:
                if k >= len(run):
                    continue
                start = flow[run[k - 1]] if k else (None if run[0] in heads else previous_flow)
                if start is None:
                    cold.append(run[k])
                else:
                    warm.append(run[k])
                    starts.append(start)
            if cold:
                flow[cold], counts[cold] = self._solve(prev[cold], next[cold], None, self.params.nscales)
            if warm:
                initial = np.stack(starts).astype(np.float32, copy=False)
                flow[warm], counts[warm] = self._solve(prev[warm], next[warm], initial, self.warm_scales)
        self.iterations = counts
        return flow

    def plain(self, prev, next) -> np.ndarray:
        """Every pair from zero (no warm start; fast still applies): (N, H, W) gray -> (N, 2, H, W)."""
        flow, self.iterations = self._solve(gray_batch(prev), gray_batch(next), None, self.params.nscales)
        return flow

    def _solver(self, nscales: int, epsilon: float, initial: bool) -> Solver:
        key = (nscales, epsilon, initial)
        if key not in self._solvers:  # a race builds one twice, harmlessly
            self._solvers[key] = self.make_solver(replace(self.params, nscales=nscales, epsilon=epsilon,
                                                          use_initial_flow=initial))
        return self._solvers[key]

    def _run(self, prev, next, initial, nscales: int, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
        flow, counts = self._solver(nscales, epsilon, initial is not None).solve(prev, next, initial)
        return np.asarray(flow, np.float32), np.asarray(counts, np.int64)

    def _solve(self, prev, next, initial, nscales: int) -> tuple[np.ndarray, np.ndarray]:
        """Flow of independent pairs on `nscales` scales (fewer when frames are small), from `initial`
        (N, 2, H, W) or zero; the finest scale with FAST_EPSILON when fast. -> (flow, iterations)."""
        p = self.params
        height, width = prev.shape[1:]
        levels = len(pyramid_sizes(height, width, nscales, p.scale_step))
        if not self.fast or levels == 1:
            return self._run(prev, next, initial, levels, FAST_EPSILON if self.fast else p.epsilon)
        # The coarse scales: the same solver on frames downscaled as its pyramid does.
        small = [np.stack([_downscale(f, p.scale_step) for f in x]) for x in (prev, next)]
        small_start = None if initial is None else _downscale_flow(initial, p.scale_step)
        coarse, coarse_counts = self._run(small[0], small[1], small_start, levels - 1, p.epsilon)
        start = np.stack([[cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in f] for f in coarse])
        start *= np.float32(1.0 / p.scale_step)
        flow, fine_counts = self._run(prev, next, start, 1, FAST_EPSILON)
        return flow, coarse_counts + fine_counts


def _downscale(plane: np.ndarray, factor: float) -> np.ndarray:
    """One pyramid step of a float32 (H, W) plane: cv2.resize(INTER_LINEAR, fx=fy=factor), as the solvers."""
    return cv2.resize(plane, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)


def _downscale_flow(flow: np.ndarray, factor: float) -> np.ndarray:
    """(N, 2, H, W) flow one pyramid step down, its vectors scaled with the frame."""
    return np.stack([[_downscale(c, factor) for c in f] for f in flow]) * np.float32(factor)
