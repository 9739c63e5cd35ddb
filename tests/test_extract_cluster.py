"""The promise to users who outgrow one machine: `flowkit extract --address` on a Ray cluster that
loses a node mid-run completes with the same store as a one-process run. The cluster is two Ray
nodes on this machine (ray.cluster_utils.Cluster), every server bound to 127.0.0.1; the worker
node is killed while it runs a video's task, which is retried on the head (one line said), and
Ray's reports about the dead node stay in its log folder instead of the terminal."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from extract_videos import make_tree, records_of, store_content
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.extract.ray_runner import ray_available
from flowkit.store.inspect import verify
from ray_helpers import command_line, descendants, is_loopback, listening_addresses

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not ray_available(), reason="ray is not installed")]

SLOW = dict(nscales=3, warps=3, inner_iterations=30, outer_iterations=10)
REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@pytest.fixture()
def cluster(monkeypatch):
    """A head node and one worker node, one CPU each, no dashboard, everything on 127.0.0.1."""
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray's processes (and the driver) stay on loopback
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    node = dict(node_ip_address=LOOPBACK, num_cpus=1, include_dashboard=False)
    cluster = Cluster(initialize_head=True, head_node_args=dict(gcs_server_port=_free_port(), **node))
    worker = cluster.add_node(**node)
    try:
        yield cluster, worker
    finally:
        cluster.shutdown()


def _busy_task(node) -> int | None:
    """A worker process of `node` running a task, if any."""
    raylet = node.all_processes["raylet"][0].process.pid
    return next((pid for pid in descendants(raylet) if command_line(pid).startswith("ray::_task")), None)


@pytest.mark.parametrize("shard_size", [None, 2], ids=["one-file", "sharded"])
def test_losing_a_node_mid_run_gives_the_same_store(cluster, tmp_path, shard_size):
    cluster, worker = cluster
    root = tmp_path / "videos"
    # Tasks long enough to be seen running: CPU flow starts fast (no torch in a worker), and tiny
    # videos would come and go between two looks.
    make_tree(root, {f"C{k % 2}/v{k}": 40 for k in range(6)}, size=(160, 120))
    reference = tmp_path / "reference.h5"
    content = ContentOptions(size=(160, 120), flow_params=SLOW)
    extract([root], reference, content, RunOptions(workers=0, progress=False))

    head_pids = descendants(os.getpid())
    addresses = listening_addresses(head_pids)
    assert addresses and all(is_loopback(a) for a in addresses), addresses

    output = tmp_path / "store.h5"
    slow = [f"--{key.replace('_', '-')}={value}" for key, value in SLOW.items()]
    command = [sys.executable, "-c", "from cli.flowkit_app import main; main()",
               "extract", str(root), "-o", str(output),
               "--cpu", "--address", cluster.address, "--size", "160x120", *slow]
    if shard_size:  # shards assembled while the run goes on, by processes beside the driver
        command += ["--shard-size", str(shard_size)]
    driver = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _busy_task(worker) is None and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _busy_task(worker) is not None, "no task ever ran on the worker node"
        # The node's processes, workers included: remove_node kills Ray's own processes, and an
        # orphaned worker would finish its short task before noticing; a lost machine takes all.
        node_pids = descendants(worker.all_processes["raylet"][0].process.pid)
        cluster.remove_node(worker, allow_graceful=False)  # kill -9 the node: raylet, workers and all
        for pid in node_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, err = driver.communicate(timeout=300)
    finally:
        driver.kill()
    assert driver.returncode == 0, err
    assert "videos: 6 ok, 0 failed" in out
    retries = [line for line in err.splitlines() if line.startswith("retrying ")]
    assert retries and all("(attempt 2 of 3)" in line for line in retries), err
    assert "state-dump" not in out + err and "(raylet)" not in out + err, out + err
    kept = [line for line in err.splitlines() if line.startswith("Ray's messages about lost workers or nodes")]
    for line in kept:  # when Ray's report of the dead node arrived before the run ended, it is in the log
        assert "(raylet)" in Path(line.rsplit(": ", 1)[1]).read_text()
    if shard_size:
        assert records_of(output) == records_of(reference) and verify(output) == []
    else:
        assert store_content(output) == store_content(reference)
