"""flowkit.color: RGB to gray exactly as OpenCV converts, for numpy stacks and (via flowkit.flow.frames)
for torch tensors."""

import cv2
import numpy as np
import pytest
import torch

from flowkit.color import GRAY_FIXED_POINT, GRAY_SHIFT, GRAY_WEIGHTS, brightness, rgb_to_gray
from flowkit.flow.frames import to_gray_batch


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (2, 3, 17, 23, 3), dtype=np.uint8)


def test_numpy_stacks_match_opencv_frame_by_frame(rgb):
    expected = np.array([[cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in row] for row in rgb])
    np.testing.assert_array_equal(rgb_to_gray(rgb), expected)
    np.testing.assert_array_equal(rgb_to_gray(rgb[0, 0]), expected[0, 0])
    assert rgb_to_gray(rgb[0]).shape == (3, 17, 23) and rgb_to_gray(rgb).dtype == np.uint8


def test_torch_conversion_is_the_same_as_numpys(rgb):
    frames = rgb[0]  # (N, H, W, 3)
    gray = to_gray_batch(torch.from_numpy(frames).permute(0, 3, 1, 2))
    np.testing.assert_array_equal(gray.numpy(), rgb_to_gray(frames).astype(np.float32))


def test_weights_agree_with_each_other():
    assert sum(GRAY_FIXED_POINT) == 1 << GRAY_SHIFT
    np.testing.assert_allclose(np.array(GRAY_FIXED_POINT) / (1 << GRAY_SHIFT), GRAY_WEIGHTS, atol=1 / (1 << GRAY_SHIFT))
    np.testing.assert_allclose(brightness([[255, 255, 255], [255, 0, 0]]), [255.0, 0.299 * 255], rtol=1e-6)


def test_rejects_what_is_not_uint8_rgb():
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)):
        with pytest.raises(ValueError, match="uint8 RGB"):
            rgb_to_gray(bad)
