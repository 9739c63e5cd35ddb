"""Reading a sharded store (flowkit.store.shards): the index is read on open, each shard when a frame
of one of its videos is first read.

Opening reads only the index (the videos table, classes, splits, the shard table) and runs the
table checks on it; a shard is opened (as a FlowStore, with its own checks) on first use and
checked against the index (the same videos in the same order). At most MAX_OPEN_SHARDS stay open,
least recently used closed first, so a loader reading random clips of 240,000 videos holds a
bounded number of files and offsets tables. Like FlowStore, a ShardedStore can be handed to
DataLoader workers: each process opens its own shards.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from flowkit.errors import UserFileNotFoundError

from flowkit.store.checks import check_tables
from flowkit.store.errors import DamagedStoreError
from flowkit.store.reader import FlowStore, StoreBase, _interrupted_run_hint, check_header, load_tables
from flowkit.store.shards import LAYOUT_ATTR, SHARD_COLUMN, ShardEntry, check_index, \
    read_shard_table, shard_path

# Open shard files kept per process: enough for a loader's working set, few enough that file
# handles and offsets tables stay bounded whatever the number of shards.
MAX_OPEN_SHARDS = 32


class ShardedStore(StoreBase):
    """Read-only view of a sharded store through its index file `path`.

    The same attributes and read methods as FlowStore (attrs, streams, classes, videos, splits,
    table_report, read_encoded, read, read_flow, ...); plus shards (list of ShardEntry) and
    shard_of (int32 array (V,), each video's shard number). check=False opens a damaged index
    anyway (for `flowkit verify`).
    """

    def __init__(self, path: str | os.PathLike, check: bool = True):
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise UserFileNotFoundError(f"no store at {self.path}{_interrupted_run_hint(self.path)}")
        with h5py.File(self.path, "r") as file:
            check_header(self.path, file.attrs, sharded=True)
            try:
                self._load(file)
            except KeyError as exc:
                message = exc.args[0] if exc.args else exc
                raise DamagedStoreError.from_problems(self.path, [f"incomplete index ({message})"]) from None
        self.table_report = check_tables(self.videos, self.classes, {}, self.splits)
        for problem in check_index(len(self.videos), self.shard_of, self.shards):
            self.table_report.add("shards", problem)
        if check and self.table_report.problems:
            raise DamagedStoreError.from_problems(self.path, self.table_report.messages)
        self._open: OrderedDict[int, FlowStore] = OrderedDict()
        self._pid = os.getpid()

    def _load(self, file) -> None:
        load_tables(self, file)
        self.attrs.pop(LAYOUT_ATTR, None)
        self.shard_of = np.asarray(file["videos"][SHARD_COLUMN][()], np.int32)
        self.shards: list[ShardEntry] = read_shard_table(file)
        # Row of each shard's first video: video i is row i - first[shard_of[i]] of its shard.
        counts = np.array([s.videos for s in self.shards], np.int64)
        self._first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def shard_file(self, shard: int) -> Path:
        """Path of shard number `shard` (ValueError for a file name that would leave the folder)."""
        return shard_path(self.path, self.shards[shard].file)

    def shard_store(self, shard: int, check: bool = True) -> FlowStore:
        """Shard number `shard` opened as a FlowStore, checked against the index (DamagedStoreError
        naming the shard when it is missing, damaged or holds other videos). Kept open (LRU)."""
        if self._pid != os.getpid():  # a forked DataLoader worker: its own handles
            self._open, self._pid = OrderedDict(), os.getpid()
        store = self._open.get(shard)
        if store is not None:
            self._open.move_to_end(shard)
            return store
        store = self.open_shard(shard, check)
        self._open[shard] = store
        while len(self._open) > MAX_OPEN_SHARDS:
            self._open.popitem(last=False)[1].close()
        return store

    def open_shard(self, shard: int, check: bool = True) -> FlowStore:
        """Open shard `shard` (not cached) and check it holds the index's videos in the index's order."""
        name = self.shards[shard].file
        try:
            path = self.shard_file(shard)
        except ValueError as exc:
            raise DamagedStoreError.from_problems(self.path, [str(exc)]) from None
        if not path.is_file():
            raise DamagedStoreError.from_problems(self.path, [f"shard {name} is missing"])
        store = FlowStore(path, check=check)
        problems = self.shard_mismatch(shard, store)
        if problems:
            store.close()
            raise DamagedStoreError.from_problems(self.path, problems)
        # The index holds equal records (checked above): the shard reads through them, one copy in memory.
        first = int(self._first[shard])
        store.videos = self.videos[first:first + self.shards[shard].videos]
        store._index = {}
        return store

    def shard_mismatch(self, shard: int, store: FlowStore) -> list[str]:
        """How an opened shard disagrees with the index: its streams, its videos (names, frame
        counts, statuses and first records, in order). Empty when it agrees."""
        name = self.shards[shard].file
        first = int(self._first[shard])
        expected = self.videos[first:first + self.shards[shard].videos]
        if store.streams != self.streams:
            return [f"shard {name}: streams {store.streams}, the index says {self.streams}"]
        held = [(v.name, v.num_frames, v.status, v.rgb_start, v.flow_start) for v in store.videos]
        listed = [(v.name, v.num_frames, v.status, v.rgb_start, v.flow_start) for v in expected]
        if held != listed:
            row = next((k for k, (a, b) in enumerate(zip(held, listed)) if a != b), min(len(held), len(listed)))
            said = [f"{rows[row]}" if row < len(rows) else "none" for rows in (held, listed)]
            return [f"shard {name}: holds {len(held)} videos, the index lists {len(listed)}; at row {row} the shard "
                    f"has {said[0]}, the index {said[1]} (name, frames, status, first rgb and flow records)"]
        return []

    def _locate(self, video: int) -> tuple[FlowStore, int]:
        shard = int(self.shard_of[video])
        return self.shard_store(shard), video - int(self._first[shard])

    def _no_split_hint(self) -> str:
        return (f"; add labels and splits with `flowkit set-labels {self.path} --labels LABELS`, "
                "no need to extract again")

    def has_record_checksums(self, stream: str) -> bool:
        """Whether `stream` stores a CRC-32 per record (shards are written with them)."""
        return bool(self.shards) and self.shard_store(0).has_record_checksums(stream)

    def stored_crc32(self, stream: str, video: int, indices: Sequence[int]) -> np.ndarray | None:
        """The stored CRC-32 of `video`'s records `indices` in `stream` (uint32), or None."""
        store, row = self._locate(video)
        return store.stored_crc32(stream, row, indices)

    def read_encoded(self, stream: str, video: int, indices: Sequence[int], check_crc: bool = True) -> list[np.ndarray]:
        """Encoded records of `video`'s frames `indices` in `stream` (FlowStore.read_encoded; errors
        name the shard file)."""
        indices = self._record_indices(stream, video, indices)
        store, row = self._locate(video)
        return store.read_encoded(stream, row, indices, check_crc=check_crc)

    def read(self, stream: str, video: int, indices: Sequence[int]) -> np.ndarray:
        """Decoded frames (FlowStore.read): rgb (T, H, W, 3) uint8, flow streams (T, H, W) uint8."""
        indices = self._record_indices(stream, video, indices)
        store, row = self._locate(video)
        return store.read(stream, row, indices)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()
        return state

    def close(self) -> None:
        if self._pid == os.getpid():
            for store in self._open.values():
                store.close()
        self._open = OrderedDict()

    def __enter__(self) -> "ShardedStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
