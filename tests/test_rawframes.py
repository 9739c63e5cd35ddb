"""The dense_flow / mmaction2 rawframes layout: import copies the files' bytes into a store, export
writes them back byte for byte (and PNG flow as JPEG), names never leave the output folder."""

import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import textured_frames
from flowkit.quantize import quantize_flow
from flowkit.rawframes import export_rawframes, import_rawframes
from flowkit.store import FlowStore, StoreWriter, VideoRecord
from flowkit.store.codec import decode_image, encode_image
from flowkit.store.encode import encode_streams
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN


def _cli(args):
    from cli.flowkit_app import main

    return CliRunner().invoke(main, args)


def _write_rawframes(folder, frames, seed, start=1, flows=None):
    """A dense_flow-style video folder: img_ for every frame, flow_x_/flow_y_ for every pair."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rgb = textured_frames(frames, (48, 32), seed=seed)
    flow = rng.normal(0, 3, (frames - 1 if flows is None else flows, 2, 32, 48)).astype(np.float32)
    q = quantize_flow(flow, 20.0)
    for t, image in enumerate(rgb):
        encode_image(image, "jpeg").tofile(folder / f"img_{t + start:05d}.jpg")
    for t in range(len(q)):
        encode_image(q[t, 0], "jpeg").tofile(folder / f"flow_x_{t + start:05d}.jpg")
        encode_image(q[t, 1], "jpeg").tofile(folder / f"flow_y_{t + start:05d}.jpg")


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.jpg"))}


@pytest.fixture()
def rawframes(tmp_path):
    root = tmp_path / "rawframes"
    _write_rawframes(root / "Jump" / "v_Jump_g01_c01", 5, seed=1)
    _write_rawframes(root / "Jump" / "v_Jump_g02_c01", 4, seed=2)
    _write_rawframes(root / "Sit" / "v_Sit_g01_c01", 6, seed=3)
    return root


def test_import_then_export_gives_the_same_files(rawframes, tmp_path):
    report = import_rawframes(rawframes, tmp_path / "s.h5")
    assert (report.videos, report.frames, report.files) == (3, 15, 15 + 2 * 12) and report.notes == []
    store = FlowStore(tmp_path / "s.h5")
    assert store.streams == {"rgb": "jpeg", "flow_x": "jpeg", "flow_y": "jpeg"}
    assert [(v.name, v.num_frames, v.label) for v in store.videos] == [
        ("Jump/v_Jump_g01_c01", 5, 0), ("Jump/v_Jump_g02_c01", 4, 0), ("Sit/v_Sit_g01_c01", 6, 1)]
    assert store.classes == ["Jump", "Sit"] and store.attrs["size"] == [48, 32]
    # Record bytes are the files' bytes.
    file_bytes = (rawframes / "Sit/v_Sit_g01_c01/flow_y_00005.jpg").read_bytes()
    assert store.read_encoded("flow_y", 2, [4])[0].tobytes() == file_bytes

    result = _cli(["export-rawframes", str(tmp_path / "s.h5"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert _files(tmp_path / "out") == _files(rawframes)
    listing = (tmp_path / "out" / "rawframes.txt").read_text().splitlines()
    assert listing == ["Jump/v_Jump_g01_c01 5 0", "Jump/v_Jump_g02_c01 4 0", "Sit/v_Sit_g01_c01 6 1"]
    # Exporting again over existing folders needs --overwrite.
    assert _cli(["export-rawframes", str(tmp_path / "s.h5"), str(tmp_path / "out")]).exit_code == 2
    assert _cli(["export-rawframes", str(tmp_path / "s.h5"), str(tmp_path / "out"), "--overwrite"]).exit_code == 0


def test_store_to_rawframes_to_store_keeps_labels_splits_and_flow(tmp_path):
    """A store with PNG flow: export writes the flow as JPEG (lossy, a few levels), labels and the
    split go through mmaction2 list files and come back on import."""
    path = tmp_path / "png.h5"
    rng = np.random.default_rng(0)
    flows = {}
    with StoreWriter(path, {"rgb": "jpeg", "flow_x": "png", "flow_y": "png"}, {"bound": 20.0}) as writer:
        for k, name in enumerate(["a/one", "b/two"]):
            flows[name] = rng.normal(0, 4, (3, 2, 32, 48)).astype(np.float32)
            flows[name][:, :, 8:24] = np.float32(k + 1)  # smooth regions JPEG keeps well
            encoded = encode_streams({"rgb": "jpeg", "flow_x": "png", "flow_y": "png"},
                                     rgb=textured_frames(4, (48, 32), seed=k), flow=flows[name])
            writer.add_video(VideoRecord(name=name, label=1 - k, num_frames=4), encoded)
        writer.set_classes(["b", "a"])
        writer.set_split(1, {"a/one": SPLIT_TRAIN, "b/two": SPLIT_TEST})
    export_rawframes(path, tmp_path / "out")
    assert (tmp_path / "out" / "rawframes_train_split_1.txt").read_text() == "a/one 4 1\n"
    assert (tmp_path / "out" / "rawframes_val_split_1.txt").read_text() == "b/two 4 0\n"
    quantized = decode_image(np.fromfile(tmp_path / "out" / "b/two/flow_x_00002.jpg", np.uint8), color=False)
    expected = quantize_flow(flows["b/two"][1, 0], 20.0)
    assert np.abs(quantized.astype(int) - expected)[8:24].max() <= 2  # JPEG on the smooth band

    import_rawframes(tmp_path / "out", tmp_path / "back.h5", labels=tmp_path / "out" / "rawframes_train_split_1.txt")
    back = FlowStore(tmp_path / "back.h5")
    assert [(v.name, v.num_frames, v.label) for v in back.videos] == [("a/one", 4, 1), ("b/two", 4, -1)]
    assert back.splits[1].tolist() == [SPLIT_TRAIN, 0]
    original = FlowStore(path)
    assert back.read_encoded("rgb", 1, [3])[0].tobytes() == original.read_encoded("rgb", 1, [3])[0].tobytes()


def test_zero_based_numbering_and_uneven_counts(tmp_path):
    root = tmp_path / "raw"
    _write_rawframes(root / "v0", 5, seed=0, start=0)
    _write_rawframes(root / "v1", 5, seed=1, flows=5)  # as many flows as frames: one too many
    report = import_rawframes(root, tmp_path / "s.h5")
    store = FlowStore(tmp_path / "s.h5")
    assert [v.num_frames for v in store.videos] == [5, 5] and store.num_records(1, "flow_x") == 4
    assert len(report.notes) == 1 and report.notes[0].startswith("v1: kept 5 frames")
    assert store.read_encoded("rgb", 0, [0])[0].tobytes() == (root / "v0" / "img_00000.jpg").read_bytes()


def test_bad_layouts_are_refused(tmp_path):
    root = tmp_path / "raw"
    _write_rawframes(root / "v0", 4, seed=0)
    (root / "v0" / "img_00002.jpg").unlink()  # a gap in the numbering
    with pytest.raises(ValueError, match="not numbered consecutively"):
        import_rawframes(root, tmp_path / "s.h5")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no rawframe folders"):
        import_rawframes(empty, tmp_path / "t.h5")


def test_export_never_writes_outside_the_folder(tmp_path):
    path = tmp_path / "evil.h5"
    encoded = encode_streams({"rgb": "jpeg"}, rgb=textured_frames(2, (16, 16)))
    with StoreWriter(path, {"rgb": "jpeg"}) as writer:
        writer.add_video(VideoRecord(name="../../escaped", num_frames=2), encoded)
    with pytest.raises(ValueError, match="'..' path components"):
        export_rawframes(path, tmp_path / "out" / "inner")
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.rglob("img_*.jpg"))
    result = _cli(["export-rawframes", str(path), str(tmp_path / "out")])
    assert (result.exit_code == 2 and result.output.startswith("Error: ")
            and "invalid video name '../../escaped'" in result.output)
    assert len(result.output.strip().splitlines()) == 1
