"""PNG figures of training curves and confusion matrices (matplotlib, Agg backend).

`*_figure` builds the matplotlib Figure (tests inspect it), `plot_*` builds and saves it as a PNG
of FIGURE_DPI dots per inch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

FIGURE_DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=FIGURE_DPI)
    _pyplot().close(figure)
    return path


def plot_training_curves(records: Sequence[dict], path: str | os.PathLike) -> Path:
    """Save training_curves_figure(records) as a 1000 x 400 pixel PNG at `path`; returns path."""
    return _save(training_curves_figure(records), path)


def training_curves_figure(records: Sequence[dict]):
    """Loss (left) and accuracy (right) against epoch from metrics.jsonl records.

    Iteration records (kind 'iter': epoch + fraction, loss, accuracy) are drawn as thin lines,
    epoch records (kind 'epoch': train_loss, train_accuracy, val_top1, val_mean_class_accuracy)
    as markers. Accuracies are fractions 0..1.
    """
    plt = _pyplot()
    iters = [r for r in records if r.get("kind") == "iter"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    figure, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    if iters:
        x = [r["progress"] for r in iters]
        ax_loss.plot(x, [r["loss"] for r in iters], lw=0.8, alpha=0.5, label="train (iterations)")
        ax_acc.plot(x, [r["accuracy"] for r in iters], lw=0.8, alpha=0.5, label="train (iterations)")
    if epochs:
        x = [r["epoch"] for r in epochs]
        ax_loss.plot(x, [r["train_loss"] for r in epochs], "o-", label="train (epoch)")
        ax_acc.plot(x, [r["train_accuracy"] for r in epochs], "o-", label="train (epoch)")
        val = [r for r in epochs if r.get("val_loss") is not None]
        if val:
            ax_loss.plot([r["epoch"] for r in val], [r["val_loss"] for r in val], "s-", label="val")
            ax_acc.plot([r["epoch"] for r in val], [r["val_top1"] for r in val], "s-", label="val top-1")
            ax_acc.plot([r["epoch"] for r in val], [r["val_mean_class_accuracy"] for r in val], "^--",
                        label="val mean class acc.")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for axis in (ax_loss, ax_acc):
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_confusion_matrix(matrix: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str = "") -> Path:
    """Save confusion_matrix_figure(matrix, classes, title) as a PNG at `path`; returns path."""
    return _save(confusion_matrix_figure(matrix, classes, title), path)


def confusion_matrix_figure(matrix: np.ndarray, classes: Sequence[str], title: str = ""):
    """Row-normalized confusion matrix (row = true class, column = predicted; counts (C, C)) as a
    heat map, white 0 to dark blue 1. Class names are printed when there are at most 40 classes."""
    plt = _pyplot()
    matrix = np.asarray(matrix, np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    count = len(classes)
    side = min(max(4.0, 0.25 * count + 2), 20.0)
    figure, axis = plt.subplots(figsize=(side + 1, side))
    image = axis.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="fraction of the true class")
    axis.set(xlabel="predicted class", ylabel="true class", title=title or "confusion matrix")
    if count <= 40:
        axis.set_xticks(range(count), classes, rotation=90, fontsize=7)
        axis.set_yticks(range(count), classes, fontsize=7)
    figure.tight_layout()
    return figure
