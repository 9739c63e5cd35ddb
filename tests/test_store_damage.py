"""Damaged stores: `flowkit verify` names every problem (video, stream, frame) and goes on; readers
refuse damaged tables with one line pointing to verify; a damaged record stops training with one
line naming it, from any loader worker, or is skipped and counted with --skip-damaged."""


import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import damaged_copy
from flowkit.store import FlowStore
from flowkit.store.errors import DamagedRecordError, DamagedStoreError
from flowkit.store.inspect import verify
from flowkit.testing import make_tiny_store
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

TRAIN = ["--modality", "flow", "--arch", "tiny", "--input-size", "32", "--batch-size", "4", "--epochs", "1"]


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    return make_tiny_store(tmp_path_factory.mktemp("damage") / "tiny.h5", classes=3, videos_per_class=4, frames=8,
                           streams=("rgb", "flow_x", "flow_y"), flow_codec="zstd")


def _record_span(file, stream: str, video: str, frame: int) -> tuple[int, int]:
    names = [n.decode() for n in file["videos/name"][()]]
    start = file["videos/rgb_start" if stream == "rgb" else "videos/flow_start"][names.index(video)]
    offsets = file[f"streams/{stream}/offsets"]
    return int(offsets[start + frame]), int(offsets[start + frame + 1])


def _flip_byte(stream: str, video: str, frame: int):
    def edit(file):
        start, end = _record_span(file, stream, video, frame)
        data = file[f"streams/{stream}/data"]
        data[(start + end) // 2] ^= 0x10

    return edit


def _cli(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines()
             if line.strip() and not line.startswith(("epoch", "\r"))]
    errors = [line for line in lines if "Error: " in line]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def _readers_refuse(store, tmp_path, *fragments):
    """export-rawframes, show and tsn train each refuse `store` with one line; nothing is written."""
    from cli.flowkit_app import main as flowkit
    from cli.tsn_app import main as tsn

    _one_line_error(_cli(flowkit, "export-rawframes", store, tmp_path / "frames"), *fragments)
    assert not (tmp_path / "frames").exists()
    _one_line_error(_cli(flowkit, "show", store, "0", "-o", tmp_path / "show.png"), *fragments)
    _one_line_error(_cli(tsn, "train", "--store", store, *TRAIN, "--workers", "0", "-o", tmp_path / "run"), *fragments)
    with pytest.raises(DamagedStoreError):
        FlowStore(store)


def test_offsets_past_the_data_are_named_and_verify_goes_on(sound, tmp_path):
    def edit(file):
        offsets = file["streams/flow_x/offsets"]
        offsets[5] = file["streams/flow_x/data"].shape[0] + 1000  # record 4 ends, record 5 starts, past the data
        _flip_byte("rgb", "move_120/v_move_120_g02", 3)(file)  # and, elsewhere, a damaged JPEG

    store = damaged_copy(sound, tmp_path, edit)
    problems = verify(store)
    first = "stream flow_x, video 'move_000/v_move_000_g01', frame"
    assert any(p.startswith(f"{first} 4: record ends at byte") and "past the end of the data" in p
               for p in problems), problems
    assert any(p.startswith(f"{first} 5: record ends at byte") and "before it starts" in p for p in problems), problems
    # verify went on past the broken table: it read and checked every record it could locate.
    assert ("video 'move_120/v_move_120_g02', stream rgb, frame 3: "
            "checksum mismatch (the record changed after writing)") in problems

    from cli.flowkit_app import main as flowkit

    result = _cli(flowkit, "verify", store)
    assert result.exit_code == 1 and "Traceback" not in result.output and f"problem: {first} 4" in result.output
    _readers_refuse(store, tmp_path, "is damaged: stream flow_x, video 'move_000/v_move_000_g01', frame",
                    f"`flowkit verify {store}` lists every problem")


def test_a_frame_count_beyond_the_streams_is_refused(sound, tmp_path):
    def edit(file):
        file["videos/num_frames"][2] = 1000000

    store = damaged_copy(sound, tmp_path, edit)
    problems = verify(store)
    assert ("video 'move_000/v_move_000_g03': 1000000 frames need records 16..1000015 "
            "of stream rgb, which holds 96") in problems
    assert "stream flow_y: 84 records, the videos table accounts for 1000076" in problems
    _readers_refuse(store, tmp_path, "is damaged: video 'move_000/v_move_000_g03': 1000000 frames need records")


def test_damage_inside_a_jpeg_that_still_decodes_is_named(sound, tmp_path):
    store = damaged_copy(sound, tmp_path, _flip_byte("rgb", "move_240/v_move_240_g01", 6))
    problems = verify(store)
    assert problems == [
        "stream rgb: data checksum mismatch (the bytes changed after writing; the damaged records are listed by name)",
        "video 'move_240/v_move_240_g01', stream rgb, frame 6: checksum mismatch (the record changed after writing)",
    ]
    with FlowStore(store) as opened, pytest.raises(DamagedRecordError, match="stream rgb, frame 6: damaged record"):
        opened.read("rgb", opened.index_of("move_240/v_move_240_g01"), [5, 6])


@pytest.mark.parametrize("workers", [0, 2])
def test_a_damaged_record_stops_training_with_one_line(sound, tmp_path, workers):
    from cli.tsn_app import main as tsn

    store = damaged_copy(sound, tmp_path, _flip_byte("flow_y", "move_000/v_move_000_g02", 3))
    result = _cli(tsn, "train", "--store", store, *TRAIN, "--segments", "7", "--workers", workers,
                  "-o", tmp_path / "run")
    # With workers, the line is the one the worker raised, not DataLoader's "Caught ... in worker" and its traceback.
    _one_line_error(result, f"Error: {store}: video 'move_000/v_move_000_g02', stream flow_y, frame 3: damaged record "
                            f"(checksum mismatch); `flowkit verify {store}` lists every problem")


def test_skip_damaged_counts_and_lists_what_it_skipped(sound, tmp_path):
    from tsn.config import TrainConfig
    from tsn.train import train

    store = damaged_copy(sound, tmp_path, _flip_byte("flow_x", "move_240/v_move_240_g03", 2))
    config = TrainConfig(store=str(store), modality="flow", arch="tiny", input_size=32, batch_size=4, epochs=1,
                         segments=7, workers=1, output=str(tmp_path / "run"), skip_damaged=True, progress=False)
    result = train(config)
    assert result["skipped_damaged"] == 1  # the damaged training video, once (the loader ran in a worker process)
    listed = (tmp_path / "run" / "skipped_damaged.txt").read_text().splitlines()
    assert len(listed) == 1 and listed[0].startswith(
        f"epoch 1: {store}: video 'move_240/v_move_240_g03', stream flow_x, frame 2: damaged record")
    assert result["metrics"]["skipped_damaged"] == 1 and np.isfinite(result["metrics"]["train_loss"])
    assert '"skipped_damaged": 1' in (tmp_path / "run" / "metrics.jsonl").read_text()


_DDP_SCRIPT = """
import sys

import torch

from tsn.config import TrainConfig
from tsn.train import train

if __name__ == "__main__":
    store, out = sys.argv[1], sys.argv[2]
    result = train(TrainConfig(store=store, modality="flow", arch="tiny", input_size=32, batch_size=1, epochs=2,
                               workers=0, device="cpu", skip_damaged=True, progress=False, eval_every=1,
                               output=out + "/run"))
    parameters = {name: p.detach().cpu() for name, p in result["model"].named_parameters()}
    torch.save({"parameters": parameters, "skipped": result["skipped_damaged"], "metrics": result["metrics"]},
               f"{out}/rank{result['rank']}.pt")
"""


@pytest.mark.slow
def test_skip_damaged_under_torchrun_keeps_the_ranks_in_step(sound, tmp_path):
    """torchrun, 2 processes (gloo): one video's every flow record is damaged and a batch is one clip,
    so at some steps one rank has nothing to train on while the other has a clip. The run finishes (a
    hang fails on the timeout), every rank validates, and the ranks end with the same weights."""
    import socket
    import subprocess
    import sys

    import torch

    video = "move_120/v_move_120_g02"  # a training video
    edits = [_flip_byte("flow_x", video, frame) for frame in range(7)]
    store = damaged_copy(sound, tmp_path, lambda file: [edit(file) for edit in edits])
    script = tmp_path / "ddp_train.py"
    script.write_text(_DDP_SCRIPT)
    with socket.socket() as probe:  # a free local port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
               "--master-addr", "127.0.0.1", "--master-port", str(port), str(script), str(store), str(tmp_path)]
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=420, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert sum(rank["skipped"] for rank in ranks) >= 2  # the damaged clip, in each epoch
    for name, value in ranks[0]["parameters"].items():
        assert torch.equal(value, ranks[1]["parameters"][name]), name
    for rank in ranks:  # both validated, over the same (gathered) videos
        assert rank["metrics"]["val_top1"] == ranks[0]["metrics"]["val_top1"]
        assert np.isfinite(rank["metrics"]["train_loss"])
