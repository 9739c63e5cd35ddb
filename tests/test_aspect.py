"""Aspect-preserving sizes (--short-side / --long-side) and store format 2 (each video's own frame
size): a store mixing a 16:9 landscape video and a portrait one is extracted, read, verified,
summarized, shown, exported and trained on with every reader seeing each video's own size; a
format-1 store still reads."""

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import opencv_frames, write_video
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.rawframes import export_rawframes, import_rawframes
from flowkit.sizes import FrameSize, scaled_size
from flowkit.store import FlowStore
from flowkit.store import format as fmt
from flowkit.store.codec import DEFAULT_JPEG_QUALITY, decode_image, encode_image
from flowkit.store.inspect import format_summary, summarize, verify
from flowkit.store.show import render_show
from flowkit.store.writer import write_classes_and_splits
from flowkit.testing import make_tiny_store
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

INLINE = RunOptions(workers=0, progress=False)
LANDSCAPE, PORTRAIT = (1280, 720), (720, 1280)


@pytest.mark.parametrize("source, short, long, expected", [
    ((1280, 720), 256, None, (454, 256)),   # 455.1 rounded down to even
    ((720, 1280), 256, None, (256, 454)),
    ((1920, 1080), 320, None, (568, 320)),  # 568.9 -> 568
    ((340, 256), 256, None, (340, 256)),    # already there
    ((160, 90), 256, None, (454, 256)),     # enlarging too
    ((1280, 720), None, 340, (340, 190)),   # 191.25 -> 190
    ((720, 1280), None, 340, (190, 340)),
    ((640, 640), 256, None, (256, 256)),
])
def test_scaled_size_keeps_aspect_with_even_sides(source, short, long, expected):
    assert scaled_size(*source, short_side=short, long_side=long) == expected
    assert FrameSize(short_side=short, long_side=long).target(*source) == expected


def test_sizing_choices_are_exclusive_and_even():
    assert FrameSize(size=(340, 256)).target(1280, 720) == (340, 256)
    assert FrameSize().target(1280, 720) == (1280, 720)
    with pytest.raises(ValueError, match="even"):
        FrameSize(short_side=255)
    with pytest.raises(ValueError, match="got size and short_side"):
        FrameSize(size=(340, 256), short_side=256)
    with pytest.raises(ValueError, match="size must be None"):
        ContentOptions(short_side=256)  # size defaults to TSN's
    assert ContentOptions(size=None, long_side=340).frame_size() == FrameSize(long_side=340)


def test_cli_refuses_two_sizings_in_one_line(tmp_path):
    from cli.flowkit_app import main

    video = write_video(tmp_path / "v.mp4", frames=3)
    for args, message in [(["--size", "64x48", "--short-side", "256"], "--size and --short-side are mutually"),
                          (["--short-side", "256", "--long-side", "340"], "--short-side and --long-side"),
                          (["--short-side", "255"], "even")]:
        result = CliRunner().invoke(main, ["extract", str(video), "-o", str(tmp_path / "o.h5"), "--workers", "0",
                                           *args])
        lines = [line for line in result.output.strip().splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "o.h5").exists()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A store of a 1280x720 video and a 720x1280 one extracted with --short-side 256 (Farneback,
    3 frames each), with split 1 = landscape train, portrait test."""
    root = tmp_path_factory.mktemp("aspect") / "clips"
    paths = {"wide/landscape": write_video(root / "wide" / "landscape.mp4", frames=3, size=LANDSCAPE, shift=(6, 2)),
             "tall/portrait": write_video(root / "tall" / "portrait.mp4", frames=3, size=PORTRAIT, shift=(2, 6),
                                          seed=1)}
    store = root.parent / "mixed.h5"
    summary = extract([root], store, ContentOptions(size=None, short_side=256, algo="farneback"), INLINE)
    assert (summary.videos_ok, summary.videos_failed) == (2, 0)
    with h5py.File(store, "r+") as file:
        names = [n.decode() for n in file["videos/name"][()]]
        write_classes_and_splits(file, ["tall", "wide"], names, {1: {"wide/landscape": fmt.SPLIT_TRAIN,
                                                                     "tall/portrait": fmt.SPLIT_TEST}})
    return store, paths


def test_store_keeps_each_videos_own_size(mixed):
    path, sources = mixed
    expected = {"wide/landscape": (454, 256), "tall/portrait": (256, 454)}
    with FlowStore(path) as store:
        assert store.attrs["format_version"] == fmt.FORMAT_VERSION == 2
        assert "size" not in store.attrs and store.attrs["short_side"] == 256
        for i, video in enumerate(store.videos):
            width, height = expected[video.name]
            assert (video.width, video.height) == (width, height)
            assert (video.orig_width, video.orig_height) == LANDSCAPE if height == 256 else PORTRAIT
            rgb = store.read("rgb", i, range(video.num_frames))
            oracle = opencv_frames(sources[video.name], (width, height))
            coded = [decode_image(encode_image(f, "jpeg", DEFAULT_JPEG_QUALITY), color=True) for f in oracle]
            assert rgb.shape == (3, height, width, 3) and (rgb == np.stack(coded)).all()
            assert store.read_flow(i, range(2)).shape == (2, 2, height, width)
    with h5py.File(path) as file:  # the columns as docs/store-format.md names them
        assert file["videos/width"].dtype == np.int32 and sorted(file["videos/height"][()]) == [256, 454]


def test_info_verify_show_and_export_handle_mixed_sizes(mixed, tmp_path):
    path, _ = mixed
    info = summarize(path)
    assert info["frame_sizes"] == {"256x454": 1, "454x256": 1}
    assert "frame sizes: 256x454 (1 video), 454x256 (1 video)" in format_summary(info)
    assert verify(path) == []
    picture = cv2.imread(str(render_show(path, "tall/portrait", tmp_path / "show.png")))
    assert picture.shape[0] > 454  # the portrait panel stands upright
    report = export_rawframes(path, tmp_path / "raw")
    assert report.videos == 2
    for name, (width, height) in {"wide/landscape": (454, 256), "tall/portrait": (256, 454)}.items():
        for file in ("img_00001.jpg", "img_00003.jpg", "flow_x_00001.jpg", "flow_y_00002.jpg"):
            assert cv2.imread(str(tmp_path / "raw" / name / file)).shape[:2] == (height, width), (name, file)
    # tsn reads the exported folders too, each video at its own size.
    from tsn.data import TSNDataset
    from tsn.data.presets import TestCrops
    from tsn.data.rawframes import RawFramesSource

    source = RawFramesSource.from_list_files(tmp_path / "raw", tmp_path / "raw" / "rawframes_train_split_1.txt",
                                             tmp_path / "raw" / "rawframes_val_split_1.txt", ["tall", "wide"])
    clip, label = TSNDataset(source, subset="test", segments=2, preset=TestCrops(64, crops=10))[0]
    assert clip.shape == (20, 3, 64, 64) and label == 0
    # And back in: import keeps each video's size, with no store-wide size.
    import_rawframes(tmp_path / "raw", tmp_path / "back.h5")
    with FlowStore(tmp_path / "back.h5") as back:
        assert "size" not in back.attrs
        assert sorted((v.width, v.height) for v in back.videos) == [(256, 454), (454, 256)]
    assert verify(tmp_path / "back.h5") == []


def test_verify_names_a_video_whose_frames_differ_from_its_size(mixed, tmp_path):
    damaged = tmp_path / "d.h5"
    damaged.write_bytes(mixed[0].read_bytes())
    with h5py.File(damaged, "r+") as file:
        file["videos/width"][0] = 300
    problems = verify(damaged)
    assert problems == ["video 'tall/portrait': frames are (454, 256), the store says (454, 300) (h, w)"]


def test_tsn_dataset_crops_each_frame_relative_to_its_own_size(mixed):
    from tsn.data import TSNDataset
    from tsn.data.presets import TestCrops, TrainCrops

    path, _ = mixed
    for modality, channels in (("rgb", 3), ("flow", 10)):
        train = TSNDataset(path, subset="train", modality=modality, segments=2, preset=TrainCrops(input_size=64))
        clip, label = train[0]
        assert clip.shape == (2, channels, 64, 64) and label == 1
        test = TSNDataset(path, subset="test", modality=modality, segments=2, preset=TestCrops(64, crops=10))
        clip, label = test[0]
        assert clip.shape == (20, channels, 64, 64) and label == 0
    # Scale jitter draws from the short side of each frame: 256 whichever way the frame stands.
    rng = np.random.default_rng(0)
    for width, height in ((454, 256), (256, 454)):
        boxes = [b for _ in range(200) for b in TrainCrops(input_size=224).boxes(width, height, rng)]
        assert {b.w for b in boxes} == {b.h for b in boxes} == {256, 224, 192, 168}
        assert all(b.x + b.w <= width and b.y + b.h <= height for b in boxes)
        tests = TestCrops(224, crops=10).boxes(width, height)
        assert {(b.w, b.h) for b in tests} == {(224, 224)}
        # corners on tsn-pytorch's grid of (frame - crop) // 4 steps: within 3 px of the far edges
        assert width - 4 < max(b.x + b.w for b in tests) <= width
        assert height - 4 < max(b.y + b.h for b in tests) <= height


@pytest.mark.slow
def test_tsn_train_and_test_run_on_the_extracted_store(mixed, tmp_path):
    from cli.tsn_app import main

    for modality in ("rgb", "flow"):
        out = tmp_path / modality
        result = CliRunner().invoke(main, ["train", "--store", str(mixed[0]), "--modality", modality, "--arch", "tiny",
                                           "--input-size", "32", "--batch-size", "1", "--workers", "0",
                                           "--epochs", "1", "-o", str(out)])
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(main, ["test", "--store", str(mixed[0]), "--checkpoint",
                                           str(out / "checkpoint.pt"), "--crops", "10", "--workers", "0",
                                           "-o", str(tmp_path / f"{modality}.npz")])
        assert result.exit_code == 0 and f"{modality} split 1, 1 videos" in result.output, result.output


def test_tsn_train_and_test_run_on_a_store_of_landscape_and_portrait_videos(tmp_path):
    from cli.tsn_app import main

    store = make_tiny_store(tmp_path / "mixed.h5", classes=2, videos_per_class=4, frames=8,
                            streams=("rgb", "flow_x", "flow_y"), sizes=[(64, 36), (36, 64)])
    with FlowStore(store) as opened:
        assert {(v.width, v.height) for v in opened.videos} == {(64, 36), (36, 64)}
    for modality in ("rgb", "flow"):
        out = tmp_path / modality
        result = CliRunner().invoke(main, ["train", "--store", str(store), "--modality", modality, "--arch", "tiny",
                                           "--input-size", "32", "--batch-size", "4", "--workers", "0",
                                           "--epochs", "1", "-o", str(out)])
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(main, ["test", "--store", str(store), "--checkpoint", str(out / "checkpoint.pt"),
                                           "--crops", "10", "--workers", "0", "-o", str(tmp_path / f"{modality}.npz")])
        assert result.exit_code == 0 and f"{modality} split 1, 2 videos" in result.output, result.output


def _as_format_1(path, drop_size: bool = False) -> None:
    """Rewrite a store into the format-1 layout: no width / height columns, format_version 1."""
    with h5py.File(path, "r+") as file:
        del file["videos/width"], file["videos/height"]
        file.attrs["format_version"] = 1
        if drop_size:
            del file.attrs["size"]


def test_format_1_stores_still_read(tmp_path):
    path = make_tiny_store(tmp_path / "v1.h5", classes=2, videos_per_class=2, frames=4, size=(40, 30))
    _as_format_1(path)
    with FlowStore(path) as store:
        assert {(v.width, v.height) for v in store.videos} == {(40, 30)}  # from the store's size
        assert store.read("flow_x", 0, [0]).shape == (1, 30, 40)
    assert verify(path) == [] and summarize(path)["format_version"] == 1
    assert summarize(path)["frame_sizes"] == {"40x30": 4}
    unsized = make_tiny_store(tmp_path / "v1b.h5", classes=2, videos_per_class=2, frames=4, size=(40, 30))
    _as_format_1(unsized, drop_size=True)
    with FlowStore(unsized) as store:
        assert {(v.width, v.height) for v in store.videos} == {(0, 0)}  # unknown, and said so
    assert verify(unsized) == [] and summarize(unsized)["frame_sizes"] == {"unknown": 4}


def test_cli_extract_short_and_long_side(tmp_path):
    from cli.flowkit_app import main

    video = write_video(tmp_path / "clips" / "v.mp4", frames=3, size=(160, 90))
    for flag, value, expected in (("--short-side", "64", (112, 64)), ("--long-side", "64", (64, 36))):
        out = tmp_path / f"{flag[2:]}.h5"
        result = CliRunner().invoke(main, ["extract", str(video), "-o", str(out), "--workers", "0", "--algo",
                                           "farneback", flag, value])
        assert result.exit_code == 0, result.output
        with FlowStore(out) as store:
            assert (store.videos[0].width, store.videos[0].height) == expected
            assert store.read("rgb", 0, [0]).shape[1:3] == expected[::-1]
        info = CliRunner().invoke(main, ["info", str(out)])
        assert info.exit_code == 0 and f"frame sizes: {expected[0]}x{expected[1]} (1 video)" in info.output, info.output


def test_import_rawframes_refuses_a_folder_of_mixed_sizes(mixed, tmp_path):
    export_rawframes(mixed[0], tmp_path / "raw")
    cv2.imwrite(str(tmp_path / "raw" / "tall" / "portrait" / "flow_x_00002.jpg"), np.zeros((454, 250), np.uint8))
    with pytest.raises(ValueError, match="'img_00001.jpg' is 256x454 and 'flow_x_00002.jpg' is 250x454"):
        import_rawframes(tmp_path / "raw", tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()
