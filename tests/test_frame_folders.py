"""Frame folders as input: a folder of images is one video (natural order), trees mix videos and
frame folders, and a bad frame folder (a gap, mixed sizes, an unreadable image) fails alone, with
one line saying why."""

import cv2
import numpy as np
import pytest

from extract_videos import textured_frames, write_video
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.extract.jobs import plan_jobs
from flowkit.frame_folders import FrameFolderError, order_frames
from flowkit.store import FlowStore
from flowkit.store.codec import DEFAULT_JPEG_QUALITY, decode_image, encode_image
from flowkit.store.format import STATUS_FAILED, STATUS_OK
from flowkit.store.inspect import verify
from flowkit.video import find_videos, is_frame_folder, probe, read_frames

SIZE = (48, 36)
INLINE = RunOptions(workers=0, progress=False)


def write_frames(folder, frames, pattern="img_{}.png"):
    """Write (T, H, W, 3) RGB frames as image files numbered from 1 with `pattern`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t, frame in enumerate(frames, start=1):
        paths.append(folder / pattern.format(t))
        assert cv2.imwrite(str(paths[-1]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return paths


def test_natural_order_and_numbering_rules():
    names = [f"img_{t}.jpg" for t in range(1, 12)]
    assert order_frames(sorted(names) + ["notes.txt"]) == names  # img_2 before img_10
    assert order_frames(["0002.png", "0000.png", "0001.png"]) == ["0000.png", "0001.png", "0002.png"]
    assert order_frames(["b.jpg", "a.JPG"]) == ["a.JPG", "b.jpg"]  # unnumbered: natural order, unchecked
    # A rawframes folder reads as its RGB frames.
    assert order_frames(["flow_x_00001.jpg", "img_00002.jpg", "img_00001.jpg", "flow_y_00001.jpg"]) == [
        "img_00001.jpg", "img_00002.jpg"]
    for names, message in [
        (["img_1.jpg", "img_2.jpg", "img_5.jpg"], "a gap in the numbering, 'img_2.jpg' is followed by 'img_5.jpg' "
                                                  r"\(2 frames missing\)"),
        (["1.jpg", "1.png", "2.jpg"], "two files for frame 1"),
        (["img_1.jpg", "img_2.jpg", "frame_3.jpg"], "several patterns"),
        (["img_1.jpg", "img_2.jpg", "cover.jpg"], "numbered frame files mixed with 'cover.jpg'"),
        (["notes.txt"], "no image files"),
    ]:
        with pytest.raises(FrameFolderError, match=message):
            order_frames(names, "f")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Videos and frame folders mixed, three bad frame folders, and a stray image beside folders."""
    root = tmp_path_factory.mktemp("frames") / "data"
    write_video(root / "Jump" / "clip_a.mp4", frames=6, size=(96, 72))
    natural = textured_frames(11, (96, 72), shift=(2, 1), seed=3)
    write_frames(root / "Jump" / "clip_b", natural)  # img_1 .. img_11: natural order matters
    write_frames(root / "Run" / "seq.v2", textured_frames(5, (72, 96), seed=4), pattern="{:05d}.jpg")
    gap = write_frames(root / "Run" / "gap", textured_frames(5, (96, 72), seed=5))
    gap[2].unlink()
    mixed = write_frames(root / "Run" / "mixed", textured_frames(4, (96, 72), seed=6))
    cv2.imwrite(str(mixed[3]), np.zeros((72, 80, 3), np.uint8))
    broken = write_frames(root / "Run" / "broken", textured_frames(4, (96, 72), seed=7))
    broken[1].write_bytes(b"not an image at all")
    cv2.imwrite(str(root / "Run" / "cover.jpg"), np.zeros((8, 8, 3), np.uint8))
    return root, natural


def test_discovery_takes_frame_folders_as_videos(tree):
    root, _ = tree
    assert is_frame_folder(root / "Jump" / "clip_b") and not is_frame_folder(root / "Jump")
    assert not is_frame_folder(root / "Run")  # images beside sub-folders: not a frame folder
    skipped = []
    jobs = plan_jobs([root], skipped)
    assert [j.name for j in jobs] == ["Jump/clip_a", "Jump/clip_b", "Run/broken", "Run/gap", "Run/mixed",
                                      "Run/seq.v2"]  # a folder's dots stay in its name
    assert [j.folder for j in jobs] == ["Jump", "Jump", "Run", "Run", "Run", "Run"]
    assert len(skipped) == 1 and "Run: 1 image file(s) beside videos or sub-folders" in skipped[0]
    # A frame folder given itself is one video, named after it.
    assert find_videos(root / "Jump" / "clip_b") == [root / "Jump" / "clip_b"]
    assert [j.name for j in plan_jobs([root / "Jump" / "clip_b"])] == ["clip_b"]
    info = probe(root / "Run" / "seq.v2")
    assert (info.fps, info.width, info.height, info.frame_count) == (0.0, 72, 96, 5)


def test_reading_a_frame_folder_follows_the_video_rules(tree):
    root, natural = tree
    folder = root / "Jump" / "clip_b"
    assert (read_frames(folder, size=None) == natural).all()  # PNG: lossless, in natural order
    assert (read_frames(folder, size=None, step=3, max_frames=3) == natural[[0, 3, 6]]).all()
    assert read_frames(folder, size=(48, 36)).shape == (11, 36, 48, 3)
    with pytest.warns(UserWarning, match="no timestamps; --fps 5 keeps all its frames"):
        assert len(read_frames(folder, size=None, fps=5)) == 11


def test_a_tree_of_videos_and_frame_folders_extracts_and_bad_folders_fail_alone(tree, tmp_path):
    root, natural = tree
    out = tmp_path / "t.h5"
    summary = extract([root], out, ContentOptions(size=SIZE, algo="farneback"), INLINE)
    assert (summary.videos_ok, summary.videos_failed) == (3, 3)
    reasons = dict(summary.failures)
    assert reasons["Run/gap"].endswith("a gap in the numbering, 'img_2.png' is followed by 'img_4.png' (1 frame "
                                       "missing)")
    assert reasons["Run/mixed"].endswith("frames of different sizes, 'img_1.png' is 96x72 and 'img_4.png' is 80x72")
    assert reasons["Run/broken"].endswith("cannot read 'img_2.png' as an image (UnidentifiedImageError)")
    assert all("\n" not in reason for reason in reasons.values())
    assert any("Run: 1 image file(s) beside videos or sub-folders" in note for note in summary.notes)
    with FlowStore(out) as store:
        assert store.classes == ["Jump", "Run"]
        by_name = {v.name: (i, v) for i, v in enumerate(store.videos)}
        i, video = by_name["Jump/clip_b"]
        assert video.status == STATUS_OK and video.num_frames == 11 and video.label == 0
        assert (video.width, video.height, video.orig_width, video.orig_height, video.fps) == (48, 36, 96, 72, 0.0)
        expected = [decode_image(encode_image(cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA), "jpeg",
                                              DEFAULT_JPEG_QUALITY), color=True) for f in natural]
        assert (store.read("rgb", i, range(11)) == np.stack(expected)).all()
        assert by_name["Run/seq.v2"][1].num_frames == 5 and by_name["Run/seq.v2"][1].path == "Run/seq.v2"
        assert by_name["Run/gap"][1].status == STATUS_FAILED
    assert verify(out, source_root=root) == []  # frame folders have a checksum too
    (root / "Jump" / "clip_b" / "img_1.png").touch()  # same bytes: still fine
    frame = cv2.imread(str(root / "Run" / "seq.v2" / "00002.jpg"))
    cv2.imwrite(str(root / "Run" / "seq.v2" / "00002.jpg"), 255 - frame)
    problems = verify(out, source_root=root)
    assert len(problems) == 1 and "'Run/seq.v2': source" in problems[0] and "changed" in problems[0]
