"""Batching frame pairs of several videos into one flow call (the GPU path), checked on the CPU:
every caller gets exactly its own pairs' flow, requests really are packed together, errors reach
the callers, and the threaded GPU-style run writes the same parts as one video at a time."""

import threading
import time

import cv2
import numpy as np
import pytest

from extract_videos import make_tree, textured_frames
from flowkit.extract import ContentOptions, RunOptions
from flowkit.extract import local
from flowkit.extract.batcher import FlowBatcher
from flowkit.extract.jobs import plan_jobs
from flowkit.extract.parts import part_path, prepare_parts_dir, read_part
from flowkit.extract.worker import make_flow_fn

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
        raise RuntimeError("CUDA out of memory")

    batcher = FlowBatcher(failing, max_pairs=8)
    prev, next = _chunks()[0]
    with pytest.raises(RuntimeError, match="out of memory"):
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
