"""The scores stage (tsn.scores): predict's test protocol on known snippet scores, and score files
written, read back and refused."""

import numpy as np
import pytest
import torch
from torch import nn

from tsn.models.tsn import SegmentConsensus
from tsn.scores import SCORE_KEYS, confusion_path, load_scores, predict, save_scores


class _ReadsScoresFromPixels(nn.Module):
    """A stand-in TSN whose snippet scores are pixel (0, 0) of the first channel's first row: a
    clip (B, T, C, H, W) gives scores clips[:, :, 0, 0, :num_classes]."""

    num_classes = 2

    def __init__(self, consensus: str = "avg"):
        super().__init__()
        self.consensus = SegmentConsensus(consensus, 3)

    def snippet_scores(self, clips):
        return clips[:, :, 0, 0, : self.num_classes]


def _clips(values):
    """(B, crops * T, 2) snippet scores -> clips (B, crops * T, 1, 1, 2) carrying them."""
    return torch.tensor(values, dtype=torch.float32)[:, :, None, None, :]


def test_predict_averages_over_crops_then_applies_the_consensus():
    # One video, 2 crops x 3 segments, crop-major: crop 0's three snippets, then crop 1's.
    snippets = [[[1, 0], [2, 0], [3, 0], [5, 4], [6, 4], [7, 8]]]
    loader = [(_clips(snippets), torch.tensor([1]))]
    scores, labels = predict(_ReadsScoresFromPixels("avg"), loader, "cpu", crops=2)
    # Crop means per segment: (3, 2), (4, 2), (5, 4); their average (4, 8/3).
    np.testing.assert_allclose(scores, [[4.0, 8 / 3]], rtol=1e-6)
    assert scores.dtype == np.float32 and labels.tolist() == [1] and labels.dtype == np.int64
    # max consensus takes the largest crop mean per class instead.
    scores, _ = predict(_ReadsScoresFromPixels("max"), loader, "cpu", crops=2)
    np.testing.assert_allclose(scores, [[5.0, 4.0]])
    with pytest.raises(ValueError, match="not a multiple of 4 crops"):
        predict(_ReadsScoresFromPixels(), loader, "cpu", crops=4)


def test_predict_keeps_the_loader_order_and_handles_an_empty_loader():
    batches = [(_clips([[[0, 1]], [[1, 0]]]), torch.tensor([1, 0])), (_clips([[[2, 3]]]), torch.tensor([-1]))]
    scores, labels = predict(_ReadsScoresFromPixels(), batches, "cpu")
    np.testing.assert_array_equal(scores, [[0, 1], [1, 0], [2, 3]])
    assert labels.tolist() == [1, 0, -1]
    scores, labels = predict(_ReadsScoresFromPixels(), [], "cpu")
    assert scores.shape == (0, 2) and labels.shape == (0,)


def test_score_file_round_trip_with_metrics_extras_and_confusion_png(tmp_path):
    scores = np.array([[2, 1, 0], [0, 3, 1], [1, 0, 0], [0, 0, 5]], np.float32)
    labels = np.array([0, 1, 2, -1])  # video 3 is unlabelled; video 2 is wrong
    path = tmp_path / "sub" / "rgb.npz"
    metrics = save_scores(path, scores, labels, ["a/1", "b/2", "c/3", "x/4"], ["a", "b", "c"], "rgb", split=2)
    assert metrics["top1"] == pytest.approx(2 / 3) and metrics["mean_class_accuracy"] == pytest.approx(2 / 3)
    loaded = load_scores(path)
    assert set(SCORE_KEYS) <= set(loaded)
    np.testing.assert_array_equal(loaded["scores"], scores)
    assert loaded["labels"].tolist() == [0, 1, 2, -1] and loaded["videos"] == ["a/1", "b/2", "c/3", "x/4"]
    assert loaded["classes"] == ["a", "b", "c"] and loaded["modality"] == "rgb" and int(loaded["split"]) == 2
    assert float(loaded["top1"]) == pytest.approx(2 / 3)
    assert confusion_path(path) == tmp_path / "sub" / "rgb_confusion.png"
    assert confusion_path(path).read_bytes()[:4] == b"\x89PNG"


def test_unlabelled_scores_save_without_metrics_or_confusion_matrix(tmp_path):
    path = tmp_path / "unknown.npz"
    assert save_scores(path, np.eye(2, dtype=np.float32), [-1, -1], ["v1", "v2"], ["a", "b"], "flow") == {}
    assert load_scores(path)["labels"].tolist() == [-1, -1]
    assert not confusion_path(path).exists()


def test_load_scores_refuses_what_is_not_a_score_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no score file"):
        load_scores(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="is not a score file"):
        load_scores(garbage)
    partial = tmp_path / "partial.npz"
    np.savez(partial, scores=np.zeros((1, 2)), labels=np.zeros(1))
    with pytest.raises(ValueError, match="missing videos, classes, modality"):
        load_scores(partial)
