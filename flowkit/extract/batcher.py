"""Batching frame pairs from several videos into one flow call, to keep a GPU busy.

Callers (worker threads, or the threads of a Ray actor) each submit a chunk of pairs of one video
and block; one runner thread packs waiting chunks of the same frame size into a batch of up to
`max_pairs` pairs, runs the flow function once, and hands each caller its slice. The flow engine
solves every pair independently (its convergence is per pair), so a pair's flow does not depend on
which other pairs shared its batch: the result is the same as with unbatched calls.

Failures stay with the pairs they belong to (flowkit.extract.failures classifies them):
- out of memory: the batch is split in halves and each half tried again, down to one pair
  (flowkit.extract.splitting). A pair that fails alone fails only the caller holding it, with that error.
- a broken device (a sticky CUDA error): `on_broken` is called (a Ray actor exits there, so Ray
  restarts it and runs its pending calls again); without it, every pending and later call raises
  BrokenDeviceError.
- any other error of the flow function reaches every caller of that batch.
No call waits forever: a call after close() raises at once, and a caller whose runner thread has
ended (whenever that happened) gets an error within `poll_s` seconds.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Callable

import numpy as np

from flowkit.extract.failures import BROKEN_DEVICE, BrokenDeviceError, broken_device_error, describe, failure_kind
from flowkit.extract.splitting import SplittingFlow
from flowkit.flow.functions import FlowFn


class FlowBatcher:
    """Thread-safe front of a flow function that batches concurrent requests.

    flow_fn: (prev (N, H, W) uint8, next (N, H, W) uint8) -> (N, 2, H, W) float32 flow in pixels, numpy
    (a tensor is converted).
    max_pairs: largest batch run at once (a single larger request runs alone). max_wait_s: how long
    the runner waits for more requests before running a batch that is not full. on_broken: called
    with the error when the device breaks (module docstring). poll_s: how often a waiting caller
    checks that the runner thread is still alive, seconds.
    """

    def __init__(self, flow_fn: FlowFn, max_pairs: int = 64, max_wait_s: float = 0.005,
                 on_broken: Callable[[BaseException], None] | None = None, poll_s: float = 1.0):
        self.flow_fn = flow_fn
        self.max_pairs = int(max_pairs)
        self.max_wait_s = float(max_wait_s)
        self.on_broken = on_broken
        self.poll_s = float(poll_s)
        self._requests: queue.Queue = queue.Queue()
        self._dead: BaseException | None = None
        self._closed = False
        self._lock = threading.Lock()  # a request is never queued after close()'s end marker
        self.splitting = SplittingFlow(flow_fn)
        self._runner = threading.Thread(target=self._run, name="flowkit-flow-batcher", daemon=True)
        self._runner.start()
        self.batches_run = 0

    def __call__(self, prev, next) -> np.ndarray:
        """Flow of the pairs (prev[i], next[i]): (N, H, W) uint8 (numpy, or CPU tensors) -> (N, 2, H, W)
        float32 numpy. Blocks until the batch holding them has run; re-raises the flow function's error
        (for an out-of-memory error: only when one of these pairs fails alone). RuntimeError at once
        after close(); BrokenDeviceError or RuntimeError when the runner has stopped."""
        if prev.shape != next.shape or prev.ndim != 3:
            raise ValueError(f"prev and next must both be (N, H, W), got {tuple(prev.shape)} and {tuple(next.shape)}")
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the flow batcher is closed: it takes no more flow calls")
            if self._dead is not None:
                raise self._stopped_error()
            self._requests.put((prev, next, future))
        while True:
            try:
                return future.result(timeout=self.poll_s)
            except TimeoutError:
                if future.done():
                    raise  # the flow function's own TimeoutError
                # A runner that has ended (its last act is failing the requests it holds) answers nothing more.
                if not self._runner.is_alive() and not future.done():
                    raise self._stopped_error()  # its __cause__ is the runner's error

    def close(self) -> None:
        """Stop the runner thread (pending requests are still served). Later calls raise at once."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._requests.put(None)
        self._runner.join()

    def _stopped_error(self) -> BaseException:
        """The error for a call the stopped runner will never serve (a fresh one for each caller)."""
        dead = self._dead
        if isinstance(dead, BrokenDeviceError):
            return broken_device_error(dead)
        reason = f" after {describe(dead)}" if dead is not None else ""
        error = RuntimeError(f"the flow batcher's runner stopped{reason}")
        error.__cause__ = dead
        return error

    def _run(self) -> None:
        waiting: list = []
        try:
            self._loop(waiting)
        except BaseException as exc:  # never leave a caller waiting on a dead runner
            self._dead = exc
            with self._lock:
                while True:
                    try:
                        request = self._requests.get_nowait()
                    except queue.Empty:
                        break
                    if request is not None:
                        waiting.append(request)
            for request in waiting:
                if not request[2].done():
                    request[2].set_exception(self._stopped_error() if isinstance(exc, BrokenDeviceError) else exc)
            # A bug of the runner shows its traceback; a broken device or an exit (SystemExit...) has
            # been told to every caller already.
            if isinstance(exc, Exception) and not isinstance(exc, BrokenDeviceError):
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
        """Run one batch and answer its callers. Raises (stopping the runner) on a broken device
        without on_broken, and on a BaseException that is not an Exception (after answering)."""
        try:
            prev = np.concatenate([np.asarray(r[0]) for r in batch]) if len(batch) > 1 else np.asarray(batch[0][0])
            next = np.concatenate([np.asarray(r[1]) for r in batch]) if len(batch) > 1 else np.asarray(batch[0][1])
            flow, failures = self.splitting.solve(prev, next)
            self.batches_run += 1
        except Exception as exc:
            if failure_kind(exc) == BROKEN_DEVICE:
                self._broken(exc, batch)
            for request in batch:  # the whole batch's error: hand it to every waiting caller
                request[2].set_exception(exc)
            return
        except BaseException as exc:
            for request in batch:
                request[2].set_exception(exc)
            raise
        start = 0
        for request in batch:
            n = request[0].shape[0]
            failed = [failures[i] for i in range(start, start + n) if i in failures]
            if failed:
                request[2].set_exception(failed[0])
            else:
                request[2].set_result(flow[start : start + n])
            start += n

    def _broken(self, exc: BaseException, batch: list) -> None:
        """The device broke while running `batch`: call on_broken (which may end the process), else
        raise BrokenDeviceError, which makes _run fail every pending request with it."""
        if self.on_broken is not None:
            self.on_broken(exc)
        error = broken_device_error(exc)
        for request in batch:
            request[2].set_exception(broken_device_error(error))
        raise error from exc
