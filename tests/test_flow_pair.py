"""flowkit.flow.pair: what `flowkit flow` does, as a library call (files in, files out)."""

import cv2
import numpy as np
import pytest
import torch

from flowkit.flow import endpoint_error
from flowkit.flow.pair import VIZ_GAP_PX, flow_between_files, side_by_side
from flowkit.flow.synthetic import synthetic_pair
from flowkit.warp.synthetic import camera_homography, render_pair


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    pair = synthetic_pair("translation", 40, 56, magnitude=1.5, seed=4)
    paths = (folder / "a.png", folder / "b.png")
    for path, image in zip(paths, (pair.prev, pair.next)):
        cv2.imwrite(str(path), image)
    return [str(p) for p in paths], pair


def test_writes_the_flow_and_describes_it(frames, tmp_path):
    (a, b), pair = frames
    out = str(tmp_path / "f.npy")
    done = flow_between_files(a, b, out, algo="opencv-tvl1", params={"nscales": 3})
    saved = np.load(out)
    assert saved.dtype == np.float32 and saved.shape == (2, 40, 56)
    np.testing.assert_array_equal(saved, done.flow)
    assert endpoint_error(saved, pair.flow, pair.valid) < 0.2
    assert done.warped_flow is None and done.warped_output is None and done.viz is None
    assert done.describe() == f"flow 56x40 (opencv-tvl1) -> {out}"


def test_warped_flow_default_name_picture_and_threads(tmp_path):
    # A panning camera and a still object: the warped flow keeps only the object's own motion (none).
    scene = render_pair(64, 48, camera_homography(64, 48, pan=(2.0, 1.0)), seed=2)
    a, b = str(tmp_path / "a.png"), str(tmp_path / "b.png")
    cv2.imwrite(a, scene.prev)
    cv2.imwrite(b, scene.next)
    before = torch.get_num_threads()
    done = flow_between_files(a, b, str(tmp_path / "f.npy"), viz=str(tmp_path / "v.png"), warped=True, threads=1,
                              params={"nscales": 3, "warps": 2})
    assert torch.get_num_threads() == before  # the thread setting does not leak out of the call
    assert done.warped_output == str(tmp_path / "f_warped.npy")
    warped = np.load(done.warped_output)
    np.testing.assert_array_equal(warped, done.warped_flow)
    inside = (slice(8, -8), slice(8, -8))
    camera = np.hypot(*done.flow[(slice(None), *inside)]).mean()
    assert camera > 1.5 and np.hypot(*warped[(slice(None), *inside)]).mean() < 0.25 * camera
    assert done.camera.endswith("inliers") and f"warped ({done.camera}) -> {done.warped_output}" in done.describe()
    picture = cv2.imread(done.viz)
    assert picture.shape == (48, 2 * 64 + VIZ_GAP_PX, 3)
    assert (picture[:, 64 : 64 + VIZ_GAP_PX] == 0).all() and picture[:, :64].std() > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(threads=0), "--threads must be at least 1"),
        (dict(algo="farneback", compile=True), "--compile applies to --algo tvl1 only"),
        (dict(warped_output="w.npy"), "--warped-output needs --warped"),
        (dict(algo="farneback", params={"warps": 2}), "TV-L1 parameters do not apply"),
        (dict(algo="opencv-tvl1", device="cuda"), "runs on the CPU only"),
        (dict(algo="pwcnet"), "unknown flow algorithm"),
        (dict(params={"tau": -1}), "tau must be a positive number"),
    ],
)
def test_settings_are_checked_before_any_file_is_read(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        flow_between_files(str(tmp_path / "missing.png"), str(tmp_path / "missing.png"), str(tmp_path / "f.npy"),
                           **kwargs)
    assert not (tmp_path / "f.npy").exists()


def test_side_by_side_puts_a_nan_gap_between_flows():
    one, two = np.zeros((2, 3, 4), np.float32), np.ones((2, 3, 5), np.float32)
    assert side_by_side([one]) is one
    joined = side_by_side([one, two], gap=2)
    assert joined.shape == (2, 3, 11)
    assert np.isnan(joined[:, :, 4:6]).all() and (joined[:, :, :4] == 0).all() and (joined[:, :, 6:] == 1).all()
