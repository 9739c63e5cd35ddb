"""Crop presets (tsn.data.presets): the paper's recipe by default, switches that change it, and the
dataset and device decode following the preset they are given."""

import pickle

import numpy as np
import pytest

from flowkit.testing import make_tiny_store
from tsn.data import TSNDataset
from tsn.data import transforms as T
from tsn.data.presets import TestCrops, TrainCrops, train_crops


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return make_tiny_store(tmp_path_factory.mktemp("presets") / "tiny.h5", videos_per_class=2, frames=8,
                           streams=("rgb", "flow_x", "flow_y"), flow_codec="jpeg")


def _draw(preset, count=400, size=(340, 256), seed=0):
    rng = np.random.default_rng(seed)
    return [box for _ in range(count) for box in preset.boxes(*size, rng)]


def test_train_crops_default_to_the_paper_recipe():
    preset = TrainCrops()
    assert (preset.input_size, preset.scales, preset.max_distort, preset.more_fix_crop, preset.flip) == \
        (224, (1.0, 0.875, 0.75, 0.66), 1, False, True)
    assert preset.train and preset.crops == 1
    boxes = _draw(preset)
    assert {(b.w, b.h) for b in boxes} == set(T.multiscale_crop_sizes(340, 256, 224))
    assert {b.flip for b in boxes} == {False, True}


def test_the_recipe_crops_per_modality():
    """tsn-pytorch's GroupMultiScaleCrop as get_augmentation builds it: 13 fixed positions for every
    modality, the 0.66 scale for rgb only; --crop-positions 5 gives the paper's corners + centre."""
    rgb, flow, diff = train_crops("rgb"), train_crops("flow", 112, flip=False), train_crops("rgbdiff")
    assert (rgb.scales, rgb.more_fix_crop, rgb.flip) == ((1.0, 0.875, 0.75, 0.66), True, True)
    assert (flow.input_size, flow.scales, flow.more_fix_crop, flow.flip) == (112, (1.0, 0.875, 0.75), True, False)
    assert diff.scales == (1.0, 0.875, 0.75) and train_crops("warp") == train_crops("flow")
    centred = {(b.x + b.w / 2, b.y + b.h / 2) for b in _draw(rgb, count=3000) if (b.w, b.h) == (224, 224)}
    assert len(centred) == 13
    paper = {(b.x, b.y) for b in _draw(train_crops("rgb", crop_positions=5), count=2000) if (b.w, b.h) == (224, 224)}
    assert len(paper) == 5
    assert {b.h for b in _draw(flow)} == {256, 224, 192}  # of a 256-row frame; no 0.66 (168)
    with pytest.raises(ValueError, match="crop positions must be one of 5, 13"):
        train_crops("rgb", crop_positions=9)


def test_train_crop_switches_change_the_boxes():
    no_flip = _draw(TrainCrops(flip=False))
    assert not any(b.flip for b in no_flip)
    no_small_scale = _draw(TrainCrops(scales=(1.0, 0.875, 0.75)))
    assert 168 not in {b.w for b in no_small_scale} | {b.h for b in no_small_scale}  # int(256 * 0.66)
    five = {(b.x, b.y) for b in _draw(TrainCrops(scales=(0.875,)))}
    thirteen = {(b.x, b.y) for b in _draw(TrainCrops(scales=(0.875,), more_fix_crop=True), count=1000)}
    assert len(five) == 5 and len(thirteen) == 13 and five < thirteen
    square = _draw(TrainCrops(max_distort=0))
    assert all(b.w == b.h for b in square)


def test_test_crops_are_the_centre_or_ten_and_deterministic():
    assert TestCrops().boxes(340, 256) == [T.centre_crop_box(340, 256, 224)]
    ten = TestCrops(224, crops=10)
    assert not ten.train and ten.crops == 10
    assert ten.boxes(340, 256) == T.ten_crop_boxes(340, 256, 224)


@pytest.mark.parametrize("make", [lambda: TestCrops(crops=5), lambda: TestCrops(0), lambda: TrainCrops(scales=()),
                                  lambda: TrainCrops(max_distort=-1)])
def test_bad_presets_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_the_dataset_and_device_decode_follow_the_preset(store_path):
    preset = TrainCrops(24, scales=(1.0,), max_distort=0, flip=False)  # always the full 48x48 short side
    dataset = TSNDataset(store_path, subset="train", modality="flow", preset=preset)
    assert dataset.train and dataset.crops == 1 and dataset.input_size == 24
    boxes = [box for _ in range(50) for box in dataset.boxes(64, 48)]
    assert {(b.w, b.h, b.flip) for b in boxes} == {(48, 48, False)}
    assert dataset[0][0].shape == (3, 10, 24, 24)
    test = TSNDataset(store_path, subset="test", modality="flow", segments=2, preset=TestCrops(32, 10))
    assert not test.train and test[0][0].shape == (20, 10, 32, 32)
    encoded = TSNDataset(store_path, subset="test", modality="flow", preset=TestCrops(32, 10), decode="device")[0]
    assert encoded.preset == TestCrops(32, 10) and tuple(encoded.boxes.shape) == (10, 5)
    assert pickle.loads(pickle.dumps(preset)) == preset  # crosses into loader workers
    # Default: the paper's training recipe for the train subset, a centre crop otherwise.
    assert TSNDataset(store_path, subset="train", modality="rgb").preset == TrainCrops()
    assert TSNDataset(store_path, subset="test", modality="rgb").preset == TestCrops()
