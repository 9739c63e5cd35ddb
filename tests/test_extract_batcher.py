"""Batching frame pairs of several videos into one flow call (the GPU path), checked on the CPU:
every caller gets exactly its own pairs' flow, requests really are packed together, errors reach
the callers, and the threaded GPU-style run writes the same parts as one video at a time.
Failures stay with their pairs (an out-of-memory error splits the batch, a pair failing alone fails
its caller only, a broken device stops every call) and no call waits forever (a runner that died at
any point, a call after close): each such test bounds its calls in time."""

import threading
import time
from concurrent.futures import Future

import cv2
import numpy as np
import pytest
import torch

from extract_videos import make_tree, textured_frames
from flowkit.extract import ContentOptions, RunOptions
from flowkit.extract import local
from flowkit.extract.batcher import FlowBatcher
from flowkit.extract.splitting import SplittingFlow
from flowkit.extract.failures import BROKEN_DEVICE, OTHER, OUT_OF_MEMORY, BrokenDeviceError, failure_kind
from flowkit.extract.jobs import plan_jobs
from flowkit.extract.parts import part_path, prepare_parts_dir, read_part
from flowkit.extract.worker import make_flow_fn
from flowkit.testing import CUDA_ILLEGAL_ACCESS, FaultyFlow, frame_digest

PARAMS = dict(nscales=3, warps=2, inner_iterations=5, outer_iterations=1)


def _gray(frames):
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def _chunks():
    """Requests of several sizes from four videos, two frame sizes."""
    chunks = []
    for seed, size, pairs in [(0, (64, 48), 5), (1, (64, 48), 3), (2, (48, 32), 4), (3, (64, 48), 1)]:
        gray = _gray(textured_frames(pairs + 1, size, shift=(seed + 1, 1), seed=seed))
        chunks.append((np.ascontiguousarray(gray[:-1]), np.ascontiguousarray(gray[1:])))
    return chunks


def test_each_caller_gets_its_own_flow_and_requests_are_packed():
    engine = make_flow_fn("tvl1", PARAMS)
    calls = []
    release = threading.Event()

    def recording_flow(prev, next):
        calls.append(tuple(prev.shape))
        if len(calls) == 1:
            release.wait(5)  # hold the first batch so the other requests queue up behind it
        return engine(prev, next)

    batcher = FlowBatcher(recording_flow, max_pairs=9, max_wait_s=0.05)
    chunks = _chunks()
    results = [None] * len(chunks)

    def call(i):
        results[i] = batcher(*chunks[i])

    threads = [threading.Thread(target=call, args=(0,))]
    threads[0].start()
    time.sleep(0.2)
    threads += [threading.Thread(target=call, args=(i,)) for i in range(1, len(chunks))]
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.3)
    release.set()
    for thread in threads:
        thread.join()
    batcher.close()
    for (prev, next), flow in zip(chunks, results):
        assert np.array_equal(flow, engine(prev, next))  # a pair's flow does not depend on its batch
    # Behind the first request, the two other 64x48 ones ran as one batch of 4 pairs; the 48x32
    # request ran on its own (sizes are never mixed).
    assert calls[0] == (5, 48, 64) and sorted(calls[1:]) == [(4, 32, 48), (4, 48, 64)]


def test_errors_reach_every_caller_of_the_batch():
    def failing(prev, next):
        raise RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")

    batcher = FlowBatcher(failing, max_pairs=8)
    prev, next = _chunks()[0]
    with pytest.raises(RuntimeError, match="NOT_SUPPORTED"):
        batcher(prev, next)
    with pytest.raises(ValueError, match="must both be"):
        batcher(prev, next[:2])
    batcher.close()


def test_threaded_batched_run_writes_the_same_parts(tmp_path, monkeypatch):
    """The in-process GPU path (worker threads sharing one FlowBatcher), run with the CPU engine, and
    the CPU path (the same, with the engine solving 3 pairs at a time): every part has the same bytes
    as from the one-video-at-a-time run."""
    root = tmp_path / "videos"
    make_tree(root, {"a/v1": 7, "a/v2": 12, "b/v3": 5, "b/v4": 9})
    jobs = plan_jobs([root])
    content = ContentOptions(size=(64, 48), flow_params=PARAMS, warped=True)
    # The GPU branch, with the engine built on the CPU (this machine may have no GPU).
    def cpu_flow_fn(content, device, compile=False, threads=None):
        return make_flow_fn("tvl1", PARAMS, threads=threads)

    monkeypatch.setattr(local, "local_flow_fn", cpu_flow_fn)
    outcomes = {}
    runs = [("inline", RunOptions(workers=0, batch_pairs=4)),
            ("batched", RunOptions(device="cuda", gpus=(0,), workers=3, batch_pairs=4)),
            ("cpu-threads", RunOptions(device="cpu", workers=3, batch_pairs=4))]
    for label, run in runs:
        parts = tmp_path / label
        prepare_parts_dir(parts, content.record(), overwrite=False)
        results = list(local.run_in_process(jobs, content, run, parts))
        assert sorted(r.name for r in results) == [j.name for j in jobs] and all(r.status == "ok" for r in results)
        outcomes[label] = {j.name: read_part(part_path(parts, j.name)) for j in jobs}
    for name, (record, encoded) in outcomes["inline"].items():
        for label in ("batched", "cpu-threads"):
            other_record, other_encoded = outcomes[label][name]
            assert record == other_record
            assert ({s: [r.tobytes() for r in v] for s, v in encoded.items()}
                    == {s: [r.tobytes() for r in v] for s, v in other_encoded.items()}), label


# ---------------------------------------------------------------- failure isolation


def _within(seconds, fn, *args):
    """Run fn(*args) on a thread; {'value': its result} or {'error': what it raised}. Fails the test
    when the call is still waiting after `seconds` (the bug these tests look for is a call that never returns)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # SystemExit too: it is what a dying runner hands its callers
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call still waits after {seconds} s"
    return outcome


def _held(flow_fn):
    """(flow function whose first call waits for the returned event, that event): requests sent
    meanwhile queue up and are packed together behind it."""
    release = threading.Event()
    first = [True]

    def held(prev, next):
        if first[0]:
            first[0] = False
            release.wait(10)
        return flow_fn(prev, next)

    return held, release


def _call_all(batcher, chunks, release):
    """Every chunk through `batcher` from its own thread (the first alone, then the rest queued behind
    it while `release` holds it): {index: outcome of _within}."""
    outcomes, threads = {}, []

    def call(i):
        outcomes[i] = _within(20, batcher, *chunks[i])

    for i in range(len(chunks)):
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
        if i == 0:
            time.sleep(0.2)
    time.sleep(0.3)
    release.set()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_failures_are_classified_by_one_function():
    assert failure_kind(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")) == OUT_OF_MEMORY
    assert failure_kind(torch.cuda.OutOfMemoryError("x")) == OUT_OF_MEMORY
    assert failure_kind(MemoryError()) == OUT_OF_MEMORY
    for message in (CUDA_ILLEGAL_ACCESS, "CUDA error: device-side assert triggered",
                    "CUDA error: unspecified launch failure", "Triton Error [CUDA]: an illegal memory access"):
        assert failure_kind(RuntimeError(message)) == BROKEN_DEVICE, message
    assert failure_kind(BrokenDeviceError("gone")) == BROKEN_DEVICE
    assert failure_kind(RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")) == OTHER
    assert failure_kind(ValueError("an illegal memory access")) == OTHER  # only runtime errors come from CUDA


def test_out_of_memory_splits_the_batch_and_remembers_what_fits():
    """An engine that holds 3 pairs at most: a 13-pair call is split down to what fits, each pair's
    flow is the normal engine's, and the next call goes straight to chunks that fit."""
    engine = make_flow_fn("tvl1", PARAMS)
    faulty = FaultyFlow("tvl1", PARAMS, max_pairs=3)
    batcher = FlowBatcher(faulty, max_pairs=64)
    gray = _gray(textured_frames(14, (40, 32), shift=(2, 1), seed=4))
    prev, next = np.ascontiguousarray(gray[:-1]), np.ascontiguousarray(gray[1:])
    expected = engine(prev, next)
    assert np.array_equal(_within(60, batcher, prev, next)["value"], expected)
    first = len(faulty.calls)
    assert [n for n in faulty.calls if n > 3] == [13, 7, 4]  # halved until it fit
    assert np.array_equal(_within(60, batcher, prev, next)["value"], expected)
    assert faulty.calls[first:] and max(faulty.calls[first:]) <= 3  # remembered: no second out-of-memory
    batcher.close()


def test_the_remembered_size_grows_back_when_memory_returns():
    engine = make_flow_fn("tvl1", PARAMS)
    limit, sizes = [3], []

    def pressured(prev, next):  # something else holds the device's memory while limit is low
        sizes.append(len(prev))
        if len(prev) > limit[0]:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return engine(prev, next)

    flow_fn = SplittingFlow(pressured)
    flow_fn.GROW_AFTER = 3
    gray = _gray(textured_frames(9, (32, 24), seed=5))
    prev, next = np.ascontiguousarray(gray[:-1]), np.ascontiguousarray(gray[1:])
    expected = engine(prev, next)
    assert np.array_equal(flow_fn(prev, next), expected)
    limit[0] = 8
    for _ in range(3):
        assert np.array_equal(flow_fn(prev, next), expected)
    # 8 and 4 run out of memory, 2 fits; 3 successes at 2 allow 4 again (the first call's last 2 pairs
    # were already cut), then 3 at 4 allow the whole call of 8.
    assert sizes == [8, 4, 2, 2, 2, 2, 4, 4, 4, 4, 8]


def test_a_pair_that_fails_alone_fails_only_its_caller():
    engine = make_flow_fn("tvl1", PARAMS)
    chunks = _chunks()
    poisoned = chunks[1][0][2]  # the third pair of the second request
    faulty = FaultyFlow("tvl1", PARAMS, poison={frame_digest(poisoned)})
    held, release = _held(faulty)
    batcher = FlowBatcher(held, max_pairs=9, max_wait_s=0.05)
    outcomes = _call_all(batcher, chunks, release)
    batcher.close()
    error = outcomes[1]["error"]
    assert isinstance(error, torch.OutOfMemoryError) and "poisoned" in str(error)
    for i in (0, 2, 3):
        assert np.array_equal(outcomes[i]["value"], engine(*chunks[i])), i
    # The poisoned request shared its first attempt with request 3 (3 + 1 pairs of 64x48): it was
    # split down to the poisoned pair alone, the others' flow still came back.
    assert faulty.calls[1] == 4 and faulty.calls.count(1) >= 2


def test_a_broken_device_stops_every_call_with_its_reason():
    seen = []
    chunks = _chunks()

    def broken(prev, next):
        raise RuntimeError(CUDA_ILLEGAL_ACCESS)

    held, release = _held(broken)
    batcher = FlowBatcher(held, max_pairs=9, on_broken=seen.append, poll_s=0.05)
    outcomes = _call_all(batcher, chunks, release)
    assert len(seen) == 1 and str(seen[0]) == CUDA_ILLEGAL_ACCESS  # a Ray actor's process ends here
    for i, outcome in outcomes.items():  # those in the batch and those queued behind it
        assert isinstance(outcome["error"], BrokenDeviceError) and "illegal memory access" in str(outcome["error"]), i
    later = _within(5, batcher, *chunks[0])["error"]
    assert isinstance(later, BrokenDeviceError) and "run the same extraction again" in str(later)
    batcher.close()


def test_a_call_after_close_raises_at_once():
    engine = make_flow_fn("tvl1", PARAMS)
    batcher = FlowBatcher(engine, max_pairs=8)
    prev, next = _chunks()[3]
    assert np.array_equal(batcher(prev, next), engine(prev, next))
    batcher.close()
    batcher.close()  # twice is harmless
    error = _within(5, batcher, prev, next)["error"]
    assert isinstance(error, RuntimeError) and "closed" in str(error)


def test_a_runner_that_dies_fails_its_callers_and_every_later_call():
    chunks = _chunks()

    def exiting(prev, next):
        raise SystemExit(3)  # not an Exception: it ends the runner thread

    held, release = _held(exiting)
    batcher = FlowBatcher(held, max_pairs=4, poll_s=0.05)
    outcomes = _call_all(batcher, chunks, release)
    assert all(isinstance(o["error"], SystemExit) for o in outcomes.values()), outcomes
    later = _within(5, batcher, *chunks[0])["error"]
    assert isinstance(later, RuntimeError) and "stopped after SystemExit" in str(later)
    batcher.close()


def test_a_runner_dying_between_a_calls_check_and_its_put_still_answers_it():
    """The runner dies after the caller found it alive and before its request is queued: the
    caller still gets an error (it used to wait forever)."""
    prev, next = _chunks()[0]
    doomed_prev, doomed_next = _chunks()[3]

    def exiting(prev, next):
        raise SystemExit(3)

    batcher = FlowBatcher(exiting, max_pairs=8, poll_s=0.05)
    put = batcher._requests.put

    def racing_put(item, *args, **kwargs):
        if item is not None and item[0] is prev:
            put((doomed_prev, doomed_next, Future()))  # the runner takes it and dies on it
            deadline = time.monotonic() + 10
            while batcher._dead is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert batcher._dead is not None
        put(item, *args, **kwargs)

    batcher._requests.put = racing_put
    error = _within(10, batcher, prev, next)["error"]
    assert isinstance(error, (SystemExit, RuntimeError)), error
    batcher.close()


def test_a_runner_that_ended_unnoticed_is_found_by_the_waiting_caller():
    class Vanishing(FlowBatcher):
        def _loop(self, waiting):  # the runner ends at once without a word: nobody fails the requests
            return

    batcher = Vanishing(make_flow_fn("tvl1", PARAMS), poll_s=0.05)
    batcher._runner.join(5)
    error = _within(5, batcher, *_chunks()[0])["error"]
    assert isinstance(error, RuntimeError) and "runner stopped" in str(error)
