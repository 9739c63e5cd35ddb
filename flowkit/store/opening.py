"""One way to open any store: `open_store(path)` reads a single-file store (FlowStore) or a sharded
store's index (ShardedStore) alike; every command and TSN open stores through it."""

from __future__ import annotations

import os
from typing import Union

from flowkit.store.reader import FlowStore
from flowkit.store.sharded import ShardedStore
from flowkit.store.shards import is_sharded

Store = Union[FlowStore, ShardedStore]


def open_store(path: str | os.PathLike, check: bool = True) -> Store:
    """The store at `path`: a ShardedStore when `path` is a sharded store's index, else a FlowStore.
    Both offer the same reading interface (flowkit.store.source.FrameSource plus attrs, bound,
    index_of, table_report, read_encoded(check_crc=...)). check: run the table checks on open
    (DamagedStoreError when they fail); False opens a damaged store for `flowkit verify`."""
    if is_sharded(path):
        return ShardedStore(path, check=check)
    return FlowStore(path, check=check)
