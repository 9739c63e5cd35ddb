"""Labels and splits from the three list-file formats (UCF101 with CRLF, HMDB51, mmaction2), and
how entries are matched to video names."""

import pytest

from flowkit.extract.labels import Labels, labels_from_folders, load_labels, video_key
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, SPLIT_UNUSED


def _crlf(path, lines):
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())


@pytest.fixture()
def ucf(tmp_path):
    folder = tmp_path / "ucfTrainTestlist"
    folder.mkdir()
    _crlf(folder / "classInd.txt", ["1 ApplyEyeMakeup", "2 Archery", "3 BabyCrawling"])
    _crlf(folder / "trainlist01.txt",
          ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1", "Archery/v_Archery_g08_c02.avi 2"])
    _crlf(folder / "testlist01.txt",
          ["BabyCrawling/v_BabyCrawling_g01_c01.avi", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"])
    _crlf(folder / "trainlist02.txt", ["BabyCrawling/v_BabyCrawling_g01_c01.avi 3"])
    _crlf(folder / "testlist02.txt", ["Archery/v_Archery_g08_c02.avi"])
    return folder


def test_ucf101_folder_with_crlf(ucf):
    labels = load_labels(ucf)
    assert labels.classes == ["ApplyEyeMakeup", "Archery", "BabyCrawling"]  # no '\r' left on names
    names = [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01",
        "Archery/v_Archery_g08_c02",
        "BabyCrawling/v_BabyCrawling_g01_c01",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01",
        "Archery/v_Archery_g99_c01",  # in no list: class from its folder, unused in splits
    ]
    label_of, splits = labels.resolve(names)
    assert [label_of[n] for n in names] == [0, 1, 2, 0, 1]
    assert sorted(splits) == [1, 2]
    assert [splits[1][n] for n in names] == [SPLIT_TRAIN, SPLIT_TRAIN, SPLIT_TEST, SPLIT_TEST, SPLIT_UNUSED]
    assert [splits[2][n] for n in names] == [SPLIT_UNUSED, SPLIT_TEST, SPLIT_TRAIN, SPLIT_UNUSED, SPLIT_UNUSED]
    # classInd.txt itself is accepted in place of its folder.
    assert load_labels(ucf / "classInd.txt").classes == labels.classes


def test_ucf101_bad_label_is_an_error(ucf):
    _crlf(ucf / "trainlist03.txt", ["Archery/v_x.avi 7"])
    with pytest.raises(ValueError, match="label 7"):
        load_labels(ucf)


def test_hmdb51_split_files(tmp_path):
    folder = tmp_path / "splits"
    folder.mkdir()
    # HMDB51's files: '<video>.avi <code> ' with a trailing space, one file per class and split.
    (folder / "brush_hair_test_split1.txt").write_text("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 \n"
                                                       "Blonde_brush_hair_f_nm_np2_le_goo_2.avi 2 \n")
    (folder / "brush_hair_test_split2.txt").write_text("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 2 \n"
                                                       "Blonde_brush_hair_f_nm_np2_le_goo_2.avi 0 \n")
    (folder / "cartwheel_test_split1.txt").write_text("Bodenturnen_cartwheel_f_cm_np1_le_med_5.avi 0 \n")
    labels = load_labels(folder)
    assert labels.classes == ["brush_hair", "cartwheel"]
    names = [
        "brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0",
        "brush_hair/Blonde_brush_hair_f_nm_np2_le_goo_2",
        "cartwheel/Bodenturnen_cartwheel_f_cm_np1_le_med_5",
    ]
    label_of, splits = labels.resolve(names)
    assert [label_of[n] for n in names] == [0, 0, 1]
    assert [splits[1][n] for n in names] == [SPLIT_TRAIN, SPLIT_TEST, SPLIT_UNUSED]
    assert [splits[2][n] for n in names] == [SPLIT_TEST, SPLIT_UNUSED, SPLIT_UNUSED]


def test_mmaction2_video_and_rawframe_lists(tmp_path):
    videos = tmp_path / "ucf101_train_split_2_videos.txt"
    videos.write_text("Walk/v_Walk_g01_c01.mp4 1\nRun/v_Run_g01_c01.mp4 0\nRun/v_Run_g02_c01.mp4 0\n")
    labels = load_labels(videos)
    assert labels.classes == ["Run", "Walk"]  # names from the entries' folders, ordered by label
    label_of, splits = labels.resolve(["Run/v_Run_g01_c01", "Walk/v_Walk_g01_c01", "Other/x"])
    assert label_of == {"Run/v_Run_g01_c01": 0, "Walk/v_Walk_g01_c01": 1, "Other/x": -1}
    assert splits == {2: {"Run/v_Run_g01_c01": SPLIT_TRAIN, "Walk/v_Walk_g01_c01": SPLIT_TRAIN,
                          "Other/x": SPLIT_UNUSED}}

    rawframes = tmp_path / "hmdb51_val_split_1_rawframes.txt"
    rawframes.write_text("a/video1 40 3\r\nb/video2 31 0\r\n")
    labels = load_labels(rawframes)
    assert labels.classes == ["0", "1", "2", "3"]  # labels 1 and 2 have no entry: no names to infer
    label_of, splits = labels.resolve(["a/video1", "b/video2"])
    assert label_of == {"a/video1": 3, "b/video2": 0}
    assert splits[1] == {"a/video1": SPLIT_TEST, "b/video2": SPLIT_TEST}


def test_entries_match_names_by_trailing_components():
    labels = Labels(classes=["a", "b"], label_of={"data/ucf/a/v1": 0, "b/v2": 1, "x/dup": 0, "y/dup": 1})
    label_of, _ = labels.resolve(["a/v1", "extra/root/b/v2", "dup"], folder_of={"dup": "b"})
    # 'dup' matches two entries: ambiguous, so it falls back to its folder's class.
    assert label_of == {"a/v1": 0, "extra/root/b/v2": 1, "dup": 1}


def test_video_key_normalises_entries():
    assert video_key("./Class\\v_x.AVI ") == "Class/v_x"
    assert video_key("frames/dir_without_ext") == "frames/dir_without_ext"
    assert video_key("a/b.c.mp4") == "a/b.c"


def test_default_labels_are_parent_folders():
    classes, label_of = labels_from_folders({"run/a": "run", "walk/b": "walk", "run/c": "run"})
    assert classes == ["run", "walk"] and label_of == {"run/a": 0, "walk/b": 1, "run/c": 0}


def test_unknown_sources_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_labels(tmp_path / "missing")
    with pytest.raises(ValueError, match="is none of"):
        load_labels(tmp_path)
    bad = tmp_path / "list.txt"
    bad.write_text("a/b.mp4 notanumber\n")
    with pytest.raises(ValueError, match="integer"):
        load_labels(bad)
