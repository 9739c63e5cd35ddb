"""A flow function that survives out-of-memory errors by splitting the call, used by every
in-process extraction path (FlowBatcher's batches, and the flow calls of one video at a time).

An out-of-memory error (flowkit.extract.failures) means the call held too many pairs for the device:
the call is split in halves, each tried again, down to one pair. The largest size that fitted is
remembered per frame size, so later calls go straight to chunks that fit, and doubled again after
GROW_AFTER successes at it (the memory that was missing may have been held by something else for a
while). A pair that runs out of memory alone has failed: its error is reported for that pair only.
Pairs are solved independently (their flow does not depend on the other pairs of a call), so the
flow is the same as from one call.
"""

from __future__ import annotations

import numpy as np

from flowkit.extract.failures import OUT_OF_MEMORY, failure_kind
from flowkit.flow.functions import FlowFn


class SplittingFlow:
    """flow_fn (flowkit.flow.functions' contract) behind out-of-memory splitting (module docstring)."""

    # Successful calls at the remembered size after which twice as many pairs are tried again.
    GROW_AFTER = 32

    def __init__(self, flow_fn: FlowFn):
        self.flow_fn = flow_fn
        self._fits: dict[tuple, int] = {}  # frame shape -> largest pairs per call since an out-of-memory
        self._streaks: dict[tuple, int] = {}  # frame shape -> successful calls at that size since

    def __call__(self, prev, next) -> np.ndarray:
        """(N, H, W) uint8 prev and next -> (N, 2, H, W) float32 flow in pixels. Raises the error of
        the first pair that failed alone (and any error that is not out of memory)."""
        flow, failures = self.solve(np.asarray(prev), np.asarray(next))
        if failures:
            raise failures[min(failures)]
        return flow

    def solve(self, prev: np.ndarray, next: np.ndarray) -> tuple[np.ndarray, dict[int, BaseException]]:
        """Flow of every pair of (N, H, W) uint8 prev and next. Returns (flow (N, 2, H, W) float32,
        {pair index: out-of-memory error} of the pairs that failed alone; their flow rows are
        undefined). Any other error of the flow function is raised."""
        n, shape = prev.shape[0], tuple(prev.shape[1:])
        pieces: list[tuple[int, np.ndarray]] = []  # (start, flow of the pairs from there)
        failures: dict[int, BaseException] = {}
        todo = [(0, n)]  # a stack of [start, stop) ranges, lowest on top
        while todo:
            start, stop = todo.pop()
            fit = self._fits.get(shape, stop - start)
            if stop - start > fit:
                todo.extend(reversed([(s, min(s + fit, stop)) for s in range(start, stop, fit)]))
                continue
            outcome = self._attempt(prev[start:stop], next[start:stop])
            if isinstance(outcome, np.ndarray):
                self._succeeded(shape, stop - start)
                pieces.append((start, outcome))
            elif stop - start == 1:
                failures[start] = outcome
            else:
                half = (stop - start + 1) // 2
                self._fits[shape] = min(half, self._fits.get(shape, half))
                self._streaks[shape] = 0
                todo.extend([(start + half, stop), (start, start + half)])
        if len(pieces) == 1 and not failures:
            return pieces[0][1], failures  # the usual case: one call, no copy
        flow = np.zeros((n, 2, *shape), dtype=np.float32)
        for start, piece in pieces:
            flow[start : start + len(piece)] = piece
        return flow, failures

    def _attempt(self, prev: np.ndarray, next: np.ndarray) -> np.ndarray | BaseException:
        """The flow (float32 numpy), or the out-of-memory error the flow function raised."""
        try:
            return np.asarray(self.flow_fn(prev, next), dtype=np.float32)
        except Exception as exc:
            if failure_kind(exc) != OUT_OF_MEMORY:
                raise
            # Its traceback holds the frames of the failed call and so their tensors: drop it, so
            # that memory is free for the smaller retries.
            exc.__traceback__ = None
            return exc

    def _succeeded(self, shape: tuple, pairs: int) -> None:
        """Count a success at the remembered size; after GROW_AFTER of them, allow twice as many."""
        fit = self._fits.get(shape)
        if fit is None or pairs < fit:
            return
        self._streaks[shape] = self._streaks.get(shape, 0) + 1
        if self._streaks[shape] >= self.GROW_AFTER:
            self._streaks[shape] = 0
            self._fits[shape] = 2 * fit
