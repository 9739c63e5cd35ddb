"""Extraction through Ray with 2 local workers: the same store as in-process, nothing listening
beyond the loopback interface, a worker that dies is retried, then the video marked failed, and the
GPU actor (its engine on the CPU) keeps failures to their pairs and is replaced when its device breaks."""

import functools
import os

import pytest

from extract_videos import make_tree, store_content
from ray_helpers import descendants, is_loopback, listening_addresses
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.extract.jobs import plan_jobs
from flowkit.extract.parts import parts_dir_for, prepare_parts_dir, read_part_record
from flowkit.extract.ray_runner import init_ray, ray_available, run_with_ray
from flowkit.extract.worker import make_flow_fn, run_job
from flowkit.store.format import STATUS_FAILED, STATUS_OK

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not ray_available(), reason="ray is not installed")]

CONTENT = ContentOptions(size=(64, 48), flow_params=dict(nscales=3, warps=2, inner_iterations=5, outer_iterations=1))


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray started the way `extract` starts one (2 CPUs, loopback only)."""
    import ray

    if ray.is_initialized():
        pytest.skip("another Ray session is active in this process")
    init_ray(RunOptions(workers=2))
    yield ray
    ray.shutdown()


def test_local_ray_listens_on_loopback_only(ray_session):
    assert ray_session.util.get_node_ip_address() == "127.0.0.1"
    assert ray_session.cluster_resources()["CPU"] == 2
    addresses = listening_addresses(descendants(os.getpid()) | {os.getpid()})
    assert addresses, "found no Ray server sockets to check"
    assert all(is_loopback(a) for a in addresses), addresses


def test_ray_store_equals_in_process_store(ray_session, tmp_path):
    root = tmp_path / "videos"
    make_tree(root, {"A/one": 7, "A/two": 10, "B/three": 8, "B/four": 6})
    ray_summary = extract([root], tmp_path / "ray.h5", CONTENT, RunOptions(workers=2, progress=False))
    assert ray_summary.engine == "ray" and (ray_summary.videos_ok, ray_summary.videos_failed) == (4, 0)
    extract([root], tmp_path / "inline.h5", CONTENT, RunOptions(workers=0, progress=False))
    assert store_content(tmp_path / "ray.h5") == store_content(tmp_path / "inline.h5")


def test_dead_workers_are_retried_then_the_video_fails(ray_session, tmp_path):
    root = tmp_path / "videos"
    make_tree(root, {"always/v": 4, "once/v": 4, "fine/v": 4})
    markers = tmp_path / "markers"
    markers.mkdir()

    def dying_job(job, content, parts_dir, flow_fn, batch_pairs):
        marker = markers / job.name.replace("/", "_")
        if job.name == "always/v" or (job.name == "once/v" and not marker.exists()):
            marker.touch()
            os._exit(1)  # the worker process dies mid-video
        return run_job(job, content, parts_dir, flow_fn, batch_pairs)

    parts = parts_dir_for(tmp_path / "s.h5")
    content = ContentOptions(size=(64, 48), algo="farneback")
    prepare_parts_dir(parts, content.record(), overwrite=False)
    jobs = plan_jobs([root])
    options = RunOptions(workers=2, max_retries=1)
    results = {r.name: r for r in run_with_ray(jobs, content, options, parts, job_fn=dying_job)}
    assert results["fine/v"].status == STATUS_OK and results["once/v"].status == STATUS_OK  # retried once
    assert results["always/v"].status == STATUS_FAILED
    assert "died 2 times" in results["always/v"].error, results["always/v"].error
    record = read_part_record(next(p for p in parts.glob("always_v-*.npz")))
    assert record.status == STATUS_FAILED and record.error == results["always/v"].error


def test_gpu_actor_path_batches_tasks_and_gives_the_same_parts(ray_session, tmp_path, monkeypatch):
    """The --gpu path (tasks sending their pairs to a FlowServer actor that batches them), with
    the actor's engine on the CPU: every part has the same bytes as from the in-process run."""
    from flowkit.extract import ray_runner
    from flowkit.extract.parts import part_path, read_part

    def cpu_actors(ray, content, run):
        server = ray_runner.flow_server(ray, run, num_cpus=0)
        return [server.remote(functools.partial(make_flow_fn, content.algo, content.flow_params), 4 * run.batch_pairs)]

    monkeypatch.setattr(ray_runner, "flow_actors", cpu_actors)
    root = tmp_path / "videos"
    make_tree(root, {"a/v1": 7, "a/v2": 12, "b/v3": 5})
    jobs = plan_jobs([root])
    content = CONTENT
    outcomes = {}
    for label, run, runner in [
        ("inline", RunOptions(workers=0, batch_pairs=4), None),
        ("actor", RunOptions(device="cuda", gpus=(0,), workers=2, batch_pairs=4), run_with_ray),
    ]:
        parts = tmp_path / label
        prepare_parts_dir(parts, content.record(), overwrite=False)
        if runner is None:
            from flowkit.extract.local import run_in_process

            results = list(run_in_process(jobs, content, run, parts))
        else:
            results = list(runner(jobs, content, run, parts))
        assert all(r.status == STATUS_OK for r in results), results
        outcomes[label] = {j.name: read_part(part_path(parts, j.name)) for j in jobs}
    for name, (record, encoded) in outcomes["inline"].items():
        other_record, other_encoded = outcomes["actor"][name]
        assert record == other_record
        inline_bytes = {s: [r.tobytes() for r in v] for s, v in encoded.items()}
        actor_bytes = {s: [r.tobytes() for r in v] for s, v in other_encoded.items()}
        assert inline_bytes == actor_bytes


def test_gpu_actor_isolates_out_of_memory_and_is_replaced_when_its_device_breaks(ray_session, tmp_path, monkeypatch):
    """The actor's engine holds 3 pairs at most, refuses one pair of b/bad even alone, and breaks its
    CUDA context once: every other video's part equals the in-process run's, b/bad alone fails with
    its reason, and the actor that broke was replaced (a new process) with its pending calls run again."""
    from flowkit.extract import ray_runner
    from flowkit.extract.local import run_in_process
    from flowkit.extract.parts import part_path, read_part
    from flowkit.testing import FaultyFlow
    from test_extract_isolation import poisoned_frame

    root = tmp_path / "videos"
    paths = make_tree(root, {"a/v1": 7, "a/v2": 12, "b/bad": 6, "b/v3": 5})
    marker = tmp_path / "broke"
    poison = poisoned_frame(paths["b/bad"], CONTENT, 2)
    actors, pids = [], []

    def pid(actor):
        return ray_session.get(actor.__ray_call__.remote(lambda self: os.getpid()))

    def faulty_actors(ray, content, run):
        faulty = functools.partial(FaultyFlow, content.algo, content.flow_params, max_pairs=3, poison={poison},
                                   break_once=str(marker))
        actors.append(ray_runner.flow_server(ray, run, num_cpus=0).remote(faulty, 4 * run.batch_pairs))
        pids.append(pid(actors[-1]))
        return actors

    monkeypatch.setattr(ray_runner, "flow_actors", faulty_actors)
    jobs = plan_jobs([root])
    outcomes = {}
    for label, run, runner in [("inline", RunOptions(workers=0, batch_pairs=4), run_in_process),
                               ("actor", RunOptions(device="cuda", gpus=(0,), workers=2, batch_pairs=4,
                                                    max_retries=1), run_with_ray)]:
        parts = tmp_path / label
        prepare_parts_dir(parts, CONTENT.record(), overwrite=False)
        results = {r.name: r for r in runner(jobs, CONTENT, run, parts)}
        outcomes[label] = {j.name: read_part(part_path(parts, j.name)) for j in jobs}
    assert marker.exists()  # the device broke once
    assert results["b/bad"].status == STATUS_FAILED
    assert results["b/bad"].error == "OutOfMemoryError: CUDA out of memory: a poisoned pair"
    assert all(r.status == STATUS_OK for name, r in results.items() if name != "b/bad"), results
    for name, (record, encoded) in outcomes["inline"].items():
        if name == "b/bad":
            continue
        other_record, other_encoded = outcomes["actor"][name]
        assert record == other_record
        assert ({s: [r.tobytes() for r in v] for s, v in encoded.items()}
                == {s: [r.tobytes() for r in v] for s, v in other_encoded.items()})
    assert len(actors) == 1 and pid(actors[0]) != pids[0]  # the same actor, in a new process


def test_a_gpu_actor_without_restarts_left_stops_the_run(ray_session, tmp_path, monkeypatch):
    """No restart allowed (max_retries=0): the broken device ends the run with BrokenDeviceError
    rather than failing every later video, and no video is recorded failed."""
    from flowkit.extract import ray_runner
    from flowkit.extract.failures import BrokenDeviceError
    from flowkit.testing import FaultyFlow

    root = tmp_path / "videos"
    make_tree(root, {"a/v1": 5, "b/v2": 5})
    marker = tmp_path / "broke"

    def faulty_actors(ray, content, run):
        faulty = functools.partial(FaultyFlow, content.algo, content.flow_params, break_once=str(marker))
        return [ray_runner.flow_server(ray, run, num_cpus=0).remote(faulty, 4 * run.batch_pairs)]

    monkeypatch.setattr(ray_runner, "flow_actors", faulty_actors)
    parts = tmp_path / "parts"
    prepare_parts_dir(parts, CONTENT.record(), overwrite=False)
    run = RunOptions(device="cuda", gpus=(0,), workers=2, batch_pairs=4, max_retries=0)
    with pytest.raises(BrokenDeviceError, match="GPU flow actor is gone"):
        list(run_with_ray(plan_jobs([root]), CONTENT, run, parts))
    assert marker.exists() and not any(read_part_record(p).status == STATUS_FAILED for p in parts.glob("*.npz"))
def test_each_ray_worker_runs_as_many_threads_as_its_cpus(ray_session, tmp_path):
    """A 2-worker extraction: in every task, the solver's thread count, OpenCV's thread pool and the
    process's CPU count are the task's num_cpus (1), not the node's cores."""
    import json
    import threading

    root = tmp_path / "videos"
    make_tree(root, {"a/v1": 6, "a/v2": 6, "b/v3": 6, "b/v4": 6})
    seen = tmp_path / "seen"
    seen.mkdir()

    def recording_job(job, content, parts_dir, flow_fn, batch_pairs):
        import cv2
        import ray

        from flowkit.cpus import available_cpus

        result = run_job(job, content, parts_dir, flow_fn, batch_pairs)
        solver_threads = [t for t in threading.enumerate() if t.name.startswith("flowkit-tvl1")]
        record = dict(pid=os.getpid(), num_cpus=ray.get_runtime_context().get_assigned_resources()["CPU"],
                      solver=flow_fn.threads, solver_pool=len(solver_threads), cv2=cv2.getNumThreads(),
                      available=available_cpus())
        (seen / job.name.replace("/", "_")).write_text(json.dumps(record))
        return result

    parts = parts_dir_for(tmp_path / "s.h5")
    prepare_parts_dir(parts, CONTENT.record(), overwrite=False)
    results = list(run_with_ray(plan_jobs([root]), CONTENT, RunOptions(workers=2), parts, job_fn=recording_job))
    assert [r.status for r in results] == [STATUS_OK] * 4, results
    records = [json.loads(p.read_text()) for p in sorted(seen.iterdir())]
    assert len(records) == 4
    for record in records:
        assert record["num_cpus"] == 1
        assert record["solver"] == record["cv2"] == record["available"] == 1, record
        assert record["solver_pool"] <= 1, record  # one CPU: pairs solved inline, no pool
