"""Batching frame pairs from several videos into one flow call, to keep a GPU busy.

Callers (worker threads, or the threads of a Ray actor) each submit a chunk of pairs of one video
and block; one runner thread packs waiting chunks of the same frame size into a batch of up to
`max_pairs` pairs, runs the flow function once, and hands each caller its slice. The flow engine
solves every pair independently (its convergence is per pair), so a pair's flow does not depend on
which other pairs shared its batch: the result is the same as with unbatched calls.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

import numpy as np

from flowkit.flow.functions import FlowFn


class FlowBatcher:
    """Thread-safe front of a flow function that batches concurrent requests.

    flow_fn: (prev (N, H, W) uint8, next (N, H, W) uint8) -> (N, 2, H, W) float32 flow in pixels, numpy
    (a tensor is converted).
    max_pairs: largest batch run at once (a single larger request runs alone). max_wait_s: how long
    the runner waits for more requests before running a batch that is not full.
    """

    def __init__(self, flow_fn: FlowFn, max_pairs: int = 64, max_wait_s: float = 0.005):
        self.flow_fn = flow_fn
        self.max_pairs = int(max_pairs)
        self.max_wait_s = float(max_wait_s)
        self._requests: queue.Queue = queue.Queue()
        self._dead: BaseException | None = None
        self._runner = threading.Thread(target=self._run, name="flowkit-flow-batcher", daemon=True)
        self._runner.start()
        self.batches_run = 0

    def __call__(self, prev, next) -> np.ndarray:
        """Flow of the pairs (prev[i], next[i]): (N, H, W) uint8 (numpy, or CPU tensors) -> (N, 2, H, W)
        float32 numpy. Blocks until the batch holding them has run; re-raises the flow function's error."""
        if prev.shape != next.shape or prev.ndim != 3:
            raise ValueError(f"prev and next must both be (N, H, W), got {tuple(prev.shape)} and {tuple(next.shape)}")
        if self._dead is not None:
            raise RuntimeError("the flow batcher stopped after an internal error") from self._dead
        future: Future = Future()
        self._requests.put((prev, next, future))
        return future.result()

    def close(self) -> None:
        """Stop the runner thread (pending requests are still served)."""
        self._requests.put(None)
        self._runner.join()

    def _run(self) -> None:
        waiting: list = []
        try:
            self._loop(waiting)
        except BaseException as exc:  # never leave a caller waiting on a dead runner
            self._dead = exc
            while True:
                try:
                    request = self._requests.get_nowait()
                except queue.Empty:
                    break
                if request is not None:
                    waiting.append(request)
            for request in waiting:
                if not request[2].done():
                    request[2].set_exception(exc)
            raise

    def _loop(self, waiting: list) -> None:
        """Serve requests until closed. waiting: requests taken off the queue but not yet run, in
        arrival order (kept in place so _run can fail them if this raises)."""
        stop = False
        while True:
            if not waiting:
                if stop:
                    return
                request = self._requests.get()
                if request is None:
                    return
                waiting.append(request)
            stop = self._drain(waiting, block_s=0.0) or stop
            batch = self._pack(waiting)
            deadline = time.monotonic() + self.max_wait_s
            while not stop and self._pairs(batch) < self.max_pairs and time.monotonic() < deadline:
                stop = self._drain(waiting, block_s=max(deadline - time.monotonic(), 0.0))
                batch = self._pack(waiting)
            chosen = {id(request) for request in batch}
            waiting[:] = [request for request in waiting if id(request) not in chosen]
            self._serve(batch)

    def _drain(self, waiting: list, block_s: float) -> bool:
        """Move queued requests to `waiting` (waiting up to block_s for the first). True on close."""
        try:
            request = self._requests.get(timeout=block_s) if block_s > 0 else self._requests.get_nowait()
            while True:
                if request is None:
                    return True
                waiting.append(request)
                request = self._requests.get_nowait()
        except queue.Empty:
            return False

    def _pack(self, waiting: list) -> list:
        """The oldest request plus the next ones of its frame size that fit in max_pairs."""
        shape = waiting[0][0].shape[1:]
        batch: list = []
        count = 0
        for request in waiting:
            n = request[0].shape[0]
            if request[0].shape[1:] == shape and (not batch or count + n <= self.max_pairs):
                batch.append(request)
                count += n
        return batch

    @staticmethod
    def _pairs(batch: list) -> int:
        return sum(request[0].shape[0] for request in batch)

    def _serve(self, batch: list) -> None:
        try:
            prev = np.concatenate([np.asarray(r[0]) for r in batch]) if len(batch) > 1 else batch[0][0]
            next = np.concatenate([np.asarray(r[1]) for r in batch]) if len(batch) > 1 else batch[0][1]
            flow = np.asarray(self.flow_fn(prev, next), dtype=np.float32)
            self.batches_run += 1
        except BaseException as exc:  # hand the error to every waiting caller
            for request in batch:
                request[2].set_exception(exc)
            return
        start = 0
        for request in batch:
            n = request[0].shape[0]
            request[2].set_result(flow[start : start + n])
            start += n
