"""flowkit.synth.textures: the one layered-noise generator and the three textures built on it."""

import numpy as np
import pytest

from flowkit.color import brightness
from flowkit.synth.textures import (
    MIN_PALETTE_CONTRAST,
    layered_noise,
    noise_texture,
    random_texture,
    textured_image,
)


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("kind, scales", [("cells", (12, 3)), ("stretched", (2, 6)), ("blurred", (1.5, 3.0))])
def test_layered_noise_is_seeded_and_has_the_requested_shape(kind, scales):
    noise = layered_noise(30, 41, rng(1), scales, kind=kind)
    assert noise.shape == (30, 41) and noise.dtype == np.float32
    np.testing.assert_array_equal(noise, layered_noise(30, 41, rng(1), scales, kind=kind))
    assert not np.array_equal(noise, layered_noise(30, 41, rng(2), scales, kind=kind))
    assert noise.std() > 0


def test_layered_noise_weights_mean_and_sum():
    cells = layered_noise(32, 32, rng(), (8, 4), kind="cells")  # random weights, weighted mean of [0, 1) values
    assert 0 <= cells.min() and cells.max() < 1
    total = layered_noise(32, 32, rng(), (3.0, 6.0), (2.0, 1.0), kind="blurred", mean=False)
    mean = layered_noise(32, 32, rng(), (3.0, 6.0), (2.0, 1.0), kind="blurred")
    np.testing.assert_allclose(total, 3.0 * mean, rtol=1e-5, atol=1e-5)
    one = layered_noise(64, 64, rng(), (2.0,), (1.0,), kind="blurred")
    assert one.std() == pytest.approx(1.0, rel=1e-4)  # a blurred layer is scaled to unit std
    # Larger scales mean smoother noise: neighbouring pixels differ less.
    fine, coarse = (layered_noise(64, 64, rng(), (s,), (1.0,), kind="stretched") for s in (2, 16))
    assert np.abs(np.diff(coarse)).mean() / coarse.std() < 0.5 * np.abs(np.diff(fine)).mean() / fine.std()


def test_layered_noise_refuses_bad_arguments():
    with pytest.raises(ValueError, match="unknown noise kind"):
        layered_noise(8, 8, rng(), (2,), kind="perlin")
    with pytest.raises(ValueError, match="one weight per scale"):
        layered_noise(8, 8, rng(), (2, 4), (1.0,))


def test_random_texture_is_colourful_and_contrasted():
    texture = random_texture(40, 50, rng(3))
    assert texture.shape == (40, 50, 3) and texture.dtype == np.float32
    assert 0 <= texture.min() and texture.max() <= 255
    levels = brightness(texture)
    assert np.percentile(levels, 98) - np.percentile(levels, 2) > 0.5 * MIN_PALETTE_CONTRAST


def test_textured_image_and_noise_texture_ranges():
    image = textured_image(50, 70, seed=3)
    assert image.dtype == np.uint8 and image.shape == (50, 70)
    np.testing.assert_allclose(np.percentile(image, (1, 99)), (10, 245), atol=2)
    np.testing.assert_array_equal(image, textured_image(50, 70, seed=3))
    noise = noise_texture(80, 90, seed=1)
    assert noise.dtype == np.float32 and 0 <= noise.min() and noise.max() <= 255
    assert noise.mean() == pytest.approx(128, abs=2) and noise.std() == pytest.approx(40, abs=3)
