"""Rawframe lists the reference loaders read item for item: the export's RGB and flow lists, fed to
re-implementations of tsn-pytorch's TSNDataSet and mmaction2's SampleFrames + RawframeDataset index
arithmetic (tests/reference_loaders.py), never ask for a file past the last one written."""

import itertools
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import textured_frames
from flowkit.rawframes import export_rawframes, import_rawframes
from flowkit.store import FlowStore, StoreWriter, VideoRecord
from flowkit.store.encode import encode_streams
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN
from reference_loaders import draws, mmaction_frame_inds, tsn_pytorch_indices, tsn_pytorch_starts

FRAME_COUNTS = {"a/v5": 5, "a/v12": 12, "b/v13": 13, "b/v1": 1}  # a 1-frame video has no flow pair
STREAMS = {"rgb": "jpeg", "flow_x": "jpeg", "flow_y": "jpeg", "warp_x": "jpeg", "warp_y": "jpeg"}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A store of 5-, 12-, 13- and 1-frame videos (split 1: v5 and v13 train, v12 and v1 test),
    exported with relative paths."""
    root = tmp_path_factory.mktemp("lists")
    path = root / "store.h5"
    rng = np.random.default_rng(0)
    with StoreWriter(path, STREAMS, {"bound": 20.0}) as writer:
        for k, (name, frames) in enumerate(FRAME_COUNTS.items()):
            flow = rng.normal(0, 2, (frames - 1, 2, 16, 24)).astype(np.float32)
            encoded = encode_streams(STREAMS, rgb=textured_frames(frames, (24, 16), seed=k), flow=flow, warp=flow)
            label = 0 if name.startswith("a/") else 1
            writer.add_video(VideoRecord(name=name, label=label, num_frames=frames), encoded)
        writer.set_classes(["a", "b"])
        writer.set_split(1, {"a/v5": SPLIT_TRAIN, "b/v13": SPLIT_TRAIN, "a/v12": SPLIT_TEST, "b/v1": SPLIT_TEST})
    out = root / "rawframes"
    report = export_rawframes(path, out)
    return out, report


def read_list(path: Path) -> list[tuple[str, int, int]]:
    rows = (line.split() for line in path.read_text().splitlines())
    return [(folder, int(count), int(label)) for folder, count, label in rows]


def test_export_writes_rgb_and_flow_lists_with_their_counts(export):
    out, report = export
    assert report.lists == ["rawframes.txt", "rawframes_train_split_1.txt", "rawframes_val_split_1.txt",
                            "rawframes_flow.txt", "rawframes_flow_train_split_1.txt", "rawframes_flow_val_split_1.txt"]
    assert read_list(out / "rawframes_train_split_1.txt") == [("a/v5", 5, 0), ("b/v13", 13, 1)]
    assert read_list(out / "rawframes_val_split_1.txt") == [("a/v12", 12, 0), ("b/v1", 1, 1)]
    assert read_list(out / "rawframes_flow_train_split_1.txt") == [("a/v5", 4, 0), ("b/v13", 12, 1)]
    assert read_list(out / "rawframes_flow_val_split_1.txt") == [("a/v12", 11, 0)]  # v1 has no flow
    assert read_list(out / "rawframes_flow.txt") == [("a/v5", 4, 0), ("a/v12", 11, 0), ("b/v13", 12, 1)]
    # Each count is the number of files the loader may open, numbered from 1.
    for folder, count, _ in read_list(out / "rawframes_flow.txt"):
        assert (out / folder / f"flow_y_{count:05d}.jpg").is_file()
        assert not (out / folder / f"flow_x_{count + 1:05d}.jpg").exists()


def test_absolute_paths(export, tmp_path):
    store = next(export[0].parent.glob("*.h5"))
    result = CliRunner().invoke(_flowkit(), ["export-rawframes", str(store), str(tmp_path / "abs"), "--absolute-paths"])
    assert result.exit_code == 0, result.output
    assert "lists: rawframes.txt, rawframes_train_split_1.txt" in result.output
    rows = read_list(tmp_path / "abs" / "rawframes_flow_val_split_1.txt")
    assert rows == [(str((tmp_path / "abs" / "a" / "v12").resolve()), 11, 0)]
    assert Path(rows[0][0], "flow_x_00011.jpg").is_file()


def _flowkit():
    from cli.flowkit_app import main

    return main


def _missing(out: Path, rows, files_of) -> list[str]:
    """Files numbered 1 or more that the loader would open for a row, for any draw, and that are
    not there (indices below 1 are counted by _before_first)."""
    missing = set()
    for folder, count, _ in rows:
        for _, draw, uniform in draws():
            for index, name in files_of(count, draw, uniform):
                if index >= 1 and not (out / folder / name).is_file():
                    missing.add(f"{folder}/{name}")
    return sorted(missing)


def _before_first(rows, files_of) -> list[str]:
    """Folders of the rows for which the loader asks for an index below 1, for some draw."""
    return sorted({folder for folder, count, _ in rows for _, draw, uniform in draws()
                   if min(index for index, _ in files_of(count, draw, uniform)) < 1})


# tsn-pytorch settings per modality: list kind, image_tmpl, new_length (RGBDiff reads one more).
TSN_PYTORCH = {
    "RGB": ("rawframes", "img_{:05d}.jpg", 1),
    "RGBDiff": ("rawframes", "img_{:05d}.jpg", 6),
    "Flow": ("rawframes_flow", "flow_{}_{:05d}.jpg", 5),
    "Flow (warped)": ("rawframes_flow", "warp_{}_{:05d}.jpg", 5),
}
MODES = {"train": ("train", 3), "val": ("val", 3), "test": ("val", 25)}  # list subset, segments


def _tsn_pytorch_files(template, new_length, mode, segments):
    def files_of(count, draw, uniform):
        starts = tsn_pytorch_starts(count, segments, new_length, mode, draw)
        indices = tsn_pytorch_indices(count, starts, new_length)
        return _names(template, indices)

    return files_of


def _names(template, indices):
    """[(index, file name)] a loader opens for `indices`: one per index, two (x, y) for flow."""
    if "{}" in template:
        return [(i, template.format(axis, i)) for i in indices for axis in "xy"]
    return [(i, template.format(i)) for i in indices]


@pytest.mark.parametrize("modality,mode", itertools.product(TSN_PYTORCH, MODES))
def test_tsn_pytorch_reads_only_written_files(export, modality, mode):
    out, _ = export
    kind, template, new_length = TSN_PYTORCH[modality]
    subset, segments = MODES[mode]
    rows = read_list(out / f"{kind}_{subset}_split_1.txt")
    files_of = _tsn_pytorch_files(template, new_length, mode, segments)
    if mode == "train":
        # tsn-pytorch's _sample_indices calls randint(count - new_length + 1) for an entry of exactly
        # new_length - 1 files (flow: 4 files, a 5-frame video; RGBDiff: 5 frames): numpy raises
        # before any file is read, whatever the list says (documented in docs/rawframes.md).
        crashing = [row for row in rows if row[1] == new_length - 1 > segments]
        for _, count, _ in crashing:
            with pytest.raises(ValueError, match="high <= 0"):
                files_of(count, lambda high: 0, None)
        assert len(crashing) == (1 if modality != "RGB" else 0)
        rows = [row for row in rows if row not in crashing]
    assert rows and _missing(out, rows, files_of) == []
    # tsn-pytorch's test/val ticks go negative for entries shorter than new_length - 1 and then ask
    # for index 0 or below (here RGBDiff on the 1-frame video): its own limit, not a list's count.
    short = [folder for folder, count, _ in rows if count < new_length - 2 and mode == "test"]
    assert _before_first(rows, files_of) == short


MMACTION = {  # modality: list kind, filename_tmpl, clip_len (mmaction2's TSN rgb and flow configs)
    "RGB": ("rawframes", "img_{:05}.jpg", 1),
    "Flow": ("rawframes_flow", "flow_{}_{:05d}.jpg", 5),
}
MMACTION_MODES = {  # name: list subset, num_clips, test_mode, twice_sample, keep_tail_frames
    "train": ("train", 3, False, False, False),
    "train-keep-tail": ("train", 3, False, False, True),
    "val": ("val", 3, True, False, False),
    "test": ("val", 25, True, False, False),
    "test-twice": ("val", 25, True, True, False),
}


@pytest.mark.parametrize("modality,mode,out_of_bound",
                         itertools.product(MMACTION, MMACTION_MODES, ("loop", "repeat_last")))
def test_mmaction2_reads_only_written_files(export, modality, mode, out_of_bound):
    out, _ = export
    kind, template, clip_len = MMACTION[modality]
    subset, num_clips, test_mode, twice, keep_tail = MMACTION_MODES[mode]

    def files_of(count, draw, uniform):
        indices = mmaction_frame_inds(count, clip_len, num_clips, test_mode, draw, uniform, twice_sample=twice,
                                      out_of_bound_opt=out_of_bound, keep_tail_frames=keep_tail)
        return _names(template, indices)

    rows = read_list(out / f"{kind}_{subset}_split_1.txt")
    assert rows and _missing(out, rows, files_of) == [] and _before_first(rows, files_of) == []


def test_the_rgb_count_on_flow_files_reads_past_the_last_file(export):
    """The failure the flow lists fix: an RGB list entry read as flow asks for flow_x_<F>.jpg."""
    out, _ = export
    rows = read_list(out / "rawframes_train_split_1.txt")  # RGB counts 5 and 13
    missing = _missing(out, rows, _tsn_pytorch_files("flow_{}_{:05d}.jpg", 5, "test", 25))
    assert "b/v13/flow_x_00013.jpg" in missing
    train = [row for row in rows if row[1] == 13]
    assert "b/v13/flow_x_00013.jpg" in _missing(out, train, _tsn_pytorch_files("flow_{}_{:05d}.jpg", 5, "train", 3))

    def mmaction_test(count, draw, uniform):
        return _names("flow_{}_{:05d}.jpg", mmaction_frame_inds(count, 5, 25, True, draw))

    assert "b/v13/flow_x_00013.jpg" in _missing(out, rows, mmaction_test)


def test_reference_arithmetic_matches_known_draws():
    """Spot values worked out by hand from the reference code."""
    # tsn-pytorch, 13 RGB frames read as flow (new_length 5): average_duration (13 - 5 + 1) // 3 = 3,
    # the last segment's draw 2 starts at 6 + 2 + 1 = 9 and reads 9..13.
    assert tsn_pytorch_starts(13, 3, 5, "train", lambda high: high - 1) == [3, 6, 9]
    assert tsn_pytorch_indices(13, [9], 5) == [9, 10, 11, 12, 13]
    # ... which is flow_x_00013.jpg, past the 12 flow files. With the flow count 12: average (12 - 4) // 3 = 2,
    # the last start 2 * 2 + 1 + 1 = 6 at most, reading 6..10.
    assert tsn_pytorch_starts(12, 3, 5, "train", lambda high: high - 1) == [2, 4, 6]
    # test mode, 25 segments of 12 flow frames: tick = 8 / 25.
    assert tsn_pytorch_starts(12, 25, 5, "test", None)[-1] == int(4 / 25 + 8 / 25 * 24) + 1 == 8
    # index stops at the last listed frame instead of passing it
    assert tsn_pytorch_indices(4, [3], 5) == [3, 4, 4, 4, 4]
    # mmaction2 2D test sampling: 25 clips of 13 frames, offsets 0.26 + 0.52 k, +1, truncated.
    assert mmaction_frame_inds(13, 1, 25, True, None)[-1] == int(0.26 + 0.52 * 24) + 1 == 13
    # mmaction2 clip_len 5 on 4 frames: loop wraps to the first, repeat_last repeats the fourth.
    assert mmaction_frame_inds(4, 5, 1, False, lambda high: 0) == [1, 2, 3, 4, 1]
    assert mmaction_frame_inds(4, 5, 1, False, lambda high: 0, out_of_bound_opt="repeat_last") == [1, 2, 3, 4, 4]


def test_import_accepts_rgb_and_flow_lists(export, tmp_path):
    out, _ = export
    stores = {}
    for kind in ("rawframes", "rawframes_flow"):
        target = tmp_path / f"{kind}.h5"
        result = CliRunner().invoke(_flowkit(), ["import-rawframes", str(out), "-o", str(target),
                                                 "--labels", str(out / f"{kind}_train_split_1.txt")])
        assert result.exit_code == 0, result.output
        stores[kind] = FlowStore(target)
    rgb, flow = stores["rawframes"], stores["rawframes_flow"]
    def rows(store):
        return [(v.name, v.num_frames, v.label) for v in store.videos]

    assert rows(rgb) == rows(flow)
    assert [(v.name, v.num_frames) for v in rgb.videos] == [("a/v12", 12), ("a/v5", 5), ("b/v1", 1), ("b/v13", 13)]
    assert rgb.splits[1].tolist() == flow.splits[1].tolist() == [0, SPLIT_TRAIN, 0, SPLIT_TRAIN]
    assert flow.num_records(3, "flow_x") == 12 and flow.num_records(3, "warp_y") == 12
    # Labels of videos the train list does not name come from their folder, as before.
    assert [v.label for v in flow.videos] == [0, 0, 1, 1]
    roundtrip = import_rawframes(out, tmp_path / "again.h5", labels=out / "rawframes_flow.txt")
    assert roundtrip.videos == 4
