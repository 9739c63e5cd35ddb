"""Writing a store: videos are appended one at a time; the file appears only when complete.

The writer builds `<path>.partial` and renames it onto `path` in `close()`, so a crash never
leaves a half-written store under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from flowkit.store import format as fmt
from flowkit.store.checksums import offsets_digest
from flowkit.store.records import VideoRecord


def write_classes_and_splits(file, classes: Sequence[str], names: Sequence[str],
                             splits: Mapping[int, Mapping[str, int]]) -> None:
    """(Re)write `/classes` and `/splits/<n>` of an open store file: splits {number: {video name:
    SPLIT_* code}}, videos not named being unused; `names` the videos table's names, in order."""
    import h5py

    for key in ("classes", "splits"):
        if key in file:
            del file[key]
    file.create_dataset("classes", data=np.array([str(c) for c in classes], dtype=object), dtype=h5py.string_dtype())
    group = file.create_group("splits")
    for number, membership in sorted(splits.items()):
        codes = np.array([membership.get(name, fmt.SPLIT_UNUSED) for name in names], dtype=np.int8)
        group.create_dataset(str(int(number)), data=codes)


def write_attrs(file, attrs: Mapping) -> None:
    """Set store-wide attributes on an open file; dicts, lists and tuples as JSON strings."""
    for key, value in attrs.items():
        file.attrs[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) else value


def write_videos_table(file, records: Sequence[VideoRecord], fixed_strings: bool = False):
    """Write `/videos/<column>` of an open store (or index) file, one row per record, with the
    dtypes of docs/store-format.md. fixed_strings: string columns as fixed-length UTF-8 byte
    strings (a sharded store's index: they read many times faster than variable-length ones).
    Returns the `videos` group (callers may add columns)."""
    import h5py

    str_dtype = h5py.string_dtype()
    table = file.create_group("videos")
    columns = {name: [getattr(r, name) for r in records] for name in VideoRecord.__dataclass_fields__}
    for name in fmt.VIDEO_STR_COLUMNS:
        if fixed_strings:
            table.create_dataset(name, data=np.array([v.encode() for v in columns[name]], dtype=np.bytes_))
            continue
        table.create_dataset(name, data=np.array(columns[name], dtype=object), dtype=str_dtype)
    for name in fmt.VIDEO_INT_COLUMNS:
        table.create_dataset(name, data=np.array(columns[name], dtype=np.int32))
    for name in fmt.VIDEO_INT64_COLUMNS:
        table.create_dataset(name, data=np.array(columns[name], dtype=np.int64))
    for name in fmt.VIDEO_FLOAT_COLUMNS:
        table.create_dataset(name, data=np.array(columns[name], dtype=np.float32))
    return table


# Encoded bytes a writer holds before writing them to the file.
WRITE_BUFFER_BYTES = 8 * 2**20


def _partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


class StoreWriter:
    """Create a store at `path`.

    streams: {stream name: codec} for the streams this store holds (a subset of
    format.ALL_STREAMS). attrs: store-wide attributes (size, bound, algo, flow parameters, ...);
    dicts and lists are saved as JSON strings. Use as a context manager: a clean exit
    publishes the file, an exception deletes the partial file.
    """

    def __init__(self, path: str | os.PathLike, streams: Mapping[str, str], attrs: Mapping | None = None):
        self.path = Path(path)
        unknown = set(streams) - set(fmt.ALL_STREAMS)
        if unknown:
            raise ValueError(f"unknown stream(s) {sorted(unknown)}; expected names from {fmt.ALL_STREAMS}")
        for codec in streams.values():
            if codec not in fmt.CODECS:
                raise ValueError(f"unknown codec {codec!r}")
        import h5py

        self._partial = _partial_path(self.path)
        self._partial.parent.mkdir(parents=True, exist_ok=True)
        self._file = h5py.File(self._partial, "w")
        self._streams = dict(streams)
        self._records: list[VideoRecord] = []
        self._names: set[str] = set()
        self._totals = {s: 0 for s in self._streams}  # records added per stream (pending ones included)
        self._bytes = {s: 0 for s in self._streams}
        # Records wait here until WRITE_BUFFER_BYTES of them are pending: a store of many tiny videos
        # then costs a few HDF5 calls per buffer instead of several per video.
        self._pending: dict[str, list[np.ndarray]] = {s: [] for s in self._streams}
        self._pending_bytes = 0
        self._written = {s: 0 for s in self._streams}  # records in the file
        self._written_bytes = {s: 0 for s in self._streams}
        self._hashes = {s: hashlib.sha256() for s in self._streams}  # of each stream's data bytes
        self._classes: list[str] = []
        self._splits: dict[int, dict[str, int]] = {}
        self._file.attrs["format"] = fmt.FORMAT_NAME
        self._file.attrs["format_version"] = fmt.FORMAT_VERSION
        write_attrs(self._file, attrs or {})
        for stream, codec in self._streams.items():
            group = self._file.create_group(f"streams/{stream}")
            group.attrs["codec"] = codec
            group.create_dataset("data", shape=(0,), maxshape=(None,), dtype=np.uint8, chunks=(fmt.DATA_CHUNK_BYTES,))
            group.create_dataset(
                "offsets", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(fmt.OFFSETS_CHUNK,)
            )
            group.create_dataset(fmt.RECORD_CRC, shape=(0,), maxshape=(None,), dtype=np.uint32,
                                 chunks=(fmt.OFFSETS_CHUNK,))

    @property
    def streams(self) -> dict[str, str]:
        return dict(self._streams)

    @property
    def totals(self) -> dict[str, int]:
        """Records written so far per stream."""
        return dict(self._totals)

    @property
    def sizes(self) -> dict[str, int]:
        """Bytes of data written so far per stream."""
        return dict(self._bytes)

    def add_video(self, record: VideoRecord, encoded: Mapping[str, Sequence[np.ndarray | bytes]]) -> VideoRecord:
        """Append one video. encoded: {stream: list of encoded records (1-D uint8 arrays or bytes)},
        one entry per stream of the store for an ok video (rgb: num_frames records, flow streams:
        num_frames - 1), nothing for a failed one. Returns the record with its start indices set."""
        if record.name in self._names:
            raise ValueError(f"video {record.name!r} is already in the store")
        ok = record.status == fmt.STATUS_OK
        if ok and set(encoded) != set(self._streams):
            raise ValueError(f"video {record.name!r}: got streams {sorted(encoded)}, store has {sorted(self._streams)}")
        if not ok and any(len(v) for v in encoded.values()):
            raise ValueError(f"failed video {record.name!r} must have no frames")
        for stream, items in encoded.items():
            expected = fmt.stream_length(stream, record.num_frames)
            if len(items) != expected:
                raise ValueError(
                    f"video {record.name!r}: stream {stream} has {len(items)} records, expected {expected}"
                )
        record.rgb_start = self._totals.get(fmt.RGB, 0)
        flow_stream = next((s for s in fmt.FLOW_STREAMS if s in self._streams), None)
        record.flow_start = self._totals[flow_stream] if flow_stream else 0
        for stream, items in encoded.items():
            self._append(stream, items)
        self._records.append(record)
        self._names.add(record.name)
        return record

    def _append(self, stream: str, items: Sequence[np.ndarray | bytes]) -> None:
        if not items:
            return
        buffers = [_as_bytes_array(item) for item in items]
        size = sum(b.size for b in buffers)
        self._pending[stream].extend(buffers)
        self._pending_bytes += size
        self._bytes[stream] += size
        self._totals[stream] += len(buffers)
        if self._pending_bytes >= WRITE_BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        """Write the pending records of every stream to the file, in the order they were added."""
        for stream, buffers in self._pending.items():
            if not buffers:
                continue
            sizes = np.fromiter((b.size for b in buffers), np.int64, len(buffers))
            group = self._file[f"streams/{stream}"]
            data, offsets, crc32 = group["data"], group["offsets"], group[fmt.RECORD_CRC]
            start, count = self._written_bytes[stream], self._written[stream]
            joined = np.concatenate(buffers)
            data.resize((start + joined.size,))
            data[start:] = joined
            self._hashes[stream].update(joined.tobytes())
            offsets.resize((count + 1 + len(buffers),))
            offsets[count + 1 :] = start + np.cumsum(sizes)
            crc32.resize((count + len(buffers),))
            crc32[count:] = np.fromiter((zlib.crc32(b.data) for b in buffers), np.uint32, len(buffers))
            self._written_bytes[stream] = start + joined.size
            self._written[stream] = count + len(buffers)
            buffers.clear()
        self._pending_bytes = 0

    def set_classes(self, names: Sequence[str]) -> None:
        """Class names, indexed by VideoRecord.label."""
        self._classes = [str(n) for n in names]

    def set_split(self, number: int, membership: Mapping[str, int]) -> None:
        """Split `number`'s membership: {video name: SPLIT_TRAIN | SPLIT_TEST | SPLIT_UNUSED}. Videos
        not named are unused. Applied to the records in close()."""
        self._splits[int(number)] = dict(membership)

    def close(self) -> Path:
        """Write the tables, close and publish the file under its final name. Returns the path."""
        self._flush()
        write_videos_table(self._file, self._records)
        for stream in self._streams:
            group = self._file[f"streams/{stream}"]
            group.attrs["data_sha256"] = self._hashes[stream].hexdigest()
            group.attrs["offsets_sha256"] = offsets_digest(group["offsets"][()])
        write_classes_and_splits(self._file, self._classes, [r.name for r in self._records], self._splits)
        self._file.close()
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        """Discard the partial file."""
        try:
            self._file.close()
        finally:
            self._partial.unlink(missing_ok=True)

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _as_bytes_array(item) -> np.ndarray:
    """An encoded record (bytes, bytearray or array-like of uint8) as a 1-D uint8 array."""
    if isinstance(item, (bytes, bytearray)):
        return np.frombuffer(item, np.uint8)
    return np.asarray(item, np.uint8).reshape(-1)
