"""The `tsn` commands end to end on a tiny store: train -> test -> fuse, and one-line errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from cli.tsn_app import main
from flowkit.testing import make_tiny_store
from tsn.checkpoint import load_checkpoint
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

TINY = ["--arch", "tiny", "--input-size", "32", "--batch-size", "4", "--workers", "0", "--epochs", "1",
        "--log-every", "1"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_tiny_store(tmp_path_factory.mktemp("cli") / "tiny.h5", classes=3, videos_per_class=4, frames=10,
                           streams=("rgb", "flow_x", "flow_y"))


def _run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for modality in ("flow", "rgb"):
        result = _run("train", "--store", store, "--modality", modality, *TINY, "-o", root / modality)
        assert result.exit_code == 0, result.output
        assert "checkpoint:" in result.output
        runs[modality] = root / modality / "checkpoint.pt"
    return runs


def test_train_test_fuse_through_the_cli(store, trained, tmp_path):
    for modality, checkpoint in trained.items():
        assert (checkpoint.parent / "metrics.jsonl").exists() and (checkpoint.parent / "curves.png").exists()
        result = _run("test", "--store", store, "--checkpoint", checkpoint, "--test-segments", "4", "--crops", "10",
                      "--workers", "0", "-o", tmp_path / f"{modality}.npz")
        assert result.exit_code == 0, result.output
        assert f"{modality} split 1, 3 videos: top-1" in result.output
        assert (tmp_path / f"{modality}_confusion.png").exists()
        with np.load(tmp_path / f"{modality}.npz") as scores:
            assert scores["scores"].shape == (3, 3) and str(scores["modality"]) == modality
    result = _run("fuse", tmp_path / "rgb.npz", tmp_path / "flow.npz", "--weights", "1", "2", "-o", tmp_path / "f.npz")
    assert result.exit_code == 0, result.output
    assert "rgb x 1:" in result.output and "flow x 2:" in result.output and "fused: top-1" in result.output
    with np.load(tmp_path / "rgb.npz") as rgb, np.load(tmp_path / "flow.npz") as flow, \
            np.load(tmp_path / "f.npz") as fused:
        np.testing.assert_allclose(fused["scores"], rgb["scores"] + 2 * flow["scores"], rtol=1e-6)


def test_default_output_folder_is_named_after_store_and_modality(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run("train", "--store", store, *TINY, "--iters-per-epoch", "1")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "tiny_rgb" / "checkpoint.pt").exists()


def test_resume_flag_alone_continues_the_run_in_the_output_folder(store, tmp_path):
    run = tmp_path / "run"
    assert _run("train", "--store", store, "--modality", "flow", *TINY, "-o", run).exit_code == 0
    args = ["train", "--store", store, "--modality", "flow", *TINY[:-4], "--epochs", "2", "-o", run, "--resume"]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert "trained 2 epochs" in result.output
    assert "epoch 2:" in result.output and "epoch 1:" not in result.output


def test_bad_input_gives_one_line_errors(store, trained, tmp_path):
    _one_line_error(_run("train", "--store", store, "--modality", "warp", *TINY), "no stream warp_x", "warp")
    _one_line_error(_run("train", "--store", store, *TINY, "--split", "3"), "no split 3")
    no_videos = tmp_path / "empty_split.h5"
    shutil.copy(store, no_videos)
    with h5py.File(no_videos, "a") as f:
        f["splits/2"] = np.zeros(len(f["videos/name"]), np.int8)  # every video unused in split 2
    _one_line_error(_run("train", "--store", no_videos, *TINY, "--split", "2"), "split 2", "no train videos")
    _one_line_error(_run("train", "--store", tmp_path / "missing.h5", *TINY), "missing.h5")
    _one_line_error(_run("test", "--store", store, "--checkpoint", trained["flow"], "--modality", "rgb",
                         "-o", tmp_path / "x.npz"), "trained on flow, not rgb")
    four = make_tiny_store(tmp_path / "four.h5", classes=4, videos_per_class=2, frames=8, streams=("flow_x", "flow_y"))
    _one_line_error(_run("test", "--store", four, "--checkpoint", trained["flow"], "-o", tmp_path / "x.npz"),
                    "3 classes", "has 4")
    _one_line_error(_run("test", "--store", store, "--checkpoint", tmp_path / "nope.pt"), "no checkpoint")
    not_a_checkpoint = tmp_path / "bad.pt"
    not_a_checkpoint.write_bytes(b"not a checkpoint")
    _one_line_error(_run("test", "--store", store, "--checkpoint", not_a_checkpoint),
                    f"{not_a_checkpoint} is not a TSN checkpoint (not a file written by torch.save)")
    _one_line_error(_run("train", "--store", store, "--modality", "rgb", *TINY, "-o", tmp_path / "r",
                         "--resume", trained["flow"]), "modality='flow'")


class _RunsCode:
    def __reduce__(self):
        return (print, ("this would have run",))


@pytest.mark.parametrize("arch", ["tiny", "bninception"])
def test_pretrained_files_that_are_not_weights_are_one_line(store, tmp_path, arch):
    import torch

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    payload = tmp_path / "payload.pt"
    torch.save({"conv.weight": _RunsCode()}, payload)
    numbers = tmp_path / "numbers.pt"
    torch.save({"conv.weight": 1.0}, numbers)
    for path, reason in [(garbage, " is not a weights file (not a file written by torch.save)"),
                         (payload, " is not a weights file: it holds Python objects besides tensors "
                                   "(refused: loading them could run code)"),
                         (numbers, ": expected a state dict of tensors")]:
        result = _run("train", "--store", store, *TINY, "--arch", arch, "--pretrained", path, "-o", tmp_path / "run")
        _one_line_error(result, f"Error: {path}{reason}")
        assert "this would have run" not in result.output and "weights_only=False" not in result.output


def test_fuse_refuses_mismatched_score_files(tmp_path):
    from tsn.scores import save_scores

    diverged = np.eye(3, dtype=np.float32)
    diverged[1, 2] = np.nan
    save_scores(tmp_path / "nan.npz", diverged, [0, 1, 2], ["x", "y", "z"], ["p", "q", "r"], "flow")
    save_scores(tmp_path / "ok.npz", np.eye(3, dtype=np.float32), [0, 1, 2], ["x", "y", "z"], ["p", "q", "r"], "rgb")
    _one_line_error(_run("fuse", tmp_path / "ok.npz", tmp_path / "nan.npz"),
                    f"{tmp_path / 'nan.npz'} holds NaN or infinite scores for 1 of 3 videos (first: y)")

    save_scores(tmp_path / "a.npz", np.eye(3, dtype=np.float32), [0, 1, 2], ["x", "y", "z"], ["p", "q", "r"], "rgb")
    save_scores(tmp_path / "b.npz", np.eye(3, dtype=np.float32), [0, 1, 2], ["x", "y", "w"], ["p", "q", "r"], "flow")
    _one_line_error(_run("fuse", tmp_path / "a.npz", tmp_path / "b.npz"), "another video list")
    _one_line_error(_run("fuse", tmp_path / "a.npz", "--weights", "1,x"), "--weights must be numbers")


def _this_checkout_first() -> dict:
    """The environment with this checkout first on PYTHONPATH, so `python -m cli...` runs its code."""
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


@pytest.mark.parametrize("module,args", [("cli.tsn_app", ["train", "--help"]), ("cli.flowkit_app", ["--help"])])
def test_the_command_groups_run_as_python_modules(module, args):
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120,
                          env=_this_checkout_first())
    assert done.returncode == 0, done.stderr
    assert "Usage: python -m " + module in done.stdout
    assert ("--modality" if "train" in args else "extract") in done.stdout


def test_torchrun_trains_with_distributed_data_parallel(store, tmp_path):
    # What README.md shows, torchrun --nproc-per-node N -m cli.tsn_app train ..., with gloo on CPU;
    # --standalone picks a free local port (other test runs may share the machine).
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "cli.tsn_app", "train", "--store", str(store), "--modality", "flow", *TINY,
               "--iters-per-epoch", "2", "--device", "cpu", "--eval-every", "1", "-o", str(run)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**_this_checkout_first(), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("checkpoint:") == 1  # only rank 0 reports and writes
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # 9 training videos split over 2 ranks: 5 and 4 videos per rank, batch 4 -> 2 iterations each.
    iters = [r for r in records if r["kind"] == "iter"]
    epoch = [r for r in records if r["kind"] == "epoch"]
    assert len(iters) == 2 and len(epoch) == 1 and "val_top1" in epoch[0]
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 1
