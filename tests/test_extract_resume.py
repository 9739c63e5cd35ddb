"""Crash safety: `kill -9` a real `flowkit extract` process mid-run (twice), run the same command
again, and the store is identical to an uninterrupted run's; the store file never appears half-written."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from extract_videos import make_tree, records_of, sharded_content, store_content
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.extract.parts import parts_dir_for

pytestmark = pytest.mark.slow

FAST = ["--nscales", "3", "--warps", "2", "--inner-iterations", "5", "--outer-iterations", "1"]
REPO = Path(__file__).resolve().parents[1]


def _command(root, output):
    args = ["extract", str(root), "-o", str(output), "--cpu", "--workers", "0", "--size", "64x48", *FAST]
    return [sys.executable, "-c", "from cli.flowkit_app import main; main()", *args]


def _kill_after_parts(command, parts: Path, count: int, timeout: float = 120.0) -> None:
    """Start `command`, SIGKILL it once `parts` holds at least `count` finished parts."""
    _kill_when(command, lambda: len(list(parts.glob("*.npz"))) >= count, timeout)


def test_kill_and_rerun_gives_the_same_store(tmp_path):
    root = tmp_path / "videos"
    make_tree(root, {f"C{k % 2}/video{k}": 20 + k for k in range(6)})  # ~0.4 s of flow each
    reference = tmp_path / "reference.h5"
    flow_params = dict(nscales=3, warps=2, inner_iterations=5, outer_iterations=1)
    content = ContentOptions(size=(64, 48), flow_params=flow_params)
    extract([root], reference, content, RunOptions(workers=0, progress=False))

    output = tmp_path / "store.h5"
    parts = parts_dir_for(output)
    _kill_after_parts(_command(root, output), parts, 1)
    assert not output.exists()
    _kill_after_parts(_command(root, output), parts, 3)  # the resumed run, killed again
    assert not output.exists()
    # What a kill in the middle of writing leaves: a temporary part and a partial store.
    (parts / "C0_video0-0123456789abcdef.npz.deadbeef.tmp").write_bytes(b"half a part")
    output.with_name(output.name + ".partial").write_bytes(b"half a store")

    finished = subprocess.run(_command(root, output), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "6 ok, 0 failed" in finished.stdout and "resumed from an earlier run" in finished.stdout
    assert store_content(output) == store_content(reference)
    assert not parts.exists() and not output.with_name(output.name + ".partial").exists()


def _kill_when(command, ready, timeout: float = 120.0) -> None:
    """Start `command`, SIGKILL it once ready() holds."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None and not ready():
            time.sleep(0.01)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -9, "the run ended before it could be killed"


def test_kill_during_a_sharded_run_and_rerun_gives_the_same_shards(tmp_path):
    root = tmp_path / "videos"
    make_tree(root, {f"C{k % 2}/video{k}": 20 + k for k in range(6)})
    flow_params = dict(nscales=3, warps=2, inner_iterations=5, outer_iterations=1)
    content = ContentOptions(size=(64, 48), flow_params=flow_params)
    single = extract([root], tmp_path / "single.h5", content, RunOptions(workers=0, progress=False)).output
    reference = extract([root], tmp_path / "ref" / "store.h5", content,
                        RunOptions(workers=0, progress=False, shard_size=2)).output

    output = tmp_path / "run" / "store.h5"
    parts = parts_dir_for(output)
    # Two threads extract and two assembler processes build shards: the kill takes them all.
    command = _command(root, output) + ["--shard-size", "2"]
    command[command.index("--workers") + 1] = "2"
    _kill_when(command, lambda: len(list(parts.glob("*.npz"))) >= 1)
    _kill_when(command, lambda: (output.parent / "store-00000.h5").is_file())
    assert not output.exists()
    (parts / "store-00001.h5.deadbeef.shard.partial").write_bytes(b"half a shard")  # what a killed assembly leaves

    finished = subprocess.run(_command(root, output), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "6 ok, 0 failed" in finished.stdout and "resumed from an earlier run" in finished.stdout
    assert sharded_content(output) == sharded_content(reference)
    assert records_of(output) == records_of(single)
    assert not parts.exists() and sorted(p.name for p in output.parent.iterdir()) == [
        "store-00000.h5", "store-00001.h5", "store-00002.h5", "store.h5"]
