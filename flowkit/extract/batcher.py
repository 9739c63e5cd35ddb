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
from concurrent.futures import Future
from typing import Callable

import torch

FlowFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class FlowBatcher:
    """Thread-safe front of a flow function that batches concurrent requests.

    flow_fn: (prev (N, H, W) uint8, next (N, H, W) uint8) -> (N, 2, H, W) float32 flow in pixels.
    max_pairs: largest batch run at once (a single larger request runs alone). max_wait_s: how long
    the runner waits for more requests before running a batch that is not full.
    """

    def __init__(self, flow_fn: FlowFn, max_pairs: int = 64, max_wait_s: float = 0.005):
        self.flow_fn = flow_fn
        self.max_pairs = int(max_pairs)
        self.max_wait_s = float(max_wait_s)
        self._requests: queue.Queue = queue.Queue()
        self._runner = threading.Thread(target=self._run, name="flowkit-flow-batcher", daemon=True)
        self._runner.start()
        self.batches_run = 0

    def __call__(self, prev: torch.Tensor, next: torch.Tensor) -> torch.Tensor:
        """Flow of the pairs (prev[i], next[i]): (N, H, W) uint8 tensors -> (N, 2, H, W) float32 CPU
        tensor. Blocks until the batch holding them has run; re-raises the flow function's error."""
        if prev.shape != next.shape or prev.ndim != 3:
            raise ValueError(f"prev and next must both be (N, H, W), got {tuple(prev.shape)} and {tuple(next.shape)}")
        future: Future = Future()
        self._requests.put((prev, next, future))
        return future.result()

    def close(self) -> None:
        """Stop the runner thread (pending requests are still served)."""
        self._requests.put(None)
        self._runner.join()

    def _run(self) -> None:
        held: list = []  # requests taken from the queue but not yet run (other frame size)
        while True:
            first = held.pop(0) if held else self._requests.get()
            if first is None:
                return
            batch, count = [first], first[0].shape[0]
            shape = first[0].shape[1:]
            others = []
            for request in held:
                if request[0].shape[1:] == shape and count + request[0].shape[0] <= self.max_pairs:
                    batch.append(request)
                    count += request[0].shape[0]
                else:
                    others.append(request)
            held = others
            stop = False
            while count < self.max_pairs:
                try:
                    request = self._requests.get(timeout=self.max_wait_s)
                except queue.Empty:
                    break
                if request is None:
                    stop = True
                    break
                if request[0].shape[1:] == shape and count + request[0].shape[0] <= self.max_pairs:
                    batch.append(request)
                    count += request[0].shape[0]
                else:
                    held.append(request)
                    break
            self._serve(batch)
            if stop:
                for request in held:
                    self._serve([request])
                return

    def _serve(self, batch: list) -> None:
        try:
            prev = torch.cat([r[0] for r in batch]) if len(batch) > 1 else batch[0][0]
            next = torch.cat([r[1] for r in batch]) if len(batch) > 1 else batch[0][1]
            flow = self.flow_fn(prev, next).detach().float().cpu()
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
