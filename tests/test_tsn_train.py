"""Training, checkpoint/resume, testing and fusion of TSN streams on a tiny synthetic store, plus
the metrics they report."""

import json

import numpy as np
import pytest
import torch

from flowkit.testing import make_tiny_store
from tsn.checkpoint import load_checkpoint, model_from_checkpoint
from tsn.evaluate import confusion_path, evaluate_checkpoint, load_scores, save_scores
from tsn.fuse import default_weights, fuse_score_files
from tsn.metrics import confusion_matrix, mean_class_accuracy, top_k_accuracy
from tsn.train import TrainConfig, resolve_config, train
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


def test_defaults_follow_the_reference_recipe():
    rgb = resolve_config(TrainConfig(store="data/ucf101.h5"))
    flow = resolve_config(TrainConfig(store="data/ucf101.h5", modality="flow", pretrained="x.pth"))
    assert (rgb.lr, rgb.lr_steps, rgb.epochs, rgb.clip_grad, rgb.arch, rgb.input_size) == \
        (0.001, (30, 60), 80, 40.0, "bninception", 224)
    assert (flow.lr, flow.lr_steps, flow.epochs, flow.clip_grad) == (0.005, (190, 300), 340, 20.0)
    assert rgb.output.endswith("runs/ucf101_rgb") and flow.output.endswith("runs/ucf101_flow")
    assert (rgb.partial_bn, flow.partial_bn) == (False, True)  # partial BN is for fine-tuning


# ---- test-time scoring -------------------------------------------------------------------------

@pytest.mark.parametrize("crops", [1, 10])
def test_scores_file_has_one_row_per_test_video(store, flow_run, tmp_path, crops):
    run_dir, _ = flow_run
    output = tmp_path / f"flow_{crops}.npz"
    result = evaluate_checkpoint(store, run_dir / "checkpoint.pt", output, test_segments=5, crops=crops,
                                 workers=0, progress=False)
    scores = load_scores(output)
    assert scores["scores"].shape == (6, 3) and scores["scores"].dtype == np.float32
    assert scores["labels"].tolist() == [0, 0, 1, 1, 2, 2]
    assert scores["videos"][0] == "move_000/v_move_000_g07" and scores["modality"] == "flow"
    assert scores["classes"] == ["move_000", "move_120", "move_240"]
    assert result["metrics"]["top1"] == pytest.approx(top_k_accuracy(scores["scores"], scores["labels"], 1))
    assert float(scores["mean_class_accuracy"]) == pytest.approx(result["metrics"]["mean_class_accuracy"])
    assert confusion_path(output).stat().st_size > 1000
    if crops == 1:
        # Oracle: the model applied to each dataset item by hand, logits averaged over snippets.
        from tsn.data import TSNDataset

        model = model_from_checkpoint(load_checkpoint(run_dir / "checkpoint.pt"))
        dataset = TSNDataset(str(store), 1, "test", "flow", segments=5, train=False, crops=1, input_size=32)
        with torch.no_grad():
            expected = np.stack([model.snippet_scores(dataset[i][0][None])[0].mean(0).numpy() for i in range(6)])
        np.testing.assert_allclose(scores["scores"], expected, rtol=1e-4, atol=1e-5)


def test_scoring_refuses_mismatched_checkpoints(store, flow_run, tmp_path):
    run_dir, _ = flow_run
    checkpoint = run_dir / "checkpoint.pt"
    with pytest.raises(ValueError, match="trained on flow, not rgb"):
        evaluate_checkpoint(store, checkpoint, tmp_path / "s.npz", modality="rgb", workers=0, progress=False)
    four = make_tiny_store(tmp_path / "four.h5", classes=4, videos_per_class=2, frames=8, streams=("flow_x", "flow_y"))
    with pytest.raises(ValueError, match="3 classes, store .* has 4"):
        evaluate_checkpoint(four, checkpoint, tmp_path / "s.npz", workers=0, progress=False)
    with pytest.raises(ValueError, match="no split 2"):
        evaluate_checkpoint(store, checkpoint, tmp_path / "s.npz", split=2, workers=0, progress=False)


# ---- fusion ------------------------------------------------------------------------------------

CLASSES = ["a", "b", "c"]
VIDEOS = ["v1", "v2", "v3", "v4"]
LABELS = np.array([0, 1, 2, 1])


def _score_file(path, modality, scores, videos=VIDEOS, labels=LABELS, classes=CLASSES):
    save_scores(path, np.asarray(scores, np.float32), labels, videos, classes, modality)
    return path


def test_fuse_weights_scores_and_aligns_videos_by_name(tmp_path):
    rgb = np.array([[2, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], np.float32)  # 2 of 4 right
    flow = np.array([[0, 1, 0], [0, 2, 0], [0, 0, 1], [0, 2, 0]], np.float32)  # 3 of 4 right
    a = _score_file(tmp_path / "rgb.npz", "rgb", rgb)
    order = [2, 0, 3, 1]  # the flow file lists the same videos in another order
    b = _score_file(tmp_path / "flow.npz", "flow", flow[order], [VIDEOS[i] for i in order], LABELS[order])
    fused = fuse_score_files([a, b], output=tmp_path / "fused.npz")
    assert fused["weights"] == [1.0, 1.5]  # the paper's spatial : temporal
    np.testing.assert_allclose(fused["scores"], rgb + 1.5 * flow)
    assert fused["metrics"]["top1"] == 1.0 and fused["inputs"][0]["metrics"]["top1"] == 0.5
    saved = load_scores(tmp_path / "fused.npz")
    assert saved["modality"] == "fused" and saved["videos"] == VIDEOS
    custom = fuse_score_files([a, b], weights=[3, 0.5])
    np.testing.assert_allclose(custom["scores"], 3 * rgb + 0.5 * flow)


def test_default_fusion_weights_split_the_temporal_weight_between_flow_and_warp():
    assert default_weights(["rgb", "flow"]) == [1.0, 1.5]
    assert default_weights(["rgb", "flow", "warp"]) == [1.0, 1.0, 0.5]
    assert default_weights(["warp", "rgb"]) == [1.5, 1.0]


def test_fuse_refuses_files_that_do_not_match(tmp_path):
    scores = np.eye(4, 3, dtype=np.float32)
    a = _score_file(tmp_path / "a.npz", "rgb", scores)
    other_videos = _score_file(tmp_path / "b.npz", "flow", scores, videos=["v1", "v2", "v3", "v9"])
    with pytest.raises(ValueError, match="another video list"):
        fuse_score_files([a, other_videos])
    fewer = _score_file(tmp_path / "c.npz", "flow", scores[:3], videos=VIDEOS[:3], labels=LABELS[:3])
    with pytest.raises(ValueError, match="another video list"):
        fuse_score_files([a, fewer])
    other_classes = _score_file(tmp_path / "d.npz", "flow", scores, classes=["a", "b", "x"])
    with pytest.raises(ValueError, match="other classes"):
        fuse_score_files([a, other_classes])
    relabelled = _score_file(tmp_path / "e.npz", "flow", scores, labels=np.array([0, 1, 2, 2]))
    with pytest.raises(ValueError, match="labels"):
        fuse_score_files([a, relabelled])
    with pytest.raises(ValueError, match="2 weights for 1"):
        fuse_score_files([a], weights=[1, 2])


# ---- metrics -----------------------------------------------------------------------------------

def test_top_k_accuracy():
    scores = np.array([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5]])
    labels = np.array([2, 0, 0])
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, labels, 5) == 1.0  # k beyond the class count: every class


def test_mean_class_accuracy_weights_classes_not_videos():
    # Class 0: 8 videos all right; class 1: 2 videos, 0 right. Overall 80 %, per class 100 % / 0 %.
    labels = np.array([0] * 8 + [1] * 2)
    scores = np.zeros((10, 3))
    scores[:, 0] = 1.0
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(0.8)
    assert mean_class_accuracy(scores, labels) == pytest.approx(0.5)  # class 2 has no videos: left out


def test_confusion_matrix_rows_are_true_classes():
    matrix = confusion_matrix(np.array([0, 2, 2, 1]), np.array([0, 0, 2, 1]), 3)
    assert matrix.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError):
        top_k_accuracy(np.zeros((2, 3)), np.array([0, 3]), 1)
