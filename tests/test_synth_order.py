"""The order family of flowkit synth: class pairs whose videos are the same frames in opposite order."""

import numpy as np
import pytest

from flowkit.synth import ORDER_CLASSES, make_dataset, render_order_video
from flowkit.video import read_frames


@pytest.mark.parametrize("pair", [0, 1, 2])
def test_the_two_classes_of_a_pair_are_the_same_frames_in_opposite_order(pair):
    forward = render_order_video(2 * pair, 9, (48, 32), np.random.default_rng(4))
    backward = render_order_video(ORDER_CLASSES[2 * pair + 1], 9, (48, 32), np.random.default_rng(4))
    assert forward.shape == (9, 32, 48, 3) and forward.dtype == np.uint8
    np.testing.assert_array_equal(forward, backward[::-1])
    # And the video changes over time (what the order is about).
    assert np.abs(forward[0].astype(int) - forward[-1].astype(int)).max() > 40


def test_what_changes_is_the_classes_event():
    rng = lambda: np.random.default_rng(7)  # noqa: E731
    appear = render_order_video("Appear", 10, (64, 48), rng()).astype(float)
    assert np.abs(appear[0] - appear[3]).max() == 0  # nothing there yet: the first frames are the background
    assert np.abs(appear[-1] - appear[0]).max() > 50  # then the object
    tint = render_order_video("TintRedToGreen", 10, (64, 48), rng()).astype(float)
    changed = np.abs(tint[-1] - tint[0]).sum(2) > 30  # the object's pixels
    red_then_green = tint[0][changed].mean(0), tint[-1][changed].mean(0)
    assert red_then_green[0][0] > red_then_green[0][1] and red_then_green[1][1] > red_then_green[1][0]
    brighten = render_order_video("Brighten", 10, (64, 48), rng()).astype(float)
    assert brighten[-1].mean() > 1.5 * brighten[0].mean()


def test_order_dataset_pairs_reverse_each_other_and_refuses_odd_class_counts(tmp_path):
    info = make_dataset(tmp_path / "order", family="order", classes=4, videos_per_class=2, frames=8, size=(48, 32),
                        seed=3, progress=False)
    assert info.classes == list(ORDER_CLASSES[:4]) and info.family == "order"
    first = read_frames(info.videos_dir / info.videos[0].path, size=None)
    partner = next(v for v in info.videos if v.label == 1 and v.group == info.videos[0].group
                   and v.clip == info.videos[0].clip)
    second = read_frames(info.videos_dir / partner.path, size=None)
    # The codec is lossy, so the reversed partner matches up to compression.
    assert np.abs(first.astype(int) - second[::-1].astype(int)).mean() < 4
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 2 * np.abs(
        first.astype(int) - second[::-1].astype(int)).mean()
    with pytest.raises(ValueError, match="even number"):
        make_dataset(tmp_path / "odd", family="order", classes=3, videos_per_class=2, frames=4, progress=False)
    with pytest.raises(ValueError, match="class family"):
        make_dataset(tmp_path / "bad", family="colour", progress=False)
