"""The flowkit HDF5 store: one file (or an index and shard files) holding, per video, RGB frames and
quantized flow streams as encoded images with offsets for random access. Layout: docs/store-format.md.
Open any store with `open_store(path)`."""

from flowkit.store.format import ALL_STREAMS, FLOW_STREAMS, RGB, FLOW_X, FLOW_Y, WARP_X, WARP_Y
from flowkit.store.opening import Store, open_store
from flowkit.store.reader import FlowStore
from flowkit.store.sharded import ShardedStore
from flowkit.store.records import VideoRecord
from flowkit.store.writer import StoreWriter

__all__ = [
    "ALL_STREAMS", "FLOW_STREAMS", "RGB", "FLOW_X", "FLOW_Y", "WARP_X", "WARP_Y",
    "FlowStore", "ShardedStore", "Store", "StoreWriter", "VideoRecord", "open_store",
]
