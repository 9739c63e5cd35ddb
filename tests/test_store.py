"""Round trips through the HDF5 store: what is written is read back exactly, by index and name."""

import h5py
import numpy as np
import pytest

from flowkit.quantize import quantize_flow, quantization_step
from flowkit.store import FlowStore, StoreWriter, VideoRecord
from flowkit.store.codec import encode_image
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, STATUS_FAILED

STREAMS = {"rgb": "jpeg", "flow_x": "zstd", "flow_y": "png"}  # both lossless flow codecs


def _video(rng, frames, h=24, w=32):
    # Smooth frames: JPEG's chroma subsampling would wreck pixel noise.
    coarse = rng.integers(0, 256, (frames, h // 8, w // 8, 3)).astype(np.uint8)
    rgb = coarse.repeat(8, axis=1).repeat(8, axis=2)
    flow = rng.normal(0, 5, (frames - 1, 2, h, w)).astype(np.float32)
    return rgb, flow


def _encode(rgb, flow, bound=20.0):
    q = quantize_flow(flow, bound)
    return {
        "rgb": [encode_image(f, "jpeg", quality=100) for f in rgb],
        "flow_x": [encode_image(p, "zstd") for p in q[:, 0]],
        "flow_y": [encode_image(p, "png") for p in q[:, 1]],
    }


@pytest.fixture()
def store_path(tmp_path):
    rng = np.random.default_rng(0)
    videos = {name: _video(rng, n) for name, n in [("a/v1", 5), ("b/v2", 3), ("a/v3", 7)]}
    path = tmp_path / "s.h5"
    with StoreWriter(path, STREAMS, attrs={"bound": 20.0, "size": [32, 24], "flow_params": {"tau": 0.25}}) as w:
        for label, (name, (rgb, flow)) in enumerate(videos.items()):
            w.add_video(VideoRecord(name=name, label=label % 2, num_frames=len(rgb)), _encode(rgb, flow))
        w.add_video(VideoRecord(name="broken", status=STATUS_FAILED, error="zero frames"), {})
        w.set_classes(["a", "b"])
        w.set_split(1, {"a/v1": SPLIT_TRAIN, "b/v2": SPLIT_TRAIN, "a/v3": SPLIT_TEST, "broken": SPLIT_TRAIN})
    return path, videos


def test_round_trip_reads_every_frame_back(store_path):
    path, videos = store_path
    store = FlowStore(path)
    assert store.classes == ["a", "b"]
    assert store.attrs["flow_params"] == {"tau": 0.25} and store.attrs["size"] == [32, 24]
    assert [v.name for v in store.videos] == ["a/v1", "b/v2", "a/v3", "broken"]
    for name, (rgb, flow) in videos.items():
        i = store.index_of(name)
        assert store.num_records(i, "rgb") == len(rgb) and store.num_records(i, "flow_x") == len(rgb) - 1
        # JPEG at quality 100 is near-lossless; PNG flow is exact up to quantization.
        got = store.read("rgb", i, range(len(rgb)))
        assert np.abs(got.astype(int) - rgb).mean() < 10  # a wrong frame differs by ~85
        picked = [len(rgb) - 2, 0]
        got_flow = store.read_flow(i, picked)
        expected = np.clip(flow[picked], -20, 20)
        assert got_flow.shape == (2, 2, 24, 32) and got_flow.dtype == np.float32
        assert np.abs(got_flow - expected).max() <= quantization_step(20.0) / 2 + 1e-5


def test_splits_exclude_failed_and_unknown(store_path):
    store = FlowStore(store_path[0])
    assert store.split_videos(1, "train") == [0, 1]
    assert store.split_videos(1, "test") == [2]
    with pytest.raises(ValueError, match="no split 2"):
        store.split_videos(2, "train")
    with pytest.raises(ValueError, match="no stream 'warp_x'"):
        store.read("warp_x", 0, [0])
    with pytest.raises(IndexError):
        store.read("flow_x", 1, [2])
    with pytest.raises(KeyError):
        store.index_of("nope")


def test_plain_h5py_can_read_a_frame(store_path):
    """The documented layout: data[offsets[start + t]:offsets[start + t + 1]] is frame t's file."""
    import cv2

    path, videos = store_path
    with h5py.File(path, "r") as f:
        names = [n.decode() for n in f["videos/name"][()]]
        i = names.index("a/v3")
        start = f["videos/rgb_start"][i]
        offsets = f["streams/rgb/offsets"]
        buf = f["streams/rgb/data"][offsets[start + 4] : offsets[start + 5]]
    frame = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(frame.astype(int) - videos["a/v3"][0][4]).mean() < 10  # a wrong frame differs by ~85


def test_crash_leaves_no_store(tmp_path):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError):
        with StoreWriter(path, STREAMS) as w:
            w.add_video(VideoRecord(name="x", num_frames=1), {"rgb": [b"\xff"], "flow_x": [], "flow_y": []})
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_inconsistent_videos(tmp_path):
    with StoreWriter(tmp_path / "s.h5", STREAMS) as w:
        with pytest.raises(ValueError, match="expected 1"):
            w.add_video(VideoRecord(name="x", num_frames=2), {"rgb": [b"a", b"b"], "flow_x": [], "flow_y": [b"c"]})
        with pytest.raises(ValueError, match="streams"):
            w.add_video(VideoRecord(name="y", num_frames=1), {"rgb": [b"a"]})
        w.add_video(VideoRecord(name="z", num_frames=1), {"rgb": [b"a"], "flow_x": [], "flow_y": []})
        with pytest.raises(ValueError, match="already"):
            w.add_video(VideoRecord(name="z", num_frames=1), {"rgb": [b"a"], "flow_x": [], "flow_y": []})


def test_store_pickles_without_handle(store_path):
    import pickle

    store = FlowStore(store_path[0])
    store.read("rgb", 0, [0])
    clone = pickle.loads(pickle.dumps(store))
    assert np.array_equal(clone.read("flow_x", 2, [3]), store.read("flow_x", 2, [3]))


def test_not_a_store(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["a"] = 1
    with pytest.raises(ValueError, match="not a flowkit store"):
        FlowStore(tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError):
        FlowStore(tmp_path / "missing.h5")


def test_zstd_codec_is_lossless_and_rejects_damage():
    from flowkit.store.codec import decode_image

    plane = np.random.default_rng(3).integers(0, 256, (37, 53), dtype=np.uint8)
    record = encode_image(plane, "zstd")
    assert record[:2].tobytes() == b"ZS"
    assert np.array_equal(decode_image(record, color=False), plane)
    assert np.array_equal(decode_image(record, color=True)[..., 1], plane)
    with pytest.raises(ValueError, match="does not decompress to its declared size"):
        decode_image(record[:-5], color=False)
    bomb = np.concatenate([np.frombuffer(b"ZS\xff\xff\xff\xff", np.uint8), record[6:]])  # declares 65535x65535
    with pytest.raises(ValueError, match=r"a zstd record is 65535x65535 \(4,294,836,225 pixels\), over the limit"):
        decode_image(bomb, color=False)
    with pytest.raises(ValueError, match="single planes"):
        encode_image(np.zeros((4, 4, 3), np.uint8), "zstd")
