"""flowkit.store.source.FrameSource: a store and its rawframe folders answer alike (records, flow,
splits, errors), because FlowStore and RawFramesSource share this one base."""

import numpy as np
import pytest

from flowkit.rawframes import export_rawframes, frame_file
from flowkit.store import FlowStore
from flowkit.store.source import FrameSource
from flowkit.testing import make_tiny_store
from tsn.data.rawframes import RawFramesSource


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    store_path = make_tiny_store(folder / "tiny.h5", classes=2, videos_per_class=2, frames=5, size=(24, 16),
                                 streams=("rgb", "flow_x", "flow_y"), flow_codec="jpeg")
    root = folder / "rawframes"
    export_rawframes(store_path, root)
    rawframes = RawFramesSource.from_list_files(root, root / "rawframes_train_split_1.txt",
                                                root / "rawframes_val_split_1.txt")
    with FlowStore(store_path) as store:
        yield store, rawframes


def test_records_flow_and_splits_agree(sources):
    store, rawframes = sources
    assert isinstance(store, FrameSource) and isinstance(rawframes, FrameSource)
    names = [v.name for v in store.videos]
    order = [names.index(v.name) for v in rawframes.videos]  # rawframes list train videos first
    assert len(rawframes) == len(store) == 4 and sorted(order) == [0, 1, 2, 3]
    for mine, theirs in enumerate(order):
        for stream in ("rgb", "flow_x"):
            assert rawframes.num_records(mine, stream) == store.num_records(theirs, stream)
        np.testing.assert_array_equal(rawframes.read_flow(mine, [0, 3]), store.read_flow(theirs, [0, 3]))
    for subset in ("train", "test"):
        assert sorted(order[i] for i in rawframes.split_videos(1, subset)) == store.split_videos(1, subset)


def test_same_errors_from_both(sources):
    for source in sources:
        with pytest.raises(ValueError, match="has no stream 'warp_x'; it has ") as error:
            source.num_records(0, "warp_x")
        assert sorted(str(error.value).split("it has ")[1].split(", ")) == ["flow_x", "flow_y", "rgb"]
        with pytest.raises(IndexError, match=r"has 4 records in flow_x; asked for \[4\]"):
            source.read_encoded("flow_x", 0, [4])
        assert source.read_encoded("rgb", 0, []) == []
        with pytest.raises(ValueError, match=r"has no split 2 \(splits stored: 1\)"):
            source.split_videos(2, "train")
        with pytest.raises(ValueError, match="subset must be 'train' or 'test'"):
            source.split_videos(1, "val")


def test_rawframe_file_names():
    assert frame_file("rgb", 0) == "img_00001.jpg"
    assert frame_file("flow_y", 9) == "flow_y_00010.jpg"
    assert frame_file("warp_x", 99998) == "warp_x_99999.jpg"


def test_the_base_cannot_be_used_alone():
    with pytest.raises(TypeError):
        FrameSource()
