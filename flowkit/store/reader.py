"""Reading a store: random access to any video's frame t of any stream without scanning.

The h5py handle is opened lazily and re-opened after a fork, so one FlowStore can be handed to
DataLoader workers (each worker gets its own handle).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from flowkit.quantize import DEFAULT_BOUND
from flowkit.store import format as fmt
from flowkit.store.codec import decode_image
from flowkit.store.records import VideoRecord
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


class FlowStore(FrameSource):
    """Read-only view of a store file.

    Attributes after opening: attrs (dict of store-wide attributes), streams ({name: codec}),
    classes (list[str]), videos (list[VideoRecord], status failed included), splits
    ({number: int8 array (V,) of SPLIT_* codes}).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no store at {self.path}")
        self._file = None
        self._pid = None
        self._data = {}
        file = self._handle()
        if file.attrs.get("format") != fmt.FORMAT_NAME:
            raise ValueError(f"{self.path} is not a flowkit store (no format attribute {fmt.FORMAT_NAME!r})")
        version = int(file.attrs.get("format_version", 0))
        if version > fmt.FORMAT_VERSION:
            raise ValueError(f"{self.path} has store format {version}; this flowkit reads up to {fmt.FORMAT_VERSION}")
        self.attrs = {k: _decode_attr(v) for k, v in file.attrs.items()}
        self.streams = {name: _decode_attr(group.attrs["codec"]) for name, group in file["streams"].items()}
        self.classes = [_decode_attr(c) for c in file["classes"][()]]
        table = file["videos"]
        columns = {name: table[name][()] for name in table}
        count = len(columns["name"])
        self.videos = [
            VideoRecord.from_dict({name: _decode_attr(values[i]) for name, values in columns.items()})
            for i in range(count)
        ]
        self._index = {record.name: i for i, record in enumerate(self.videos)}
        self.splits = {int(k): v[()] for k, v in file["splits"].items()}
        # Offsets are small (8 bytes a frame): keeping them in memory makes a frame read one h5 read.
        self._offsets = {name: file[f"streams/{name}/offsets"][()] for name in self.streams}

    def _handle(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
            self._data = {}
        return self._file

    def _stream_data(self, stream: str):
        # h5py resolves a path on every file[...] lookup (~0.2 ms); a loader reads thousands of
        # spans a second, so keep each stream's data dataset open with the handle.
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

    @property
    def bound(self) -> float:
        """The flow quantization bound in pixels."""
        return float(self.attrs.get("bound", DEFAULT_BOUND))

    def index_of(self, name: str) -> int:
        """Position of the video called `name` in `videos`."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no video named {name!r} in {self.path}") from None

    def read_encoded(self, stream: str, video: int, indices: Sequence[int]) -> list[np.ndarray]:
        """Encoded records (1-D uint8 arrays of JPEG/PNG/zstd bytes) of `video`'s frames `indices` in
        `stream`. Reads the span covering all indices in one h5 access."""
        indices = self._record_indices(stream, video, indices)
        if not indices:
            return []
        record = self.videos[video]
        base = record.rgb_start if stream == fmt.RGB else record.flow_start
        offsets = self._offsets[stream]
        lo, hi = base + min(indices), base + max(indices)
        first, last = int(offsets[lo]), int(offsets[hi + 1])
        span = self._stream_data(stream)[first:last]
        return [span[int(offsets[base + i]) - first : int(offsets[base + i + 1]) - first] for i in indices]

    def read(self, stream: str, video: int, indices: Sequence[int]) -> np.ndarray:
        """Decoded frames: rgb -> (T, H, W, 3) uint8 RGB; flow/warp streams -> (T, H, W) uint8
        quantized flow (see read_flow for pixels)."""
        color = stream == fmt.RGB
        frames = [decode_image(buf, color) for buf in self.read_encoded(stream, video, indices)]
        if not frames:
            raise IndexError("no frames requested")
        return np.stack(frames)
