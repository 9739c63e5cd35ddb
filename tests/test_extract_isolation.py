"""Failure isolation in an extraction run, on the CPU with a flow engine that fails like a GPU one
(flowkit.testing.FaultyFlow): out-of-memory errors above a batch size cost nothing but retries (the
store equals a run without them), a pair that fails even alone fails its own video only, with the
reason, in the summary, the store and `flowkit info`; a broken device stops the run without
recording any video failed, and the rerun resumes to the same store. (The Ray GPU actor's restart is
in test_extract_ray.py.)"""

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import make_tree, store_content
from flowkit.color import rgb_to_gray
from flowkit.extract import ContentOptions, RunOptions, extract, local
from flowkit.extract.failures import BrokenDeviceError
from flowkit.extract.parts import parts_dir_for
from flowkit.store import FlowStore
from flowkit.store.format import STATUS_FAILED
from flowkit.testing import FaultyFlow, frame_digest
from flowkit.video import iter_frames

PARAMS = dict(nscales=3, warps=2, inner_iterations=5, outer_iterations=1)
CONTENT = ContentOptions(size=(64, 48), flow_params=PARAMS)
VIDEOS = {"a/v1": 7, "a/v2": 12, "b/bad": 6, "b/v3": 5}


def _faulty_engine(monkeypatch, **faults):
    """Make the in-process runs use FaultyFlow(**faults) as their engine."""
    def make(content, device, compile=False, threads=None):
        return FaultyFlow(content.algo, content.flow_params, **faults)

    monkeypatch.setattr(local, "local_flow_fn", make)


def poisoned_frame(path, content: ContentOptions, index: int) -> str:
    """frame_digest of the gray frame `index` of a video, as extraction computes flow on it."""
    frames = np.stack(list(iter_frames(path, size=content.size)))
    return frame_digest(rgb_to_gray(frames)[index])


@pytest.mark.parametrize("workers", [0, 3])
def test_out_of_memory_costs_retries_and_a_pair_failing_alone_fails_only_its_video(tmp_path, monkeypatch, workers):
    root = tmp_path / "videos"
    paths = make_tree(root, VIDEOS, size=(64, 48))
    reference = tmp_path / "reference.h5"
    extract([root], reference, CONTENT, RunOptions(workers=0, progress=False))
    poison = poisoned_frame(paths["b/bad"], CONTENT, 2)
    _faulty_engine(monkeypatch, max_pairs=3, poison={poison})
    output = tmp_path / "faulty.h5"
    summary = extract([root], output, CONTENT, RunOptions(workers=workers, batch_pairs=4, progress=False))
    reason = "OutOfMemoryError: CUDA out of memory: a poisoned pair"
    assert summary.failures == [("b/bad", reason)] and summary.videos_ok == 3
    with FlowStore(output) as store, FlowStore(reference) as expected:
        assert [(v.name, v.status, v.error) for v in store.videos if v.status == STATUS_FAILED] == [
            ("b/bad", STATUS_FAILED, reason)]
        for index, (video, want) in enumerate(zip(store.videos, expected.videos)):
            if video.name == "b/bad":
                continue
            assert replace(video, rgb_start=0, flow_start=0) == replace(want, rgb_start=0, flow_start=0)
            for stream in store.streams:  # every record of the three others is the normal engine's
                frames = range(store.num_records(index, stream))
                assert ([r.tobytes() for r in store.read_encoded(stream, index, frames)]
                        == [r.tobytes() for r in expected.read_encoded(stream, index, frames)]), (video.name, stream)
    from cli.flowkit_app import main

    result = CliRunner().invoke(main, ["info", str(output)])
    assert result.exit_code == 0 and f"failed: b/bad: {reason}" in result.output.splitlines(), result.output


@pytest.mark.parametrize("workers", [0, 3])
def test_a_broken_device_stops_the_run_and_the_rerun_resumes(tmp_path, monkeypatch, workers):
    root = tmp_path / "videos"
    make_tree(root, VIDEOS, size=(64, 48))
    reference = tmp_path / "reference.h5"
    extract([root], reference, CONTENT, RunOptions(workers=0, progress=False))
    marker = tmp_path / "broke"
    _faulty_engine(monkeypatch, break_once=str(marker))
    output = tmp_path / "store.h5"
    run = RunOptions(workers=workers, batch_pairs=4, progress=False)
    with pytest.raises(BrokenDeviceError, match="illegal memory access.*run the same extraction again"):
        extract([root], output, CONTENT, run)
    assert marker.exists() and not output.exists()
    summary = extract([root], output, CONTENT, run)  # the device works again (a new process would)
    assert (summary.videos_ok, summary.videos_failed) == (4, 0)
    assert not parts_dir_for(output).exists()
    assert store_content(output) == store_content(reference)
