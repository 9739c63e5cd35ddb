"""Writing a sharded store directly, video by video (what StoreWriter is for one file): each shard is
a StoreWriter that is published when it holds `shard_size` videos, the index is written on close.
Extraction does not use it (its shards are assembled from parts, flowkit.extract.shards); tests and
benchmarks build stores with it."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from flowkit.errors import UserValueError

from flowkit.store.records import VideoRecord
from flowkit.store.shards import ShardEntry, shard_file_name, write_index
from flowkit.store.writer import StoreWriter


class ShardedStoreWriter:
    """Create a sharded store: the index at `path`, shards `<stem>-00000.h5`, ... beside it, each
    holding `shard_size` consecutive videos (the last one fewer). streams and attrs as StoreWriter.
    Use as a context manager: a clean exit writes the index, an exception deletes what was written."""

    def __init__(self, path: str | os.PathLike, streams: Mapping[str, str], attrs: Mapping | None = None,
                 shard_size: int = 1000):
        if shard_size < 1:
            raise UserValueError(f"shard size must be at least 1 video, got {shard_size}")
        self.path = Path(path)
        self._streams, self._attrs, self._shard_size = dict(streams), dict(attrs or {}), int(shard_size)
        self._writer: StoreWriter | None = None
        self._entries: list[ShardEntry] = []
        self._records: list[VideoRecord] = []
        self._shard_of: list[int] = []
        self._in_shard = 0  # videos in the shard being written
        self._classes: list[str] = []
        self._splits: dict[int, dict[str, int]] = {}

    def add_video(self, record: VideoRecord, encoded: Mapping[str, Sequence[np.ndarray | bytes]]) -> VideoRecord:
        """Append one video (StoreWriter.add_video); its label is kept for the index."""
        if self._writer is None:
            shard = self.path.parent / shard_file_name(self.path, len(self._entries))
            self._writer = StoreWriter(shard, self._streams, self._attrs)
        stored = self._writer.add_video(replace(record, label=-1), encoded)  # the index holds the labels
        stored = replace(stored, label=record.label)
        self._records.append(stored)
        self._shard_of.append(len(self._entries))
        self._in_shard += 1
        if self._in_shard >= self._shard_size:
            self._publish()
        return stored

    def _publish(self) -> None:
        writer = self._writer
        if writer is None:
            return
        entry = ShardEntry(writer.path.name, self._in_shard, writer.totals, writer.sizes)
        writer.close()
        self._entries.append(entry)
        self._writer, self._in_shard = None, 0

    def set_classes(self, names: Sequence[str]) -> None:
        """Class names, indexed by VideoRecord.label."""
        self._classes = [str(n) for n in names]

    def set_split(self, number: int, membership: Mapping[str, int]) -> None:
        """Split `number`'s membership ({video name: SPLIT_* code}; videos not named are unused)."""
        self._splits[int(number)] = dict(membership)

    def close(self) -> Path:
        """Publish the last shard and write the index. Returns the index path."""
        self._publish()
        return write_index(self.path, self._entries, self._records, self._shard_of, self._streams, self._attrs,
                           self._classes, self._splits)

    def abort(self) -> None:
        """Delete the shards written so far and the unfinished one."""
        if self._writer is not None:
            self._writer.abort()
        for entry in self._entries:
            (self.path.parent / entry.file).unlink(missing_ok=True)

    def __enter__(self) -> "ShardedStoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
