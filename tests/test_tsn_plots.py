"""PNG figures (tsn.plots): what the curves and the confusion matrix draw, and that the PNG shows it."""

import cv2
import matplotlib
import numpy as np
import pytest

from tsn.plots import confusion_matrix_figure, plot_confusion_matrix, plot_training_curves, training_curves_figure

RECORDS = [
    {"kind": "iter", "epoch": 1, "progress": 0.5, "loss": 1.2, "accuracy": 0.3},
    {"kind": "iter", "epoch": 1, "progress": 1.0, "loss": 1.0, "accuracy": 0.4},
    {"kind": "epoch", "epoch": 1, "train_loss": 1.1, "train_accuracy": 0.35},
    {"kind": "iter", "epoch": 2, "progress": 1.5, "loss": 0.8, "accuracy": 0.6},
    {"kind": "iter", "epoch": 2, "progress": 2.0, "loss": 0.6, "accuracy": 0.7},
    {"kind": "epoch", "epoch": 2, "train_loss": 0.7, "train_accuracy": 0.65, "val_loss": 0.9, "val_top1": 0.5,
     "val_mean_class_accuracy": 0.45},
]


def _close(figure):
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_training_curves_draw_iterations_epochs_and_validation():
    figure = training_curves_figure(RECORDS)
    try:
        loss, accuracy = figure.axes
        lines = {line.get_label(): line for line in loss.lines}
        assert list(lines) == ["train (iterations)", "train (epoch)", "val"]
        np.testing.assert_allclose(lines["train (iterations)"].get_xdata(), [0.5, 1.0, 1.5, 2.0])
        np.testing.assert_allclose(lines["train (iterations)"].get_ydata(), [1.2, 1.0, 0.8, 0.6])
        np.testing.assert_allclose(lines["train (epoch)"].get_ydata(), [1.1, 0.7])
        np.testing.assert_allclose(np.stack([lines["val"].get_xdata(), lines["val"].get_ydata()]), [[2], [0.9]])
        curves = {line.get_label(): line.get_ydata() for line in accuracy.lines}
        assert list(curves) == ["train (iterations)", "train (epoch)", "val top-1", "val mean class acc."]
        np.testing.assert_allclose(curves["val mean class acc."], [0.45])
        assert accuracy.get_ylim() == pytest.approx((0, 1.02))
    finally:
        _close(figure)


def test_training_curves_png_has_the_figure_size_and_content(tmp_path):
    path = plot_training_curves(RECORDS, tmp_path / "curves.png")
    image = cv2.imread(str(path))
    assert image.shape == (400, 1000, 3)  # figsize (10, 4) inches at 100 dpi
    # Not blank: white background plus lines in several colours.
    assert (image < 250).any(axis=2).mean() > 0.01
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20
    # No records yet (a run that crashed before its first log line) still gives a picture.
    assert cv2.imread(str(plot_training_curves([], tmp_path / "empty.png"))).shape == (400, 1000, 3)


def test_confusion_matrix_png_shows_the_row_normalized_counts(tmp_path):
    counts = np.array([[4, 0, 0], [1, 3, 0], [0, 2, 2]])  # rows: true class, columns: predicted
    expected = counts / counts.sum(axis=1, keepdims=True)
    figure = confusion_matrix_figure(counts, ["a", "b", "c"], "known counts")
    try:
        axis = figure.axes[0]
        np.testing.assert_allclose(axis.images[0].get_array(), expected)
        assert axis.get_title() == "known counts"
        assert [t.get_text() for t in axis.get_yticklabels()] == ["a", "b", "c"]
        # Where each cell's centre lands in the saved PNG, and the colour the map gives its value.
        figure.canvas.draw()
        height = figure.bbox.height
        centres = {(i, j): axis.transData.transform((j, i)) for i in range(3) for j in range(3)}
    finally:
        _close(figure)
    path = plot_confusion_matrix(counts, ["a", "b", "c"], tmp_path / "confusion.png", "known counts")
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(int)
    cmap = matplotlib.colormaps["Blues"]
    for (i, j), (x, y) in centres.items():
        pixel = image[int(round(height - y)), int(round(x))]
        colour = np.round(255 * np.array(cmap(expected[i, j])[:3])).astype(int)
        assert np.abs(pixel - colour).max() <= 2, ((i, j), pixel, colour)


def test_confusion_matrix_of_a_class_without_videos_is_a_zero_row():
    figure = confusion_matrix_figure(np.array([[2, 0], [0, 0]]), ["a", "b"])
    try:
        np.testing.assert_allclose(figure.axes[0].images[0].get_array(), [[1, 0], [0, 0]])
    finally:
        _close(figure)
