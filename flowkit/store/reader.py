"""Reading a store: random access to any video's frame t of any stream without scanning.

The h5py handle is opened lazily and re-opened after a fork, so one FlowStore can be handed to
DataLoader workers (each worker gets its own handle).
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from flowkit.errors import UserFileNotFoundError, UserKeyError, UserOSError, UserValueError
from flowkit.quantize import DEFAULT_BOUND
from flowkit.store import format as fmt
from flowkit.store.checks import StreamTable, check_tables, column_problems
from flowkit.store.codec import decode_image
from flowkit.store.errors import DamagedRecordError, DamagedStoreError
from flowkit.store.shards import LAYOUT_ATTR, LAYOUT_SHARDED
from flowkit.store.records import records_from_columns
from flowkit.store.source import FrameSource


def _decode_attr(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _interrupted_run_hint(path: Path) -> str:
    """For a missing store: what an interrupted extraction left beside it, and how to finish it."""
    parts = path.with_name(path.name + fmt.PARTS_SUFFIX)
    if not parts.is_dir():
        return ""
    done = sum(1 for _ in parts.glob("*.npz"))
    return (f"; {parts} holds an interrupted extraction ({done} video(s) done): run the same `flowkit extract` "
            "command again to resume it")


def check_header(path: Path, attrs, sharded: bool) -> None:
    """UserValueError unless `attrs` (an open HDF5 file's attributes) are those of a flowkit store in
    a format this code reads, laid out as expected: a sharded store's index (sharded) or one file."""
    if _decode_attr(attrs.get("format")) != fmt.FORMAT_NAME:
        raise UserValueError(f"{path} is not a flowkit store (no format attribute {fmt.FORMAT_NAME!r})")
    is_index = _decode_attr(attrs.get(LAYOUT_ATTR)) == LAYOUT_SHARDED
    if is_index and not sharded:
        raise UserValueError(f"{path} is the index of a sharded store: open it with flowkit.store.open_store")
    if sharded and not is_index:
        raise UserValueError(f"{path} is a single-file store, not a sharded store's index")
    version = int(attrs.get("format_version", 0))
    if version > fmt.FORMAT_VERSION:
        raise UserValueError(f"{path} has store format {version}; this flowkit reads up to {fmt.FORMAT_VERSION}")


def load_tables(store: StoreBase, file) -> None:
    """Set store.attrs, bound, streams, classes, videos, _index (name -> position) and splits from an open
    store (or sharded store index) file. DamagedStoreError when the videos table's columns do not fit."""
    store.attrs = {k: _decode_attr(v) for k, v in file.attrs.items()}
    store.bound = float(store.attrs.get("bound", DEFAULT_BOUND))  # the flow quantization bound in pixels
    store.streams = {name: _decode_attr(group.attrs["codec"]) for name, group in file["streams"].items()}
    store.classes = [_decode_attr(c) for c in file["classes"][()]]
    table = file["videos"]
    columns = {name: table[name][()] for name in table}
    broken = column_problems({name: len(values) for name, values in columns.items()})
    if broken:
        raise DamagedStoreError.from_problems(store.path, broken)
    store.videos = records_from_columns(columns)  # columns it does not know (an index's `shard`) are left
    store._index = {record.name: i for i, record in enumerate(store.videos)}
    store.splits = {int(k): v[()] for k, v in file["splits"].items()}


class StoreBase(FrameSource):
    """What the two store readers share (FlowStore, one file; flowkit.store.sharded.ShardedStore, an
    index and its shards): attrs (dict of store-wide attributes) and lookups by name."""

    attrs: dict
    _index: dict[str, int]

    def index_of(self, name: str) -> int:
        """Position of the video called `name` in `videos`."""
        try:
            return self._index[name]
        except KeyError:
            raise UserKeyError(f"no video named {name!r} in {self.path}") from None


class FlowStore(StoreBase):
    """Read-only view of a store file.

    Attributes after opening: attrs (dict of store-wide attributes), streams ({name: codec}),
    classes (list[str]), videos (list[VideoRecord], status failed included), splits
    ({number: int8 array (V,) of SPLIT_* codes}).

    Opening runs the table checks (flowkit.store.checks) and raises DamagedStoreError when they
    fail; check=False opens a damaged store anyway (for `flowkit verify`, which reports them).
    """

    def __init__(self, path: str | os.PathLike, check: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserFileNotFoundError(f"no store at {self.path}{_interrupted_run_hint(self.path)}")
        self._file = None
        self._pid: int | None = None
        self._data: dict = {}
        try:
            file = self._handle()
        except OSError as exc:  # h5py: not an HDF5 file, truncated, unreadable
            raise UserOSError(f"{self.path} cannot be opened as a flowkit store: {exc}") from None
        check_header(self.path, file.attrs, sharded=False)
        try:
            self._load(file)
        except KeyError as exc:  # a group or dataset is missing: h5py's message names it
            message = exc.args[0] if exc.args else exc
            raise DamagedStoreError.from_problems(self.path, [f"incomplete store ({message})"]) from None
        #: The table checks' findings (flowkit.store.checks); empty for a sound store.
        self.table_report = check_tables(self.videos, self.classes, self._tables, self.splits)
        if check and self.table_report.problems:
            raise DamagedStoreError.from_problems(self.path, self.table_report.messages)

    def _load(self, file) -> None:
        load_tables(self, file)
        if "width" not in file["videos"]:  # format 1: one size for the store, when it recorded one
            self._fill_sizes(self.attrs.get("size"))
        # Offsets (8 bytes a record) and checksums (4) stay in memory: a frame read is one h5 read.
        self._tables = {}
        for name in self.streams:
            group = file[f"streams/{name}"]
            crc32 = group[fmt.RECORD_CRC][()] if fmt.RECORD_CRC in group else None
            self._tables[name] = StreamTable(group["offsets"][()], int(group["data"].shape[0]), crc32)
        self._offsets = {name: table.offsets for name, table in self._tables.items()}
        self._crc32 = {name: table.crc32 for name, table in self._tables.items()}

    def _fill_sizes(self, size) -> None:
        """Give a format-1 store's ok videos the store-wide `size` ([width, height]) as their own."""
        if not (isinstance(size, list) and len(size) == 2):
            return
        for record in self.videos:
            if record.status == fmt.STATUS_OK:
                record.width, record.height = int(size[0]), int(size[1])

    def _handle(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
            self._data = {}
        return self._file

    def _stream_data(self, stream: str):
        # h5py resolves a path on every file[...] lookup, which is slow next to reading a span; a loader
        # reads thousands of spans a second, so keep each stream's data dataset open with the handle.
        file = self._handle()
        if stream not in self._data:
            self._data[stream] = file[f"streams/{stream}/data"]
        return self._data[stream]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        state["_data"] = {}
        return state

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._data = {}

    def __enter__(self) -> "FlowStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _no_split_hint(self) -> str:
        return (f"; add labels and splits with `flowkit set-labels {self.path} --labels LABELS` (a UCF101 folder, "
                "an HMDB51 split folder, Kinetics CSVs, an SSv2 folder or an mmaction2 list file), "
                "no need to extract again")

    def has_record_checksums(self, stream: str) -> bool:
        """Whether `stream` stores a CRC-32 per record (stores written before them do not)."""
        return self._crc32.get(stream) is not None

    def stored_crc32(self, stream: str, video: int, indices: Sequence[int]) -> np.ndarray | None:
        """The stored CRC-32 of `video`'s records `indices` in `stream` (uint32), or None."""
        crc32 = self._crc32[stream]
        if crc32 is None:
            return None
        record = self.videos[video]
        base = record.rgb_start if stream == fmt.RGB else record.flow_start
        return crc32[[base + int(i) for i in indices]]

    def read_encoded(self, stream: str, video: int, indices: Sequence[int], check_crc: bool = True) -> list[np.ndarray]:
        """Encoded records (1-D uint8 arrays of JPEG/PNG/zstd bytes) of `video`'s frames `indices` in
        `stream`. Reads the span covering all indices in one h5 access. With check_crc, each record is
        checked against its stored CRC-32 (DamagedRecordError naming the video, stream and frame)."""
        indices = self._record_indices(stream, video, indices)
        if not indices:
            return []
        record = self.videos[video]
        base = record.rgb_start if stream == fmt.RGB else record.flow_start
        offsets = self._offsets[stream]
        lo, hi = base + min(indices), base + max(indices)
        first, last = int(offsets[lo]), int(offsets[hi + 1])
        span = self._stream_data(stream)[first:last]
        buffers = [span[int(offsets[base + i]) - first : int(offsets[base + i + 1]) - first] for i in indices]
        crc32 = self._crc32[stream] if check_crc else None
        if crc32 is not None:
            for i, buffer in zip(indices, buffers):
                if zlib.crc32(buffer) != int(crc32[base + i]):
                    raise DamagedRecordError.at(self.path, record.name, stream, i, "checksum mismatch")
        return buffers

    def read(self, stream: str, video: int, indices: Sequence[int]) -> np.ndarray:
        """Decoded frames: rgb -> (T, H, W, 3) uint8 RGB; flow/warp streams -> (T, H, W) uint8
        quantized flow (see read_flow for pixels). DamagedRecordError for a record that fails its
        checksum or does not decode."""
        color = stream == fmt.RGB
        indices = [int(i) for i in indices]
        frames = []
        for i, buffer in zip(indices, self.read_encoded(stream, video, indices)):
            try:
                frames.append(decode_image(buffer, color))
            except ValueError as exc:
                raise DamagedRecordError.at(self.path, self.videos[video].name, stream, i, str(exc)) from None
        if not frames:
            raise IndexError("no frames requested")
        return np.stack(frames)
