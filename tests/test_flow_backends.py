"""The flow building blocks against OpenCV (resize, remap, gradients, median, gray conversion), the
backend dispatch, the ground-truth pair generator and the EPE metric."""

import cv2
import numpy as np
import pytest
import torch

import flowkit.flow as ff
from flowkit.flow import compute_flow, endpoint_error
from flowkit.flow.frames import to_gray_batch
from flowkit.flow.median import median_filter_opencv, median_filter_torch, selection_network
from flowkit.flow.resize import downscale, resize_linear
from flowkit.flow.synthetic import MOTIONS, make_pair, synthetic_pair, synthetic_pairs, textured_image
from flowkit.flow.remap import centered_gradient, warp_bicubic, warp_bilinear


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_importing_the_package_is_light():
    import subprocess
    import sys

    code = "import sys, flowkit.flow; print(sorted({'torch', 'cv2'} & set(sys.modules)))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "[]"
    assert ff.ALGORITHMS == ("tvl1", "opencv-tvl1", "farneback", "raft")


@pytest.mark.parametrize("size", [(256, 340), (37, 50), (17, 23)])
def test_pyramid_resize_matches_cv2(rng, size):
    image = rng.uniform(0, 255, size).astype(np.float32)
    down = cv2.resize(image, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
    ours = downscale(torch.from_numpy(image)[None], 0.8)[0].numpy()
    assert ours.shape == down.shape
    np.testing.assert_allclose(ours, down, atol=1e-3)
    up = cv2.resize(down, size[::-1], interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(resize_linear(torch.from_numpy(down)[None], size)[0].numpy(), up, atol=1e-3)


@pytest.mark.parametrize("warp, mode", [(warp_bicubic, cv2.INTER_CUBIC), (warp_bilinear, cv2.INTER_LINEAR)])
def test_warp_matches_cv2_remap_with_zero_border(rng, warp, mode):
    image = rng.uniform(0, 255, (30, 40)).astype(np.float32)
    flow = rng.uniform(-5, 5, (2, 30, 40)).astype(np.float32)  # reaches outside the image
    ys, xs = np.mgrid[0:30, 0:40].astype(np.float32)
    expected = cv2.remap(image, xs + flow[0], ys + flow[1], mode, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ours = warp(torch.from_numpy(image)[None, None], torch.from_numpy(flow)[None])[0, 0].numpy()
    np.testing.assert_allclose(ours, expected, atol=2e-3)


def test_centered_gradient_matches_opencv_borders(rng):
    image = rng.uniform(0, 255, (9, 11)).astype(np.float32)
    dx, dy = (d[0].numpy() for d in centered_gradient(torch.from_numpy(image)[None]))
    np.testing.assert_allclose(dx[:, 1:-1], 0.5 * (image[:, 2:] - image[:, :-2]), rtol=1e-6)
    np.testing.assert_allclose(dx[:, 0], 0.5 * (image[:, 1] - image[:, 0]), rtol=1e-6)  # one-sided at the border
    np.testing.assert_allclose(dx[:, -1], 0.5 * (image[:, -1] - image[:, -2]), rtol=1e-6)
    np.testing.assert_allclose(dy[0], 0.5 * (image[1] - image[0]), rtol=1e-6)
    np.testing.assert_allclose(dy[-1], 0.5 * (image[-1] - image[-2]), rtol=1e-6)


@pytest.mark.parametrize("ksize", [3, 5])
def test_median_torch_network_equals_cv2_median_blur(rng, ksize):
    planes = torch.from_numpy(rng.normal(0, 3, (2, 2, 23, 31)).astype(np.float32))
    planes[0, 0, :6, :6] = 1.5  # ties and a flat corner at the border
    expected = np.stack([[cv2.medianBlur(p.numpy(), ksize) for p in pair] for pair in planes])
    assert torch.equal(median_filter_torch(planes, ksize), torch.from_numpy(expected))
    assert torch.equal(median_filter_opencv(planes, ksize), torch.from_numpy(expected))


@pytest.mark.slow
def test_compiled_median_network_equals_cv2(rng):
    """The CUDA engine runs the network through torch.compile; the compiled graph (C++ here) is exact too."""
    planes = torch.from_numpy(rng.normal(0, 3, (2, 2, 21, 26)).astype(np.float32))
    expected = np.stack([[cv2.medianBlur(p.numpy(), 5) for p in pair] for pair in planes])
    assert torch.equal(torch.compile(median_filter_torch, dynamic=True)(planes, 5), torch.from_numpy(expected))


def test_selection_network_selects_the_median_of_every_ordering(rng):
    program = selection_network(9, 4)
    for _ in range(200):
        values = list(rng.permutation(9).astype(float))
        for op, a, b in program:
            values.append(min(values[a], values[b]) if op == "min" else max(values[a], values[b]))
        assert values[-1] == 4
    assert len(selection_network(25, 12)) < 210  # about 100 compare-exchanges, not a full sort


def test_median_rejects_unsupported_sizes():
    with pytest.raises(ValueError, match="median filter size"):
        median_filter_torch(torch.zeros(1, 8, 8), 7)


def test_gray_conversion_matches_cv2_for_uint8_rgb(rng):
    rgb = rng.integers(0, 256, (2, 3, 17, 19), dtype=np.uint8)
    expected = np.stack([cv2.cvtColor(np.ascontiguousarray(f.transpose(1, 2, 0)), cv2.COLOR_RGB2GRAY) for f in rgb])
    np.testing.assert_array_equal(to_gray_batch(rgb).numpy(), expected.astype(np.float32))
    # float frames are in [0, 1] and scaled to 0..255 like OpenCV's CV_32F input
    np.testing.assert_allclose(to_gray_batch(np.full((1, 4, 4), 0.5, np.float32)).numpy(), 127.5)


@pytest.mark.parametrize("algo", [a for a in ff.ALGORITHMS if a != "raft"])  # no trained RAFT weights offline
def test_every_backend_finds_the_motion(algo):
    pairs = synthetic_pairs(2, 64, 80, magnitude=2.0, seed=20, motions=("translation", "rotation"))
    prev, next = np.stack([p.prev for p in pairs]), np.stack([p.next for p in pairs])
    flow = compute_flow(prev, next, algo=algo)
    assert flow.shape == (2, 2, 64, 80) and flow.dtype == torch.float32 and flow.device.type == "cpu"
    limit = 0.5 if algo == "farneback" else 0.2  # Farneback is the quick, rough preview
    for i, pair in enumerate(pairs):
        assert endpoint_error(flow[i], pair.flow, pair.valid) < limit
        # and clearly better than no motion at all
        assert endpoint_error(flow[i], pair.flow, pair.valid) < 0.5 * endpoint_error(0 * flow[i], pair.flow, pair.valid)


def test_backend_errors():
    pair = synthetic_pair("translation", 32, 32)
    with pytest.raises(ValueError, match="unknown flow algorithm"):
        compute_flow(pair.prev, pair.next, algo="pwc")
    with pytest.raises(ValueError, match="CPU only"):
        compute_flow(pair.prev, pair.next, algo="opencv-tvl1", device="cuda:0")
    with pytest.raises(ValueError, match="farneback does not take"):
        compute_flow(pair.prev, pair.next, algo="farneback", tau=0.2)
    with pytest.raises(ValueError, match="tau"):
        compute_flow(pair.prev, pair.next, algo="opencv-tvl1", tau=0)


@pytest.mark.parametrize("motion", MOTIONS)
def test_synthetic_pairs_obey_the_flow_convention(motion):
    pair = synthetic_pair(motion, 60, 80, magnitude=3.0, seed=1)
    assert pair.prev.shape == pair.next.shape == (60, 80) and pair.prev.dtype == np.uint8
    assert pair.flow.shape == (2, 60, 80) and pair.flow.dtype == np.float32
    assert abs(np.hypot(*pair.flow).max() - 3.0) < 0.05
    # next(p + flow(p)) = prev(p), up to interpolation of the texture
    ys, xs = np.mgrid[0:60, 0:80].astype(np.float32)
    back = cv2.remap(pair.next.astype(np.float32), xs + pair.flow[0], ys + pair.flow[1], cv2.INTER_CUBIC)
    residual = np.abs(back - pair.prev)[pair.valid].mean()
    assert residual < 0.1 * np.abs(pair.next.astype(np.float32) - pair.prev).mean()
    # deterministic
    again = synthetic_pair(motion, 60, 80, magnitude=3.0, seed=1)
    assert np.array_equal(again.next, pair.next) and np.array_equal(again.flow, pair.flow)


def test_make_pair_takes_any_rgb_source_and_checks_names():
    source = np.dstack([textured_image(50, 70, seed=s) for s in range(3)])
    pair = make_pair(source, "zoom", (40, 48), magnitude=2.0)
    assert pair.prev.shape == (40, 48)
    # valid: where p + flow(p) stays inside the frame
    ys, xs = np.mgrid[0:40, 0:48]
    inside = (xs + pair.flow[0] >= 0) & (xs + pair.flow[0] <= 47) & (ys + pair.flow[1] >= 0) & (ys + pair.flow[1] <= 39)
    assert np.array_equal(pair.valid, inside) and 0.8 < pair.valid.mean()
    with pytest.raises(ValueError, match="unknown motion"):
        make_pair(source, "shear", (40, 48))


def test_endpoint_error():
    truth = np.zeros((2, 4, 5), np.float32)
    flow = truth.copy()
    flow[0] += 3.0
    flow[1] += 4.0
    assert endpoint_error(flow, truth) == pytest.approx(5.0)
    valid = np.zeros((4, 5), bool)
    valid[0, 0] = True
    flow[:, 1:] = 0
    assert endpoint_error(torch.from_numpy(flow), truth, valid) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        endpoint_error(flow[:1], truth[:1])
