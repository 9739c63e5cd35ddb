"""Warped flow (camera-motion compensation) against ground truth: synthetic scenes with a known
camera homography and an independently moving object (flowkit.warp.synthetic)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from flowkit.flow import TVL1Engine, farneback
from flowkit.warp import HomographyParams, check_homography, warp_by_homography, warped_flow_batch
from flowkit.warp.accuracy import LIGHT_TVL1, OBJECT_BOX, OBJECT_SHIFT, background_mask, corner_error, object_interior
from flowkit.warp.synthetic import CAMERA_MOTIONS, camera_homography, noise_texture, render_pair

WIDTH, HEIGHT = 160, 120
CORNER_ERROR_BOUND_PX = 1.0
BACKGROUND_RESIDUAL_BOUND = 0.10  # mean |warped flow| / mean |raw flow| on the background
OBJECT_MOTION_TOLERANCE_PX = 0.5  # mean warped flow on the object vs the exact relative motion


# Our torch TV-L1 on a light schedule so the tests stay fast on CPU (the default schedule costs
# ~20x more per pair here); Farneback checks that any flow function plugs in.
flow_fn = TVL1Engine(**LIGHT_TVL1)
FLOW_FUNCTIONS = {"tvl1": flow_fn, "farneback": farneback}


def as_batch(*frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames))


def mean_corner_error(estimated: np.ndarray, true: np.ndarray) -> float:
    return corner_error(estimated, true, WIDTH, HEIGHT)


def scene(camera: str, seed: int = 3):
    h = camera_homography(WIDTH, HEIGHT, **CAMERA_MOTIONS[camera])
    return render_pair(WIDTH, HEIGHT, h, object_box=OBJECT_BOX, object_shift=OBJECT_SHIFT, seed=seed)


def run(pair, flow_function=flow_fn, **kwargs):
    return warped_flow_batch(as_batch(pair.prev), as_batch(pair.next), flow_fn=flow_function, **kwargs)


@pytest.fixture(scope="module", params=[(c, f) for f in FLOW_FUNCTIONS for c in sorted(CAMERA_MOTIONS)], ids="-".join)
def camera_result(request):
    camera, flow_name = request.param
    pair = scene(camera)
    return f"{camera}/{flow_name}", pair, run(pair, FLOW_FUNCTIONS[flow_name])


def test_homography_matches_the_true_camera_motion(camera_result):
    camera, pair, result = camera_result
    assert not result.fallback[0], result.reasons[0]
    assert result.homographies.dtype == np.float64 and result.homographies.shape == (1, 3, 3)
    error = mean_corner_error(result.homographies[0], pair.homography)
    assert error < CORNER_ERROR_BOUND_PX, f"{camera}: corner error {error:.3f} px"
    # The object (5% of the frame) must not drag the fit: its own motion is 4.5 px off.
    assert result.inliers[0] > 300


def test_background_flow_is_removed_and_object_motion_kept(camera_result):
    camera, pair, result = camera_result
    valid = result.valid[0]
    raw, warped = result.flow[0], result.warped_flow[0]
    background = background_mask(pair, valid)
    raw_magnitude = np.hypot(*raw)[background].mean()
    warped_magnitude = np.hypot(*warped)[background].mean()
    assert raw_magnitude > 1.0  # the camera really moves
    assert warped_magnitude < BACKGROUND_RESIDUAL_BOUND * raw_magnitude, (
        f"{camera}: {warped_magnitude:.3f} vs {raw_magnitude:.3f}")

    interior = object_interior(pair)
    expected = pair.expected_warped_flow()[:, interior].mean(axis=1)
    measured = warped[:, interior].mean(axis=1)
    assert np.abs(measured - expected).max() < OBJECT_MOTION_TOLERANCE_PX, f"{camera}: {measured} vs {expected}"
    # The compensation changed the object's flow: raw flow on it is its image motion, not the relative one.
    assert np.abs(raw[:, interior].mean(axis=1) - expected).max() > 1.0


def test_pixels_from_outside_the_frame_get_zero_flow():
    pair = scene("pan")
    result = run(pair)
    valid = result.valid[0]
    # Where the true camera motion brings a pixel from outside the next frame.
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    mapped = np.einsum("ij,jhw->ihw", pair.homography, np.stack([xs, ys, np.ones_like(xs)]))
    qx, qy = mapped[0] / mapped[2], mapped[1] / mapped[2]
    truly_inside = (qx >= 0) & (qx <= WIDTH - 1) & (qy >= 0) & (qy <= HEIGHT - 1)
    assert (~truly_inside).mean() > 0.03  # a 3 px / 2 px pan uncovers borders
    assert (valid == truly_inside).mean() > 0.99
    warped = result.warped_flow[0]
    assert np.all(warped[:, ~valid] == 0.0)
    assert np.abs(result.flow[0][:, ~valid]).mean() > 1.0  # the raw flow there is not zero


def test_warp_follows_the_documented_direction_like_opencv():
    """next_w(p) = next(H p): the same as cv2.warpPerspective with WARP_INVERSE_MAP, and next_w
    lines up with prev on the background."""
    pair = scene("mixed")
    h = torch.from_numpy(pair.homography)[None]
    warped, valid = warp_by_homography(as_batch(pair.next), h, fill=as_batch(pair.prev))
    warped, valid = warped[0], valid[0]
    oracle = cv2.warpPerspective(
        pair.next.astype(np.float32), pair.homography, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    )
    inner = cv2.erode(valid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert np.abs(warped[inner].astype(np.float32) - oracle[inner]).max() <= 1.0
    assert np.array_equal(warped[~valid], pair.prev[~valid])  # filled from prev, as IDT does
    background = background_mask(pair, inner)
    aligned = np.abs(warped[background].astype(np.float32) - pair.prev[background]).mean()
    unaligned = np.abs(pair.next[background].astype(np.float32) - pair.prev[background]).mean()
    assert aligned < 0.2 * unaligned  # not near 0: bilinear resampling blurs


def test_warp_keeps_layout_and_dtype():
    frames = np.random.default_rng(0).random((2, 3, 24, 32), dtype=np.float32)
    shift = np.repeat(np.eye(3)[None], 2, axis=0)
    shift[:, 0, 2] = 1.0  # H p = p + (1, 0): next_w(x, y) = next(x + 1, y)
    warped, valid = warp_by_homography(frames, shift)
    assert warped.shape == frames.shape and warped.dtype == frames.dtype
    assert np.allclose(warped[..., :-1], frames[..., 1:], atol=1e-4)
    assert valid[:, :, :-1].all() and not valid[:, :, -1].any()
    assert (warped[..., -1] == 0).all()  # no fill given: zeros


def test_flat_frames_fall_back_to_identity():
    flat = torch.full((1, HEIGHT, WIDTH), 100, dtype=torch.uint8)
    result = warped_flow_batch(flat, flat, flow_fn=flow_fn)
    assert result.fallback.tolist() == [True]
    assert result.inliers.tolist() == [0]
    assert np.array_equal(result.homographies[0], np.eye(3))
    assert result.valid.all()
    assert np.array_equal(result.warped_flow, result.flow)


def test_too_few_correspondences_fall_back():
    frame = np.full((HEIGHT, WIDTH), 90, np.float32)
    cv2.circle(frame, (50, 50), 10, 200, -1)
    cv2.rectangle(frame, (100, 60), (120, 90), 30, -1)
    frame = cv2.GaussianBlur(frame, (0, 0), 1.0).astype(np.uint8)
    result = warped_flow_batch(as_batch(frame), as_batch(np.roll(frame, 2, axis=1)), flow_fn=flow_fn)
    assert result.fallback.tolist() == [True]
    assert "correspondences" in result.reasons[0]
    assert np.array_equal(result.homographies[0], np.eye(3))


def test_unrelated_frames_fall_back():
    """A shot cut: the flow is smooth nonsense that some homography fits for a few points only."""
    first = noise_texture(HEIGHT, WIDTH, 1).astype(np.uint8)
    second = noise_texture(HEIGHT, WIDTH, 2).astype(np.uint8)
    result = warped_flow_batch(as_batch(first), as_batch(second), flow_fn=flow_fn)
    assert result.fallback.tolist() == [True]
    assert "inliers" in result.reasons[0]


@pytest.mark.parametrize(
    "distortion, reason",
    [
        (np.diag([2.0, 2.0, 1.0]), "scale"),
        (np.array([[1.0, 0.8, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), "anisotropy"),
        (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2e-3, 0.0, 1.0]]), "perspective"),
        (np.diag([-1.0, 1.0, 1.0]), "flip"),
        (np.array([[1.0, 0.0, 120.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), "corner shift"),
        (np.array([[1.0, 0.0, np.nan], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), "non-finite"),
    ],
)
def test_degenerate_homographies_are_rejected(distortion, reason):
    assert reason in check_homography(distortion, WIDTH, HEIGHT, HomographyParams())


def test_plausible_camera_motions_pass_the_degeneracy_check():
    for camera in CAMERA_MOTIONS.values():
        assert check_homography(camera_homography(WIDTH, HEIGHT, **camera), WIDTH, HEIGHT, HomographyParams()) == ""


def test_batch_equals_pairs_one_by_one_and_given_flow_is_used():
    pairs = [scene("pan", seed=7), scene("rotation", seed=8)]
    flat = np.full((HEIGHT, WIDTH), 60, np.uint8)
    prev = as_batch(pairs[0].prev, flat, pairs[1].prev)
    next_ = as_batch(pairs[0].next, flat, pairs[1].next)
    batched = warped_flow_batch(prev, next_, flow_fn=flow_fn)
    assert batched.fallback.tolist() == [False, True, False]
    for i in range(3):
        # Given the same first-pass flow, the per-pair work is identical to the batched one...
        single = warped_flow_batch(prev[i : i + 1], next_[i : i + 1], flow=batched.flow[i : i + 1], flow_fn=flow_fn)
        assert np.array_equal(single.homographies[0], batched.homographies[i])
        assert single.inliers[0] == batched.inliers[i] and single.fallback[0] == batched.fallback[i]
        assert np.array_equal(single.valid[0], batched.valid[i])
        # ...and the engine's batched second pass matches its per-pair one to float rounding.
        assert np.allclose(single.warped_flow[0], batched.warped_flow[i], atol=1e-3)
        # Computing the first pass per pair too changes the fit only by float rounding.
        alone = warped_flow_batch(prev[i : i + 1], next_[i : i + 1], flow_fn=flow_fn)
        error = mean_corner_error(alone.homographies[0], batched.homographies[i])
        assert error < 0.01


def test_rgb_input_gives_the_gray_result():
    pair = scene("zoom")
    rgb = lambda gray: torch.from_numpy(np.repeat(gray[None, None], 3, axis=1))  # noqa: E731
    seen_shapes = []

    def rgb_flow_fn(prev, next_):
        seen_shapes.append((tuple(prev.shape), tuple(next_.shape), next_.dtype))
        return flow_fn(prev, next_)

    result = warped_flow_batch(rgb(pair.prev), rgb(pair.next), flow_fn=rgb_flow_fn)
    # Both passes see RGB frames of the input's dtype (the warped ones as numpy).
    assert seen_shapes == [((1, 3, HEIGHT, WIDTH), (1, 3, HEIGHT, WIDTH), np.uint8)] * 2
    assert mean_corner_error(result.homographies[0], pair.homography) < CORNER_ERROR_BOUND_PX


def test_flow_command_saves_warped_flow(tmp_path):
    from click.testing import CliRunner

    from cli.flowkit_commands.flow import flow as flow_command

    pair = scene("pan")
    cv2.imwrite(str(tmp_path / "a.png"), pair.prev)
    cv2.imwrite(str(tmp_path / "b.png"), pair.next)
    args = [str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "f.npy"), "--algo", "farneback"]
    outcome = CliRunner().invoke(flow_command, [*args, "--warped", "--viz", str(tmp_path / "f.png")])
    assert outcome.exit_code == 0, outcome.output
    raw, warped = np.load(tmp_path / "f.npy"), np.load(tmp_path / "f_warped.npy")
    assert raw.shape == warped.shape == (2, HEIGHT, WIDTH) and warped.dtype == np.float32
    background = background_mask(pair, np.ones((HEIGHT, WIDTH), bool))
    assert np.hypot(*warped)[background].mean() < BACKGROUND_RESIDUAL_BOUND * np.hypot(*raw)[background].mean()
    assert cv2.imread(str(tmp_path / "f.png")).shape == (HEIGHT, 2 * WIDTH + 8, 3)  # flow | warped
    outcome = CliRunner().invoke(flow_command, [*args, "--warped", "--warped-output", str(tmp_path / "w.npy")])
    assert outcome.exit_code == 0 and np.array_equal(np.load(tmp_path / "w.npy"), warped)
