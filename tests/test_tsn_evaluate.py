"""`tsn test` as a library call (tsn.evaluate.evaluate_checkpoint): the paper's test protocol on a
trained checkpoint, the score file it writes, and its refusals."""

import numpy as np
import pytest
import torch

from flowkit.testing import make_tiny_store
from tsn.checkpoint import load_checkpoint, model_from_checkpoint
from tsn.data import TSNDataset
from tsn.data.presets import TestCrops
from tsn.evaluate import evaluate_checkpoint
from tsn.metrics import top_k_accuracy
from tsn.scores import confusion_path, load_scores
from tsn.config import TrainConfig
from tsn.train import train
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # 8 videos per class: 6 train + 2 test each.
    return make_tiny_store(tmp_path_factory.mktemp("store") / "tiny.h5", classes=3, videos_per_class=8,
                           streams=("rgb", "flow_x", "flow_y"))


@pytest.fixture(scope="module")
def checkpoint(store, tmp_path_factory):
    # Scoring checks need a trained model's checkpoint, not a good one: one short epoch.
    output = tmp_path_factory.mktemp("runs") / "flow"
    result = train(TrainConfig(store=str(store), modality="flow", epochs=1, iters_per_epoch=2, lr=0.01,
                               arch="tiny", input_size=32, batch_size=4, workers=0, progress=False,
                               output=str(output)))
    return result["checkpoint"]


@pytest.mark.parametrize("crops", [1, 10])
def test_scores_file_has_one_row_per_test_video(store, checkpoint, tmp_path, crops):
    output = tmp_path / f"flow_{crops}.npz"
    result = evaluate_checkpoint(store, checkpoint, output, test_segments=5, crops=crops, workers=0, progress=False)
    scores = load_scores(output)
    assert scores["scores"].shape == (6, 3) and scores["scores"].dtype == np.float32
    assert scores["labels"].tolist() == [0, 0, 1, 1, 2, 2]
    assert scores["videos"][0] == "move_000/v_move_000_g07" and scores["modality"] == "flow"
    assert scores["classes"] == ["move_000", "move_120", "move_240"]
    assert int(scores["crops"]) == crops and int(scores["test_segments"]) == 5
    assert result["metrics"]["top1"] == pytest.approx(top_k_accuracy(scores["scores"], scores["labels"], 1))
    assert float(scores["mean_class_accuracy"]) == pytest.approx(result["metrics"]["mean_class_accuracy"])
    assert result["confusion"] == str(confusion_path(output)) and confusion_path(output).stat().st_size > 1000
    # Oracle: the model applied to each dataset item by hand, logits averaged over crops and snippets.
    model = model_from_checkpoint(load_checkpoint(checkpoint))
    dataset = TSNDataset(str(store), 1, "test", "flow", segments=5, preset=TestCrops(32, crops))
    with torch.no_grad():
        expected = np.stack([model.snippet_scores(dataset[i][0][None])[0].mean(0).numpy() for i in range(6)])
    np.testing.assert_allclose(scores["scores"], expected, rtol=1e-4, atol=1e-5)


def test_scoring_refuses_mismatched_checkpoints(store, checkpoint, tmp_path):
    with pytest.raises(ValueError, match="trained on flow, not rgb"):
        evaluate_checkpoint(store, checkpoint, tmp_path / "s.npz", modality="rgb", workers=0, progress=False)
    four = make_tiny_store(tmp_path / "four.h5", classes=4, videos_per_class=2, frames=8, streams=("flow_x", "flow_y"))
    with pytest.raises(ValueError, match="3 classes, store .* has 4"):
        evaluate_checkpoint(four, checkpoint, tmp_path / "s.npz", workers=0, progress=False)
    with pytest.raises(ValueError, match="no split 2"):
        evaluate_checkpoint(store, checkpoint, tmp_path / "s.npz", split=2, workers=0, progress=False)
    with pytest.raises(ValueError, match="crops must be one of 1, 10"):
        evaluate_checkpoint(store, checkpoint, tmp_path / "s.npz", crops=5, workers=0, progress=False)
    assert not (tmp_path / "s.npz").exists()
