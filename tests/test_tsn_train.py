"""Training a TSN stream on a tiny synthetic store (tsn.train): learning, metrics log, checkpoint,
exact resume, the reference recipe's defaults."""

import json

import numpy as np
import pytest
import torch

from flowkit.testing import make_tiny_store
from tsn.checkpoint import load_checkpoint
from tsn.config import TrainConfig, resolve_config, start_notes
from tsn.recipe import scaled_lr
from tsn.train import train
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)


FAST = dict(arch="tiny", input_size=32, batch_size=4, workers=0, dropout=0.0, progress=False, log_every=1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # 8 videos per class: 6 train + 2 test each, classes told apart by their motion direction.
    return make_tiny_store(tmp_path_factory.mktemp("store") / "tiny.h5", classes=3, videos_per_class=8,
                           streams=("rgb", "flow_x", "flow_y"))


@pytest.fixture(scope="module")
def flow_run(store, tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "flow"
    result = train(TrainConfig(store=str(store), modality="flow", epochs=8, lr=0.01, eval_every=4,
                               output=str(output), **FAST))
    return output, result


def _records(run_dir, kind):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_training_lowers_the_loss_and_learns_the_motion_classes(flow_run):
    run_dir, result = flow_run
    epochs = _records(run_dir, "epoch")
    assert [r["epoch"] for r in epochs] == list(range(1, 9))
    first, last = epochs[0]["train_loss"], np.mean([r["train_loss"] for r in epochs[-2:]])
    assert first > 0.9 * np.log(3)  # starts at chance: the classifier is initialized N(0, 0.001)
    assert last < 0.7 * first, [round(r["train_loss"], 3) for r in epochs]
    assert result["metrics"]["val_top1"] >= 2 / 3
    assert {"val_top1", "val_top5", "val_mean_class_accuracy", "val_loss"} <= set(epochs[3])  # eval_every 4
    assert "val_top1" not in epochs[0]
    iters = _records(run_dir, "iter")
    assert len(iters) == 8 * 5 and all(r["lr"] == 0.01 and r["clips_per_s"] > 0 for r in iters)  # 18 videos / 4
    assert (run_dir / "curves.png").stat().st_size > 1000


def test_checkpoint_holds_what_test_and_resume_need(store, flow_run):
    run_dir, _ = flow_run
    checkpoint = load_checkpoint(run_dir / "checkpoint.pt")
    assert checkpoint["epoch"] == 8 and checkpoint["classes"] == ["move_000", "move_120", "move_240"]
    assert checkpoint["model_config"] == {"num_classes": 3, "modality": "flow", "in_channels": 10, "arch": "tiny",
                                          "segments": 3, "consensus": "avg", "dropout": 0.0, "partial_bn": False}
    assert checkpoint["config"]["modality"] == "flow" and checkpoint["config"]["split"] == 1
    assert {"optimizer", "lr_scheduler"} <= set(checkpoint)


def _state_equal(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            _state_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _state_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(store, tmp_path):
    # Dropout on: the resumed run must also draw the same dropout masks.
    common = dict(store=str(store), modality="flow", lr=0.01, lr_steps=(1,), eval_every=10, **{**FAST, "dropout": 0.5})
    straight = tmp_path / "straight"
    train(TrainConfig(epochs=2, output=str(straight), **common))
    interrupted = tmp_path / "interrupted"
    train(TrainConfig(epochs=1, output=str(interrupted), **common))  # "crash" after epoch 1
    after_one = load_checkpoint(interrupted / "checkpoint.pt")
    assert after_one["epoch"] == 1 and after_one["optimizer"]["state"]  # momentum buffers saved
    train(TrainConfig(epochs=2, output=str(interrupted), resume="auto", **common))
    a, b = load_checkpoint(straight / "checkpoint.pt"), load_checkpoint(interrupted / "checkpoint.pt")
    assert a["epoch"] == b["epoch"] == 2
    for key in ("model", "optimizer", "lr_scheduler"):
        _state_equal(a[key], b[key], key)
    lrs = {g["name"]: g["lr"] for g in b["optimizer"]["param_groups"]}
    assert lrs["normal_weight"] == pytest.approx(0.001) and lrs["normal_bias"] == pytest.approx(0.002)  # step at 1
    # The resumed run appends epoch 2 to the same metrics log.
    assert [r["epoch"] for r in _records(interrupted, "epoch")] == [1, 2]


def test_resume_refuses_a_checkpoint_of_another_modality(store, flow_run, tmp_path):
    run_dir, _ = flow_run
    config = TrainConfig(store=str(store), modality="rgb", epochs=9, output=str(tmp_path / "rgb"),
                         resume=str(run_dir / "checkpoint.pt"), **FAST)
    with pytest.raises(ValueError, match="modality='flow'"):
        train(config)


def test_defaults_follow_the_reference_recipe(monkeypatch):
    """tsn-pytorch's README commands when fine-tuning, lr scaled to the global batch; the from-scratch
    lr without pretrained weights, scaled to the processes."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    rgb = resolve_config(TrainConfig(store="data/ucf101.h5", pretrained="x.pth"))
    flow = resolve_config(TrainConfig(store="data/ucf101.h5", modality="flow", pretrained="x.pth"))
    diff = resolve_config(TrainConfig(store="data/ucf101.h5", modality="rgbdiff"))
    scratch = resolve_config(TrainConfig(store="data/ucf101.h5", modality="flow", batch_size=8))
    assert (rgb.lr, rgb.lr_steps, rgb.epochs, rgb.clip_grad, rgb.dropout, rgb.segments, rgb.arch, rgb.input_size) == \
        (0.001 * 32 / 128, (30, 60), 80, 20.0, 0.8, 3, "bninception", 224)
    assert (flow.lr, flow.lr_steps, flow.epochs, flow.clip_grad, flow.dropout) == (0.00025, (190, 300), 340, 20.0, 0.7)
    assert (diff.lr_steps, diff.epochs, diff.clip_grad, diff.segments) == ((80, 160), 180, 40.0, 7)
    # From random weights: 0.01 per process (torchvision's video reference), the modality's schedule otherwise.
    assert diff.lr == scratch.lr == 0.01
    assert (scratch.lr_steps, scratch.epochs, scratch.clip_grad, scratch.dropout) == ((190, 300), 340, 20.0, 0.7)
    assert rgb.crop_positions == flow.crop_positions == 13
    assert rgb.output.endswith("runs/ucf101_rgb") and flow.output.endswith("runs/ucf101_flow")
    assert (rgb.partial_bn, flow.partial_bn, diff.partial_bn) == (True, True, False)  # partial BN is for fine-tuning
    # The global batch counts every torchrun process; an explicit lr is taken as given.
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert resolve_config(TrainConfig(store="s.h5", modality="flow", pretrained="x.pth")).lr == 0.001
    assert resolve_config(TrainConfig(store="s.h5", modality="flow")).lr == 0.04
    assert resolve_config(TrainConfig(store="s.h5", batch_size=64, pretrained="x.pth"), processes=4).lr == 0.002
    assert resolve_config(TrainConfig(store="s.h5", lr=0.01)).lr == 0.01
    with pytest.raises(ValueError, match="crop positions must be one of 5, 13"):
        resolve_config(TrainConfig(store="s.h5", crop_positions=9))


def test_start_notes_name_the_recipe_in_force_and_warn_from_scratch():
    notes = start_notes(TrainConfig(store="s.h5"), processes=1)
    assert notes[0] == ("lr 0.01 (from-scratch recipe: torchvision's video reference, 0.01 per process from random "
                        "weights, no --pretrained; --lr overrides)")
    assert notes[1].startswith("warning: BN-Inception from scratch (no --pretrained)") and "partial BN off" in notes[1]
    notes = start_notes(TrainConfig(store="s.h5", modality="flow", pretrained="bn.pth", batch_size=32), processes=4)
    assert notes == ["lr 0.001 = 0.001 x 128/128 (batch 32 x 4 processes) (fine-tune recipe: tsn-pytorch's flow; "
                     "--lr overrides)"]
    assert start_notes(TrainConfig(store="s.h5", arch="tiny", batch_size=8), processes=2) == [
        "lr 0.02 = 0.01 x 2 processes (from-scratch recipe: torchvision's video reference, 0.01 per process from "
        "random weights, no --pretrained; --lr overrides)"]
    assert start_notes(TrainConfig(store="s.h5", arch="tiny", lr=0.01), processes=1) == [
        "lr 0.01 (--lr, not scaled with the batch)"]


@pytest.mark.slow
def test_from_scratch_defaults_learn_where_the_fine_tune_lr_does_not(store, tmp_path):
    """Without pretrained weights the default lr is the from-scratch one: a tiny net with every recipe
    default (lr, dropout, clip) learns the motion classes; the fine-tune recipe's lr at the same batch
    (what the defaults were) leaves the loss at chance."""
    common = dict(store=str(store), modality="flow", arch="tiny", input_size=32, batch_size=8, workers=0, epochs=20,
                  eval_every=20, progress=False)
    scratch = train(TrainConfig(output=str(tmp_path / "scratch"), **common))
    fine_tune_lr, _ = scaled_lr("flow", 8, pretrained=True)
    fine_tune = train(TrainConfig(output=str(tmp_path / "fine_tune"), lr=fine_tune_lr, **common))
    chance = 1 / 3
    assert scratch["metrics"]["lr"] == 0.01
    assert scratch["metrics"]["train_loss"] < 0.6 * np.log(3)
    assert scratch["metrics"]["val_top1"] >= chance + 1 / 3  # 4 of the 6 test videos at least
    assert fine_tune["metrics"]["train_loss"] > 0.95 * np.log(3)  # 6 test videos: its top-1 is noise


def test_training_builds_each_loader_once(store, tmp_path, monkeypatch):
    """The training and validation loaders live for the whole run (their workers persist across
    epochs: tests/test_tsn_data.py); each epoch only reseeds them."""
    import tsn.data

    built = []

    def counting_build_loader(dataset, *args, **kwargs):
        built.append(dataset.subset)
        return build_loader(dataset, *args, **kwargs)

    build_loader = tsn.data.build_loader
    monkeypatch.setattr(tsn.data, "build_loader", counting_build_loader)
    train(TrainConfig(store=str(store), modality="flow", epochs=3, lr=0.01, eval_every=1, output=str(tmp_path / "run"),
                      **FAST))
    assert sorted(built) == ["test", "train"]
    assert [r["epoch"] for r in _records(tmp_path / "run", "epoch") if "val_top1" in r] == [1, 2, 3]
