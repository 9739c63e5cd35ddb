"""Classification metrics on per-video scores (tsn.metrics), checked against counts by hand."""

import numpy as np
import pytest

from tsn.metrics import confusion_matrix, format_metrics, mean_class_accuracy, summarize_labelled, top_k_accuracy

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


def test_unlabelled_videos_are_left_out_of_the_summary():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # The third video is unlabelled (-1): 2 of the 2 labelled videos are right.
    summary = summarize_labelled(scores, np.array([0, 1, -1]))
    assert summary == {"top1": 1.0, "top5": 1.0, "mean_class_accuracy": 1.0}
    assert summarize_labelled(scores, np.array([-1, -1, -1])) == {}


def test_format_metrics_prints_percentages():
    line = format_metrics({"top1": 0.872, "top5": 0.971, "mean_class_accuracy": 0.869})
    assert line == "top-1 87.20%  top-5 97.10%  mean class acc. 86.90%"
    assert format_metrics({}) == "no labelled videos: accuracy not computed"
