"""Kinetics CSVs and Something-Something V2 JSON files as users download them: labels, splits,
clips missing on either side, bad rows, and names with spaces exported for the reference loaders."""

import json

import numpy as np
import pytest

from extract_videos import textured_frames
from flowkit.extract.labels import coverage_notes, load_labels
from flowkit.extract.labels.kinetics import clip_name
from flowkit.rawframes import export_folder_name, export_rawframes
from flowkit.store import StoreWriter, VideoRecord
from flowkit.store.encode import encode_streams
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, SPLIT_UNUSED

KINETICS_TRAIN = """label,youtube_id,time_start,time_end,split,is_cc
air drumming,-3B32lodo2M,59,69,train,0
"passing American football (in game)",abseiling01,0,10,train,0
air drumming,missingClip,5,15,train,0
"""
KINETICS_VALIDATE = """label,youtube_id,time_start,time_end,split
abseiling,val_clip_1,100,110,validate
"""
KINETICS_TEST = """youtube_id,time_start,time_end,split
test_clip_9,1,11,test
"""


@pytest.fixture()
def kinetics(tmp_path):
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    (annotations / "train.csv").write_text(KINETICS_TRAIN)
    (annotations / "validate.csv").write_text(KINETICS_VALIDATE)
    (annotations / "test.csv").write_text(KINETICS_TEST)
    return annotations


# Video names as discovery gives them: the downloaders' `<split>/<label>/<clip>` layout and a flat one.
KINETICS_NAMES = [
    "train/air drumming/-3B32lodo2M_000059_000069",
    "train/passing American football (in game)/abseiling01_000000_000010",
    "val_clip_1_000100_000110",
    "test/test_clip_9_000001_000011",
    "train/air drumming/not_in_any_csv_000001_000011",
]


def test_kinetics_csv_folder(kinetics):
    labels = load_labels(kinetics)
    # Sorted labels of the labelled rows (the order of the published label maps); test rows add none.
    assert labels.classes == ["abseiling", "air drumming", "passing American football (in game)"]
    folder_of = {n: n.rsplit("/", 1)[0].rsplit("/", 1)[-1] if "/" in n else "" for n in KINETICS_NAMES}
    label_of, splits = labels.resolve(KINETICS_NAMES, folder_of)
    assert [label_of[n] for n in KINETICS_NAMES] == [1, 2, 0, -1, 1]  # no row: the folder's class
    assert sorted(splits) == [1]
    assert [splits[1][n] for n in KINETICS_NAMES] == [SPLIT_TRAIN, SPLIT_TRAIN, SPLIT_TEST, SPLIT_UNUSED,
                                                      SPLIT_UNUSED]
    notes = coverage_notes(labels, KINETICS_NAMES)
    assert len(notes) == 2
    assert "1 entries" in notes[0] and "missingClip_000005_000015" in notes[0]
    assert "1 videos" in notes[1] and "not_in_any_csv_000001_000011" in notes[1]
    # One CSV file is a source too; its file name gives the split when rows have none.
    single = kinetics / "kinetics_400_val.csv"
    single.write_text("label,youtube_id,time_start,time_end\nabseiling,x,1,11\n")
    labels = load_labels(single)
    assert labels.classes == ["abseiling"] and labels.splits == {1: {"x_000001_000011": SPLIT_TEST}}


def test_kinetics_clip_names():
    assert clip_name("-3B32lodo2M", 59, 69) == "-3B32lodo2M_000059_000069"
    assert clip_name("abc", 1.0, 11.0) == "abc_000001_000011"


@pytest.mark.parametrize("body, message", [
    ("label,youtube_id,time_start,time_end,split\nabseiling,abc,,10,train\n", "train.csv:2: expected youtube_id"),
    ("label,youtube_id,time_start,time_end,split\nabseiling,abc,0,10,holdout\n", "train.csv:2: split must be"),
    ("label,youtube_id,time_start,time_end,split\n,abc,0,10,train\n", "train.csv:2: a train row without a label"),
])
def test_kinetics_bad_rows_name_the_line(tmp_path, body, message):
    (tmp_path / "train.csv").write_text(body)
    with pytest.raises(ValueError, match=message):
        load_labels(tmp_path / "train.csv")


@pytest.fixture()
def ssv2(tmp_path):
    folder = tmp_path / "ssv2"
    folder.mkdir()
    (folder / "labels.json").write_text(json.dumps({
        "Holding something next to something": "0", "Putting something on a surface": "1",
        "Pushing something from left to right": "2"}))
    (folder / "something-something-v2-train.json").write_text(json.dumps([
        {"id": "78687", "label": "holding potato next to vicks vaporub bottle",
         "template": "Holding [something] next to [something]", "placeholders": ["potato", "vicks vaporub bottle"]},
        {"id": "42326", "label": "putting a cup on a surface", "template": "Putting [something] on a surface",
         "placeholders": ["a cup"]},
        {"id": "999999", "label": "no file for this one", "template": "Putting [something] on a surface",
         "placeholders": ["x"]},
    ]))
    (folder / "something-something-v2-validation.json").write_text(json.dumps([
        {"id": "74225", "label": "pushing a pen from left to right",
         "template": "Pushing [something] from left to right", "placeholders": ["a pen"]},
    ]))
    (folder / "something-something-v2-test.json").write_text(json.dumps([{"id": "1420"}]))
    return folder


def test_ssv2_json_files(ssv2):
    names = ["78687", "42326", "74225", "1420", "5"]  # <id>.webm files, flat
    for source in (ssv2, ssv2 / "labels.json"):
        labels = load_labels(source)
        assert labels.classes == ["Holding something next to something", "Putting something on a surface",
                                  "Pushing something from left to right"]
        label_of, splits = labels.resolve(names, {n: "" for n in names})
        assert [label_of[n] for n in names] == [0, 1, 2, -1, -1]
        assert [splits[1][n] for n in names] == [SPLIT_TRAIN, SPLIT_TRAIN, SPLIT_TEST, SPLIT_UNUSED, SPLIT_UNUSED]
    notes = coverage_notes(labels, names)
    assert "1 entries" in notes[0] and "999999" in notes[0]
    assert "1 videos" in notes[1] and ": 5" in notes[1]


@pytest.mark.parametrize("edit, message", [
    (lambda f: (f / "something-something-v2-validation.json").write_text('[{"id": "1", "template": "Nope"}]'),
     "entry 1: template 'Nope' is not in"),
    (lambda f: (f / "something-something-v2-train.json").write_text("[{"), "not valid JSON"),
    (lambda f: (f / "labels.json").write_text('{"A": "0", "B": "2"}'), "class indices must be 0..1"),
    (lambda f: (f / "something-something-v2-test.json").write_text('[{"label": "no id"}]'), "entry 0 has no id"),
])
def test_ssv2_bad_files_are_one_clear_line(ssv2, edit, message):
    edit(ssv2)
    with pytest.raises(ValueError, match=message):
        load_labels(ssv2)


def test_names_with_spaces_export_for_the_reference_loaders(tmp_path):
    """Kinetics names hold spaces; tsn-pytorch and mmaction2 split list lines on whitespace, so the
    exported folders and list entries use '_' (as mmaction2's Kinetics tools rename them)."""
    streams = {"rgb": "jpeg", "flow_x": "jpeg", "flow_y": "jpeg"}
    names = ["train/air drumming/-3B32lodo2M_000059_000069", "train/zumba/abc_000001_000011"]
    path = tmp_path / "k.h5"
    with StoreWriter(path, streams, {"bound": 20.0}) as writer:
        for k, name in enumerate(names):
            flow = np.zeros((3, 2, 16, 24), np.float32)
            writer.add_video(VideoRecord(name=name, label=k, num_frames=4),
                             encode_streams(streams, rgb=textured_frames(4, (24, 16), seed=k), flow=flow))
        writer.set_classes(["air drumming", "zumba"])
    out = tmp_path / "rawframes"
    export_rawframes(path, out)
    rows = [line.split() for line in (out / "rawframes.txt").read_text().splitlines()]
    assert rows == [["train/air_drumming/-3B32lodo2M_000059_000069", "4", "0"],
                    ["train/zumba/abc_000001_000011", "4", "1"]]
    assert all((out / folder / "img_00004.jpg").is_file() for folder, _, _ in rows)
    assert export_folder_name("a b\tc") == "a_b_c"


def test_export_refuses_names_that_collide_after_renaming(tmp_path):
    streams = {"rgb": "jpeg"}
    path = tmp_path / "k.h5"
    with StoreWriter(path, streams, {"bound": 20.0}) as writer:
        for k, name in enumerate(["c/a b", "c/a_b"]):
            writer.add_video(VideoRecord(name=name, label=0, num_frames=2),
                             encode_streams(streams, rgb=textured_frames(2, (24, 16), seed=k)))
        writer.set_classes(["c"])
    with pytest.raises(ValueError, match="would both be exported to 'c/a_b'"):
        export_rawframes(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
