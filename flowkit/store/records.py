"""The per-video record kept in a store's `videos` table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Mapping

import numpy as np

from flowkit.store.format import STATUS_OK


@dataclass(slots=True)  # no per-record dict: a 240,000-video table stays small in memory
class VideoRecord:
    """One row of the `videos` table.

    name: unique id (source path relative to the input root, without extension, '/'-separated).
    num_frames: RGB frames stored (after --step/--max-frames); flow streams hold num_frames - 1.
    rgb_start / flow_start: index of the video's first record in the rgb / flow streams, filled
    in by the writer. label: class index into the store's classes, -1 when unknown.
    warp_fallbacks: pairs whose camera-motion homography fell back to the identity.
    width / height: pixels of the stored frames (and flow planes) of this video, 0 when unknown
    (a failed video; a format-1 store without a `size` attribute). orig_width / orig_height: the
    source's frame size as its container (or first image) declares it.
    """

    name: str
    path: str = ""
    label: int = -1
    num_frames: int = 0
    fps: float = 0.0
    orig_width: int = 0
    orig_height: int = 0
    width: int = 0
    height: int = 0
    sha256: str = ""
    status: str = STATUS_OK
    error: str = ""
    warp_fallbacks: int = 0
    rgb_start: int = 0
    flow_start: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "VideoRecord":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def records_from_columns(columns: Mapping[str, np.ndarray]) -> list[VideoRecord]:
    """The rows of a videos table read column by column ({column: 1-D array}, strings as bytes or
    str) as VideoRecords, in row order. Columns VideoRecord does not know are ignored, missing ones
    take their defaults. Vectorized per column: opening a table of 240,000 videos costs well under a
    second rather than one Python call per cell."""
    count = len(next(iter(columns.values()))) if columns else 0
    values = [_python_values(columns[f.name]) if f.name in columns else [f.default] * count
              for f in fields(VideoRecord)]
    return list(map(VideoRecord, *values))


def _python_values(column: np.ndarray) -> list:
    """A column as a list of Python values: bytes decoded to str (one str per distinct value when
    values repeat, as statuses do), numbers as int / float."""
    if column.dtype == object or column.dtype.kind == "S":
        values = column.tolist()
        distinct = set(values)
        if len(distinct) < len(values) // 2:
            decoded = {v: v.decode() if isinstance(v, bytes) else str(v) for v in distinct}
            return [decoded[v] for v in values]
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    return column.tolist()
