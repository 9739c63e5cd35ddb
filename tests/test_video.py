"""flowkit.video against OpenCV as the oracle: frame counts, RGB order, step/max_frames/size,
damaged files, and video discovery from folders and list files."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from flowkit.video import (
    PartialDecodeWarning,
    VideoDecodeError,
    find_videos,
    iter_frames,
    probe,
    read_frames,
)

WIDTH, HEIGHT, FRAMES = 96, 72, 12
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def known_frames() -> np.ndarray:
    """(FRAMES, H, W, 3) uint8 RGB: frame 0 red, 1 green, 2 blue, then random textures."""
    rng = np.random.default_rng(0)
    frames = np.empty((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
    for index in range(FRAMES):
        if index < 3:
            frames[index] = (RED, GREEN, BLUE)[index]
        else:
            coarse = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
            frames[index] = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
    return frames


def write(path, frames, fourcc):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (frames.shape[2], frames.shape[1]))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def opencv_decode(path) -> list[np.ndarray]:
    """Every frame plain cv2.VideoCapture.read gives, BGR, unresized."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.fixture(scope="module", params=[("mp4v", ".mp4"), ("MJPG", ".avi")], ids=["mp4", "avi"])
def video(request, tmp_path_factory):
    fourcc, extension = request.param
    return write(tmp_path_factory.mktemp("video") / f"known{extension}", known_frames(), fourcc)


def test_frame_count_matches_opencv_and_probe(video):
    frames = read_frames(video, size=None)
    assert len(frames) == len(opencv_decode(video)) == FRAMES
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    info = probe(video)
    assert (info.width, info.height, info.frame_count) == (WIDTH, HEIGHT, FRAMES)
    assert info.fps == pytest.approx(25.0)


def test_frames_are_rgb_and_equal_opencv_pixels(video):
    frames = read_frames(video, size=None)
    for index, colour in enumerate((RED, GREEN, BLUE)):
        mean = frames[index].reshape(-1, 3).mean(axis=0)
        assert np.abs(mean - colour).max() < 20, (index, mean)
    reference = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in opencv_decode(video)])
    np.testing.assert_array_equal(frames, reference)


def test_step_and_max_frames_select_decoded_frames(video):
    everything = read_frames(video, size=None)
    np.testing.assert_array_equal(read_frames(video, size=None, step=3), everything[::3])
    np.testing.assert_array_equal(read_frames(video, size=None, max_frames=2), everything[:2])
    np.testing.assert_array_equal(read_frames(video, size=None, step=2, max_frames=3), everything[0:6:2])
    np.testing.assert_array_equal(read_frames(video, size=None, step=100), everything[:1])
    streamed = list(iter_frames(video, size=None, step=5))
    np.testing.assert_array_equal(np.stack(streamed), everything[::5])


def test_size_is_width_height_with_area_down_and_linear_up(video):
    everything = read_frames(video, size=None)
    down = read_frames(video, size=(48, 30))
    assert down.shape == (FRAMES, 30, 48, 3)
    np.testing.assert_array_equal(down[5], cv2.resize(everything[5], (48, 30), interpolation=cv2.INTER_AREA))
    up = read_frames(video, size=(150, 100))
    assert up.shape == (FRAMES, 100, 150, 3)
    np.testing.assert_array_equal(up[5], cv2.resize(everything[5], (150, 100), interpolation=cv2.INTER_LINEAR))
    default = read_frames(video, max_frames=1)
    assert default.shape == (1, 256, 340, 3)


@pytest.mark.parametrize("kwargs", [{"step": 0}, {"max_frames": 0}, {"size": (0, 10)}, {"size": (10,)}])
def test_bad_arguments_raise_value_error(video, kwargs):
    with pytest.raises(ValueError):
        read_frames(video, **kwargs)


def test_missing_empty_random_and_folder_raise(tmp_path):
    with pytest.raises(VideoDecodeError, match="not found"):
        read_frames(tmp_path / "missing.mp4")
    with pytest.raises(VideoDecodeError, match="not found"):
        probe(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoDecodeError, match="empty"):
        read_frames(empty)
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoDecodeError, match="cannot open"):
        read_frames(noise)
    with pytest.raises(VideoDecodeError, match="not a file"):
        read_frames(tmp_path)
    assert issubclass(VideoDecodeError, ValueError)


def test_truncated_mp4_cannot_open(tmp_path):
    # mp4v puts the index (moov) at the end: cut it off and nothing is readable.
    whole = write(tmp_path / "whole.mp4", known_frames(), "mp4v").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(VideoDecodeError):
        read_frames(cut)


def test_truncated_avi_returns_decodable_prefix_and_warns(tmp_path):
    whole_path = write(tmp_path / "whole.avi", known_frames(), "MJPG")
    whole = read_frames(whole_path, size=None)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole_path.read_bytes()[: int(whole_path.stat().st_size * 0.6)])
    with pytest.warns(PartialDecodeWarning, match="announced"):
        partial = read_frames(cut, size=None)
    assert 1 <= len(partial) < FRAMES
    assert len(partial) == len(opencv_decode(cut))
    np.testing.assert_array_equal(partial, whole[: len(partial)])


def test_mid_stream_corruption_keeps_only_the_prefix(tmp_path):
    whole_path = write(tmp_path / "whole.mp4", known_frames(), "mp4v")
    whole = read_frames(whole_path, size=None)
    data = bytearray(whole_path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = np.random.default_rng(2).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    assert len(opencv_decode(broken)) < FRAMES  # the damage does stop OpenCV's reader here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        partial = read_frames(broken, size=None)
    assert 1 <= len(partial) < FRAMES
    oracle = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in opencv_decode(broken)])
    np.testing.assert_array_equal(partial, oracle)
    # Frames before the damaged one are untouched (the decoder may conceal damage in the last).
    np.testing.assert_array_equal(partial[:-1], whole[: len(partial) - 1])
    assert any(issubclass(w.category, PartialDecodeWarning) for w in caught)


def touch_video(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded by find_videos")
    return path


def test_find_videos_in_folders_is_recursive_sorted_and_filtered(tmp_path):
    b = touch_video(tmp_path / "b" / "clip.MP4")
    a2 = touch_video(tmp_path / "a" / "z.avi")
    a1 = touch_video(tmp_path / "a" / "deeper" / "x.mkv")
    touch_video(tmp_path / "a" / "notes.txt")
    touch_video(tmp_path / "a" / "frame.jpg")
    assert find_videos(tmp_path) == [a1, a2, b]
    assert find_videos([str(b), tmp_path]) == [b, a1, a2]  # argument order, no duplicates


def test_find_videos_reads_list_files(tmp_path):
    one = touch_video(tmp_path / "videos" / "Run" / "v_Run_g01_c01.avi")
    two = touch_video(tmp_path / "videos" / "Jump" / "v_Jump_g02_c01.avi")
    three = touch_video(tmp_path / "elsewhere" / "three.mp4")
    listing = tmp_path / "videos" / "list.txt"
    listing.write_bytes(
        b"# a comment\r\n"
        b"Run/v_Run_g01_c01.avi 1\r\n"
        b"\r\n"
        b"Jump/v_Jump_g02_c01.avi 120 2\r\n"
        + str(three).encode()
        + b"\n"
    )
    assert find_videos(listing) == [one, two, three]
    ucf_style = tmp_path / "lists" / "testlist01.lst"
    ucf_style.parent.mkdir()
    ucf_style.write_text("Jump/v_Jump_g02_c01.avi\n")
    assert find_videos(ucf_style, root=tmp_path / "videos") == [two]


def test_find_videos_missing_paths_and_non_videos(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.mp4"):
        find_videos([tmp_path / "nowhere.mp4"])
    listing = tmp_path / "list.txt"
    listing.write_text("gone.avi 3\n")
    with pytest.raises(FileNotFoundError, match=r"gone\.avi.*line 1"):
        find_videos(listing)
    readme = tmp_path / "readme.md"
    readme.write_text("hello")
    with pytest.raises(ValueError, match="readme.md"):
        find_videos(readme)
