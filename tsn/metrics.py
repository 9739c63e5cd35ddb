"""Classification metrics on per-video class scores, pure numpy.

scores: (N, C) float array of class scores (logits or probabilities, any monotone scale);
labels: (N,) int array of true class indices in [0, C).
"""

from __future__ import annotations

import numpy as np


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    labels = np.asarray(labels).astype(np.int64)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(f"scores must be (N, C) and labels (N,); got {scores.shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must lie in [0, {scores.shape[1]}); got {labels.min()}..{labels.max()}")
    return scores, labels


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction (0..1) of rows whose true label is among the k highest scores. Ties are broken by
    class index (stable sort), so a constant score row counts as predicting the lowest indices."""
    scores, labels = _check(scores, labels)
    if len(labels) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((ranked == labels[:, None]).any(axis=1).mean())


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; row = true class, column = predicted class."""
    predictions = np.asarray(predictions).astype(np.int64)
    labels = np.asarray(labels).astype(np.int64)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def mean_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present in `labels` of per-class recall (the TSN reference's
    evaluation metric: the confusion matrix diagonal over its row sums, averaged)."""
    scores, labels = _check(scores, labels)
    if len(labels) == 0:
        return float("nan")
    matrix = confusion_matrix(scores.argmax(axis=1), labels, scores.shape[1])
    counts = matrix.sum(axis=1)
    present = counts > 0
    return float((np.diag(matrix)[present] / counts[present]).mean())


def summarize(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """top1, top5 and mean_class_accuracy (fractions 0..1) of `scores` against `labels`."""
    return {
        "top1": top_k_accuracy(scores, labels, 1),
        "top5": top_k_accuracy(scores, labels, 5),
        "mean_class_accuracy": mean_class_accuracy(scores, labels),
    }


def summarize_labelled(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """summarize() over the rows whose label is known (>= 0; stores mark unknown as -1); {} when
    no row is labelled."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    known = labels >= 0
    return summarize(scores[known], labels[known]) if known.any() else {}


def format_metrics(metrics: dict) -> str:
    """summarize()'s dict as one line, 'top-1 87.20%  top-5 97.10%  mean class acc. 86.90%' (or a
    note when nothing is labelled)."""
    if not metrics:
        return "no labelled videos: accuracy not computed"
    return (f"top-1 {100 * metrics['top1']:.2f}%  top-5 {100 * metrics['top5']:.2f}%  "
            f"mean class acc. {100 * metrics['mean_class_accuracy']:.2f}%")
