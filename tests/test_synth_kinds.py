"""flowkit.synth's kind-motion family: each class differs from its partner classes only in the
intended factor. Same kind, other motion: the frame at t_ref is the same picture (one RGB frame
cannot tell them apart). Same motion, other kind: the gray frames flow is computed on are the
same (flow cannot tell them apart) and the objects' hue differs (one RGB frame can)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from flowkit.color import brightness, rgb_to_gray
from flowkit.synth import render_video
from flowkit.synth.dataset import FAMILIES, family_classes, make_dataset
from flowkit.synth.kinds import (KIND_HUE_DEG, KIND_MOTIONS, KINDS, OBJECT_GRAY_RANGE, colour_by_kind, desaturate,
                                 draw_tint, kind_motion_pairs)
from flowkit.synth.textures import random_texture

SIZE = (96, 72)
FRAMES = 7
T_REF = FRAMES // 2


def chroma_angle(rgb: np.ndarray) -> np.ndarray:
    """Hue as the angle (degrees, 0..360) of BT.601 (Cb, Cr) of RGB colours (..., 3)."""
    rgb = np.asarray(rgb, np.float64)
    luma = brightness(rgb)
    cb, cr = (rgb[..., 2] - luma) / 1.772, (rgb[..., 0] - luma) / 1.402
    return np.degrees(np.arctan2(cr, cb)) % 360


def angle_gap(a, b) -> np.ndarray:
    return np.abs((np.asarray(a) - b + 180) % 360 - 180)


@pytest.mark.parametrize("count", [4, 6])
def test_cycle_crosses_kinds_with_motions(count):
    pairs = kind_motion_pairs(count, KIND_MOTIONS)
    assert len(set(pairs)) == count
    kinds, motions = [k for k, _ in pairs], [m for _, m in pairs]
    assert sorted(set(kinds)) == list(range(count // 2)) and set(motions) == set(KIND_MOTIONS[: count // 2])
    # Every kind with two motions and every motion with two kinds: a stream that sees one factor
    # is right on at most half the videos, and only both factors single out the class.
    assert all(kinds.count(k) == 2 for k in kinds) and all(motions.count(m) == 2 for m in motions)
    classes = family_classes("kind-motion", count)
    assert [c.name for c in classes] == [f"{KINDS[k]}{m}" for k, m in pairs]
    assert len({c.name for c in classes}) == count


def test_family_rejects_other_counts_and_names():
    for count in (2, 3, 5, 8):
        with pytest.raises(ValueError, match="even number of classes"):
            family_classes("kind-motion", count)
    with pytest.raises(ValueError, match="family"):
        family_classes("colour", 6)
    assert "kind-motion" in FAMILIES and "motion" in FAMILIES
    with pytest.raises(ValueError, match="kind"):
        render_video(KIND_MOTIONS[0], 3, SIZE, "none", 1, kind="Purple")


@pytest.mark.parametrize("camera_motion", ["none", "pan", "shake"])
def test_same_kind_other_motion_changes_only_the_motion(camera_motion):
    """Partners sharing the kind: for one generator state the frame at t_ref is the same picture."""
    for kind in range(len(KINDS)):
        videos = [render_video(m, FRAMES, SIZE, camera_motion, 21, kind=kind) for m in KIND_MOTIONS]
        for video in videos[1:]:
            np.testing.assert_array_equal(video[T_REF], videos[0][T_REF])
            assert np.abs(video[0].astype(int) - videos[0][0]).max() > 50  # the objects moved differently


@pytest.mark.parametrize("camera_motion", ["none", "pan"])
def test_same_motion_other_kind_changes_only_the_hue(camera_motion):
    """Partners sharing the motion: same gray frames (what flow sees), objects of another hue."""
    for motion in KIND_MOTIONS:
        videos = [render_video(motion, FRAMES, SIZE, camera_motion, 33, kind=kind) for kind in range(len(KINDS))]
        gray = rgb_to_gray(videos[0]).astype(int)
        for kind, video in enumerate(videos[1:], start=1):
            assert np.abs(rgb_to_gray(video).astype(int) - gray).max() <= 1  # uint8 rounding only
            changed = np.abs(video.astype(int) - videos[0]).max(axis=-1) > 20
            assert changed.mean() > 0.01  # the objects
            hue = chroma_angle(video[changed])
            assert np.median(angle_gap(hue, KIND_HUE_DEG[kind])) < 30


def test_flow_of_two_kinds_is_the_same_and_one_frame_tells_the_kind():
    """OpenCV's Farneback flow (an oracle independent of flowkit) agrees between kinds; the mean
    hue of the saturated pixels of a single frame names the kind."""
    correct = 0
    for sample in range(6):
        videos = [render_video("RotateClockwise", 4, (128, 96), "pan", sample, kind=k) for k in range(len(KINDS))]
        flows = []
        for video in videos:
            gray = rgb_to_gray(video)
            flows.append(cv2.calcOpticalFlowFarneback(gray[1], gray[2], None, 0.5, 3, 9, 3, 5, 1.1, 0))
        assert max(np.abs(f - flows[0]).mean() for f in flows) < 0.02
        for kind, video in enumerate(videos):
            frame = video[1].astype(np.float64)
            saturation = np.abs(frame - brightness(frame)[..., None]).max(axis=-1)
            hue = chroma_angle(frame[saturation > np.percentile(saturation, 97)])
            mean_hue = np.degrees(np.angle(np.exp(1j * np.radians(hue)).mean())) % 360
            correct += int(np.argmin(angle_gap(KIND_HUE_DEG, mean_hue)) == kind)
    assert correct == 6 * len(KINDS)


def test_colouring_keeps_the_gray_level_exactly():
    rng = np.random.default_rng(4)
    texture = random_texture(40, 50, rng)
    lo, hi = OBJECT_GRAY_RANGE
    expected = lo + (hi - lo) * brightness(texture) / 255
    for kind in range(len(KINDS)):
        coloured = colour_by_kind(texture, kind, draw_tint(rng))
        assert coloured.dtype == np.float32 and coloured.shape == texture.shape
        assert coloured.min() >= 0 and coloured.max() <= 255
        np.testing.assert_allclose(brightness(coloured), expected, atol=1e-3)
        assert np.median(angle_gap(chroma_angle(coloured), KIND_HUE_DEG[kind])) < 25
    faded = desaturate(texture, 0.25)
    np.testing.assert_allclose(brightness(faded), brightness(texture), atol=1e-3)
    chroma = np.abs(texture - brightness(texture)[..., None]).max()
    assert np.abs(faded - brightness(faded)[..., None]).max() < 0.26 * chroma


def test_dataset_lists_and_describes_the_factors(tmp_path):
    info = make_dataset(tmp_path, family="kind-motion", classes=4, videos_per_class=2, frames=4, size=(64, 48),
                        seed=2, progress=False)
    names = [f"{KINDS[k]}{m}" for k, m in kind_motion_pairs(4, KIND_MOTIONS)]
    assert info.classes == names
    lines = (tmp_path / "classInd.txt").read_text().splitlines()
    assert lines == [f"{i + 1} {name}" for i, name in enumerate(names)]
    described = json.loads((tmp_path / "synth.json").read_text())
    assert described["family"] == "kind-motion"
    assert [(c["kind"], c["motion"]) for c in described["class_factors"]] == [
        (KINDS[k], m) for k, m in kind_motion_pairs(4, KIND_MOTIONS)]
    videos = sorted((tmp_path / "videos").rglob("*.mp4"))
    assert len(videos) == 8 and {p.parent.name for p in videos} == set(names)


def test_cli_writes_the_family_with_its_default_class_count(tmp_path):
    from click.testing import CliRunner

    from cli.flowkit_app import main as flowkit_main

    runner = CliRunner()
    result = runner.invoke(flowkit_main, ["synth", str(tmp_path / "d"), "--family", "kind-motion",
                                          "--videos-per-class", "2", "--frames", "3", "--size", "64x48"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "d" / "classInd.txt").read_text().splitlines()
    assert [line.split(" ")[1] for line in lines] == [c.name for c in family_classes("kind-motion", 6)]
    odd = runner.invoke(flowkit_main, ["synth", str(tmp_path / "e"), "--family", "kind-motion", "--classes", "5"])
    assert odd.exit_code == 2 and "Error: the kind-motion family has an even number" in odd.output


def test_kinds_survive_the_video_codec(tmp_path):
    """After mp4v encoding and decoding, two kinds of one generator state still have nearly the same
    gray frames, and each still shows its own hue."""
    from flowkit.synth import write_video
    from flowkit.video import read_frames

    decoded = []
    for kind in range(len(KINDS)):
        path = tmp_path / f"{kind}.mp4"
        write_video(path, render_video(KIND_MOTIONS[0], 6, (128, 96), "pan", 8, kind=kind), fourcc="mp4v")
        decoded.append(read_frames(path, size=None))
    gray = [rgb_to_gray(video).astype(float) for video in decoded]
    for kind, video in enumerate(decoded):
        assert np.abs(gray[kind] - gray[0]).mean() < 1.0  # of 255 levels
        frame = video[3].astype(np.float64)
        saturation = np.abs(frame - brightness(frame)[..., None]).max(axis=-1)
        hue = chroma_angle(frame[saturation > np.percentile(saturation, 97)])
        assert np.median(angle_gap(hue, KIND_HUE_DEG[kind])) < 30
