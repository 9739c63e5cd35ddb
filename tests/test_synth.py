"""flowkit.synth: the dataset decodes with OpenCV and has the requested counts and UCF101 lists;
frames are deterministic; classes differ in motion (measured with OpenCV's Farneback flow) and not
in appearance; camera motion moves the whole frame."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cli.flowkit_app import main as flowkit_main
from flowkit.synth import CAMERA_MOTIONS, MOTIONS, camera_path, make_dataset, render_video, split_plan
from flowkit.synth.affine import affine, bounds, compose, invert

SIZE = (96, 72)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("synth") / "data"
    info = make_dataset(out_dir, classes=3, videos_per_class=5, frames=10, size=SIZE, seed=3, progress=False)
    return out_dir, info


def opencv_frames(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def read_crlf_lines(path) -> list[str]:
    data = path.read_bytes()
    assert data.endswith(b"\r\n") and data.count(b"\n") == data.count(b"\r\n"), f"{path} is not CRLF"
    return data.decode().split("\r\n")[:-1]


def test_videos_decode_with_requested_counts_and_size(dataset):
    out_dir, info = dataset
    videos = sorted((out_dir / "videos").rglob("*.mp4"))
    assert len(videos) == 3 * 5 == len(info.videos)
    assert sorted(p.parent.name for p in videos) == sorted(MOTIONS[:3] * 5)
    for path in videos:
        frames = opencv_frames(path)
        assert len(frames) == 10
        assert frames[0].shape == (SIZE[1], SIZE[0], 3)
        name = path.parent.name
        assert path.name.startswith(f"v_{name}_g") and "_c" in path.name


def test_ucf101_lists(dataset):
    out_dir, info = dataset
    classes = [line.split(" ") for line in read_crlf_lines(out_dir / "classInd.txt")]
    assert classes == [[str(i + 1), name] for i, name in enumerate(MOTIONS[:3])]
    label_of = {name: int(index) for index, name in classes}
    train = [line.split(" ") for line in read_crlf_lines(out_dir / "trainlist01.txt")]
    test = read_crlf_lines(out_dir / "testlist01.txt")
    train_paths = [path for path, _ in train]
    for path, label in train:
        assert int(label) == label_of[path.split("/")[0]]  # 1-based, matches classInd
    assert not set(train_paths) & set(test)
    on_disk = {p.relative_to(out_dir / "videos").as_posix() for p in (out_dir / "videos").rglob("*.mp4")}
    assert set(train_paths) | set(test) == on_disk
    assert 0.15 <= len(test) / len(on_disk) <= 0.5
    # A group is entirely in one split, like UCF101 (same actors never in both).
    group_of = lambda path: path.split("_g")[1].split("_")[0]  # noqa: E731
    assert not {group_of(p) for p in train_paths} & {group_of(p) for p in test}
    described = json.loads((out_dir / "synth.json").read_text())
    assert described["classes"] == list(MOTIONS[:3]) and described["frames"] == 10


def test_split_plan_groups_and_fraction():
    plan = split_plan(24, seed=0)
    assert len(plan) == 24 and len({(g, c) for g, c, _ in plan}) == 24
    assert sum(split == "test" for _, _, split in plan) == 8  # 2 of 6 groups
    assert {split for _, _, split in split_plan(2, seed=5)} == {"train", "test"}
    assert split_plan(24, seed=0) == split_plan(24, seed=0)


def test_same_seed_same_bytes_and_classes_do_not_shift_content(tmp_path):
    kwargs = dict(videos_per_class=2, frames=6, size=(64, 48), seed=11, progress=False)
    first = make_dataset(tmp_path / "a", classes=2, **kwargs)
    make_dataset(tmp_path / "b", classes=2, **kwargs)
    make_dataset(tmp_path / "c", classes=3, **kwargs)
    for video in first.videos:
        digests = {hashlib.sha256((tmp_path / d / "videos" / video.path).read_bytes()).hexdigest() for d in "abc"}
        assert len(digests) == 1, video.path
    other_seed = render_video(0, 6, (64, 48), "none", np.random.default_rng([12, 0, 1, 1]))
    same_seed = render_video(0, 6, (64, 48), "none", np.random.default_rng([11, 0, 1, 1]))
    assert not np.array_equal(other_seed, same_seed)
    np.testing.assert_array_equal(same_seed, render_video(0, 6, (64, 48), "none", np.random.default_rng([11, 0, 1, 1])))


@pytest.mark.parametrize("camera_motion", CAMERA_MOTIONS)
def test_class_changes_only_the_motion(camera_motion):
    """Same random state, different classes: the frame at t_ref = frames // 2 is the same picture,
    the frames around it are not."""
    videos = [render_video(name, 7, SIZE, camera_motion, 5) for name in MOTIONS]
    for video in videos:
        assert video.shape == (7, SIZE[1], SIZE[0], 3) and video.dtype == np.uint8
        np.testing.assert_array_equal(video[3], videos[0][3])
    for video in videos[1:]:
        assert not np.array_equal(video[0], videos[0][0])


def farneback(video: np.ndarray) -> list[np.ndarray]:
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in video]
    return [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0) for a, b in zip(gray, gray[1:])]


def motion_features(video: np.ndarray) -> np.ndarray:
    """Mean (u, v) in pixels/frame over the pixels that clearly move, and the mean angular velocity
    (radians/frame, + = clockwise on screen) of each moving region about its own centroid."""
    features = []
    for flow in farneback(video):
        u, v = flow[..., 0], flow[..., 1]
        moving = np.hypot(u, v) > 0.3
        count, regions = cv2.connectedComponents(moving.astype(np.uint8))
        turning = spread = 0.0
        for region in range(1, count):
            y, x = np.nonzero(regions == region)
            if len(x) >= 20:
                dx, dy = x - x.mean(), y - y.mean()
                turning += float((dx * v[y, x] - dy * u[y, x]).sum())
                spread += float((dx * dx + dy * dy).sum())
        features.append([u[moving].mean(), v[moving].mean(), turning / max(spread, 1e-9)])
    return np.mean(features, axis=0)


def leave_one_out_nearest_centroid(features: np.ndarray, labels: np.ndarray) -> float:
    features = (features - features.mean(0)) / (features.std(0) + 1e-9)
    correct = 0
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        centroids = np.stack([features[keep & (labels == c)].mean(0) for c in np.unique(labels)])
        correct += int(np.argmin(((centroids - features[i]) ** 2).sum(1)) == labels[i])
    return correct / len(labels)


def test_motion_predicts_the_class_and_colour_does_not():
    classes = MOTIONS[:6]  # four directions, two rotations
    features, colours, labels = [], [], []
    for label, name in enumerate(classes):
        for sample in range(4):
            video = render_video(name, 6, (128, 96), "none", np.random.default_rng([7, label, sample]))
            features.append(motion_features(video))
            colours.append(video.reshape(-1, 3).mean(axis=0))
            labels.append(label)
    features, colours, labels = np.array(features), np.array(colours), np.array(labels)
    u, v, spin = features.T
    expected_sign = {"MoveRight": (u, 1), "MoveLeft": (u, -1), "MoveUp": (v, -1), "MoveDown": (v, 1),
                     "RotateClockwise": (spin, 1), "RotateCounterClockwise": (spin, -1)}
    for label, name in enumerate(classes):
        values, sign = expected_sign[name]
        assert np.all(sign * values[labels == label] > 0), (name, values[labels == label])
    chance = 1 / len(classes)
    assert leave_one_out_nearest_centroid(features, labels) >= 0.9
    assert leave_one_out_nearest_centroid(colours, labels) <= chance + 0.2


def test_camera_pan_moves_the_background_and_none_does_not():
    still = render_video("RotateClockwise", 6, (128, 96), "none", 9)
    panned = render_video("RotateClockwise", 6, (128, 96), "pan", 9)
    shaken = render_video("RotateClockwise", 6, (128, 96), "shake", 9)
    still_shift = np.array([np.median(f.reshape(-1, 2), axis=0) for f in farneback(still)])
    pan_shift = np.array([np.median(f.reshape(-1, 2), axis=0) for f in farneback(panned)])
    shake_shift = np.array([np.median(f.reshape(-1, 2), axis=0) for f in farneback(shaken)])
    assert np.abs(still_shift).max() < 0.05
    speeds = np.hypot(*pan_shift.T)
    assert speeds.min() > 0.2  # 1..3 px/frame at 256 px high, scaled to 96
    directions = pan_shift / speeds[:, None]
    assert (directions @ directions.mean(0)).min() > 0.9  # constant direction
    assert np.hypot(*shake_shift.T).max() > 0.2
    # No empty (black) border anywhere: the background covers every pixel the camera sees.
    for video in (panned, shaken):
        assert (video.max(axis=3) > 0).all()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="classes"):
        make_dataset(tmp_path / "x", classes=len(MOTIONS) + 1, progress=False)
    with pytest.raises(ValueError, match="videos_per_class"):
        make_dataset(tmp_path / "x", videos_per_class=1, progress=False)
    with pytest.raises(ValueError, match="frames"):
        make_dataset(tmp_path / "x", frames=1, progress=False)
    with pytest.raises(ValueError, match="camera motion"):
        make_dataset(tmp_path / "x", camera_motion="zoom", progress=False)
    with pytest.raises(ValueError, match="even"):
        make_dataset(tmp_path / "x", size=(97, 72), progress=False)
    with pytest.raises(ValueError, match="motion"):
        render_video("Dance", 4, SIZE)
    assert not (tmp_path / "x").exists()  # arguments are checked before anything is written


def test_refuses_non_empty_folder_and_overwrite_removes_stale_videos(tmp_path):
    kwargs = dict(classes=2, videos_per_class=2, frames=3, size=(64, 48), progress=False)
    make_dataset(tmp_path, videos_per_class=3, **{k: v for k, v in kwargs.items() if k != "videos_per_class"})
    with pytest.raises(ValueError, match="not empty"):
        make_dataset(tmp_path, **kwargs)
    info = make_dataset(tmp_path, overwrite=True, **kwargs)
    assert len(list((tmp_path / "videos").rglob("*.mp4"))) == len(info.videos) == 4


def test_falls_back_to_mjpg_avi_when_mp4v_cannot_be_written(tmp_path, monkeypatch):
    import flowkit.synth.dataset as synth

    real_write_video = synth.write_video

    def no_mp4v(path, frames, fps=25.0, fourcc="mp4v"):
        if fourcc == "mp4v":
            raise OSError("mp4v unavailable (simulated)")
        real_write_video(path, frames, fps, fourcc)

    monkeypatch.setattr(synth, "write_video", no_mp4v)
    with pytest.warns(UserWarning, match="MJPG"):
        info = make_dataset(tmp_path, classes=2, videos_per_class=2, frames=3, size=(64, 48), progress=False)
    assert (info.container, info.fourcc) == (".avi", "MJPG")
    videos = sorted((tmp_path / "videos").rglob("*"))
    videos = [p for p in videos if p.is_file()]
    assert len(videos) == 4 and all(p.suffix == ".avi" for p in videos)
    assert all(len(opencv_frames(p)) == 3 for p in videos)
    assert read_crlf_lines(tmp_path / "testlist01.txt")[0].endswith(".avi")
    assert not list(tmp_path.glob(".synth-probe*"))


def test_affine_maps_compose_invert_and_bound():
    outer, inner = affine(1.5, 0.3, 4.0, -2.0), affine(0.5, -1.0, 1.0, 2.0)
    point = np.array([3.0, 5.0, 1.0])
    np.testing.assert_allclose(compose(outer, inner) @ point, outer @ np.append(inner @ point, 1.0))
    np.testing.assert_allclose(compose(outer, invert(outer)), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(affine(1.0, np.pi / 2, 0, 0) @ [1.0, 0.0, 1.0], [0.0, 1.0], atol=1e-12)  # clockwise
    assert bounds(affine(2.0, 0.0, 1.0, 1.0), 10, 5) == (1, 1, 21, 11)


@pytest.mark.parametrize("camera_motion", CAMERA_MOTIONS)
def test_camera_path_shape_and_reference_frame(camera_motion):
    path = camera_path(camera_motion, 7, (64, 48), np.random.default_rng(1))
    assert path.shape == (7, 2, 3) and path.dtype == np.float64
    if camera_motion != "shake":  # a still camera, and a pan about its position at t_ref = 3
        np.testing.assert_allclose(path[3], [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    assert (camera_motion == "none") == np.allclose(path, path[3])
    with pytest.raises(ValueError, match="unknown camera motion"):
        camera_path("zoom", 7, (64, 48), np.random.default_rng(1))


def test_cli_writes_dataset_and_rejects_bad_values(tmp_path):
    runner = CliRunner()
    out_dir = tmp_path / "cli"
    result = runner.invoke(
        flowkit_main,
        ["synth", str(out_dir), "--classes", "2", "--videos-per-class", "2", "--frames", "4",
         "--size", "64x48", "--camera-motion", "shake", "--seed", "1"],
    )
    assert result.exit_code == 0, result.output
    videos = sorted((out_dir / "videos").rglob("*.mp4"))
    assert len(videos) == 4 and len(opencv_frames(videos[0])) == 4
    assert opencv_frames(videos[0])[0].shape == (48, 64, 3)
    bad_size = runner.invoke(flowkit_main, ["synth", str(tmp_path / "y"), "--size", "64by48"])
    assert bad_size.exit_code == 2 and "WIDTHxHEIGHT" in bad_size.output
    too_many = runner.invoke(flowkit_main, ["synth", str(tmp_path / "z"), "--classes", "99"])
    assert too_many.exit_code == 2 and "Error: classes must be" in too_many.output
    assert "Traceback" not in too_many.output
