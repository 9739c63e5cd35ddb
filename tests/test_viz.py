import numpy as np
import pytest

from flowkit.viz import color_wheel, flow_to_rgb


def _uniform(dx, dy):
    return np.stack([np.full((4, 4), dx), np.full((4, 4), dy)]).astype(np.float32)


def test_directions_follow_the_middlebury_wheel():
    # Middlebury: +x is red, -x is cyan-ish, zero flow is white.
    right = flow_to_rgb(_uniform(1, 0))[0, 0]
    left = flow_to_rgb(_uniform(-1, 0))[0, 0]
    assert right[0] == 255 and right[1] < 10 and right[2] < 10
    assert left[0] < 10 and left[1] > 200 and left[2] > 200
    assert (flow_to_rgb(np.zeros((2, 3, 3)), max_magnitude=1.0) == 255).all()


def test_saturation_grows_with_magnitude():
    half = flow_to_rgb(_uniform(0.5, 0), max_magnitude=1.0)[0, 0].astype(int)
    full = flow_to_rgb(_uniform(1.0, 0), max_magnitude=1.0)[0, 0].astype(int)
    assert full[1] < half[1] < 255


def test_shape_and_nan():
    flow = np.zeros((2, 5, 7), np.float32)
    flow[:, 2, 3] = np.nan
    img = flow_to_rgb(flow)
    assert img.shape == (5, 7, 3) and img.dtype == np.uint8 and (img[2, 3] == 0).all()
    assert color_wheel().shape == (55, 3)
    with pytest.raises(ValueError):
        flow_to_rgb(np.zeros((3, 4, 4)))
