"""The layout of a sharded store (docs/store-format.md, "Sharded stores").

A sharded store is a small index file (the path users give, e.g. `k400.h5`) and shard files beside
it (`k400-00000.h5`, ...). Each shard is an ordinary single-file store holding a run of consecutive
videos (without classes, labels or splits); the index holds the whole videos table (with a `shard`
column; `rgb_start` / `flow_start` count within the video's shard), the classes, the splits, the
stream codecs, and per shard its file name, video count, and records and bytes per stream, so
opening the store or summarizing it never touches a shard.

Shard file names are read from the index and are untrusted: `check_shard_name` accepts only a plain
file name (no separator, no leading dot), so a shard always lies in the index's own folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from flowkit.store import format as fmt
from flowkit.store.records import VideoRecord

LAYOUT_ATTR = "layout"  # file attribute; absent on single-file stores
LAYOUT_SHARDED = "sharded"
SHARD_COLUMN = "shard"  # videos table column of the index: the video's shard number
SHARDS_GROUP = "shards"  # /shards/file, /shards/videos, /shards/records/<stream>, /shards/bytes/<stream>

_SHARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,250}")


@dataclass(frozen=True)
class ShardEntry:
    """One shard as the index lists it: file (name beside the index), videos (rows of the videos
    table it holds), records and bytes ({stream: count}) of its streams."""

    file: str
    videos: int
    records: Mapping[str, int]
    bytes: Mapping[str, int]


def shard_file_name(index: str | os.PathLike, number: int) -> str:
    """The file name of shard `number` of the store whose index is `index`: `<stem>-00007.h5`."""
    path = Path(index)
    return f"{path.stem}-{int(number):05d}{path.suffix or '.h5'}"


def check_shard_name(name: str) -> str:
    """Return `name` when it is a plain file name (letters, digits, `._+-`, not starting with a dot,
    no separator), else raise ValueError: an index names its shards, and must not reach elsewhere."""
    if not isinstance(name, str) or not _SHARD_NAME.fullmatch(name):
        raise ValueError(f"invalid shard file name {name!r}: a shard is a plain file beside its index")
    return name


def shard_path(index: str | os.PathLike, name: str) -> Path:
    """Where shard `name` of the index at `index` lies (ValueError for an unsafe name)."""
    return Path(index).parent / check_shard_name(name)


def is_sharded(path: str | os.PathLike) -> bool:
    """Whether the HDF5 file at `path` is a sharded store's index (False for other files)."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            value = file.attrs.get(LAYOUT_ATTR)
    except OSError:
        return False
    return (value.decode() if isinstance(value, bytes) else value) == LAYOUT_SHARDED


def shard_entry(path: str | os.PathLike) -> ShardEntry:
    """The index entry of the shard file at `path` (a single-file store): counts read from it."""
    import h5py

    with h5py.File(path, "r") as file:
        records = {s: int(g["offsets"].shape[0] - 1) for s, g in file["streams"].items()}
        sizes = {s: int(g["data"].shape[0]) for s, g in file["streams"].items()}
        videos = int(file["videos/name"].shape[0])
    return ShardEntry(Path(path).name, videos, records, sizes)


def write_index(path: str | os.PathLike, shards: Sequence[ShardEntry], videos: Sequence[VideoRecord],
                shard_of: Sequence[int], streams: Mapping[str, str], attrs: Mapping, classes: Sequence[str],
                splits: Mapping[int, Mapping[str, int]]) -> Path:
    """Write the index of a sharded store at `path`, atomically (`<path>.partial`, then renamed).

    videos: every video in store order (labels set; rgb_start / flow_start within its shard);
    shard_of: each video's shard number (non-decreasing: shard k holds a run of consecutive
    videos); shards: the shard files in number order; streams {stream: codec}; attrs the store
    attributes; classes, splits ({number: {name: SPLIT_* code}}) as StoreWriter takes them."""
    import h5py

    from flowkit.store.writer import write_attrs, write_classes_and_splits, write_videos_table

    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        with h5py.File(partial, "w") as file:
            file.attrs["format"] = fmt.FORMAT_NAME
            file.attrs["format_version"] = fmt.FORMAT_VERSION
            write_attrs(file, attrs)
            file.attrs[LAYOUT_ATTR] = LAYOUT_SHARDED
            for stream, codec in streams.items():
                file.create_group(f"streams/{stream}").attrs["codec"] = codec
            table = write_videos_table(file, videos, fixed_strings=True)
            table.create_dataset(SHARD_COLUMN, data=np.asarray(shard_of, np.int32))
            group = file.create_group(SHARDS_GROUP)
            group.create_dataset("file", data=np.array([check_shard_name(s.file) for s in shards], dtype=object),
                                 dtype=h5py.string_dtype())
            group.create_dataset("videos", data=np.array([s.videos for s in shards], np.int64))
            for kind in ("records", "bytes"):
                for stream in streams:
                    counts = [getattr(s, kind).get(stream, 0) for s in shards]
                    group.create_dataset(f"{kind}/{stream}", data=np.array(counts, np.int64))
            write_classes_and_splits(file, classes, [v.name for v in videos], splits)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def read_shard_table(file) -> list[ShardEntry]:
    """The shards an open index file lists, names unchecked (check_index checks them)."""
    group = file[SHARDS_GROUP]
    names = [v.decode() if isinstance(v, bytes) else str(v) for v in group["file"][()]]
    videos = group["videos"][()].tolist()
    records = {s: d[()].tolist() for s, d in group["records"].items()}
    sizes = {s: d[()].tolist() for s, d in group["bytes"].items()}
    return [ShardEntry(name, int(videos[k]), {s: int(c[k]) for s, c in records.items()},
                       {s: int(c[k]) for s, c in sizes.items()}) for k, name in enumerate(names)]


def check_index(count: int, shard_of: np.ndarray, shards: Sequence[ShardEntry]) -> list[str]:
    """Problems of an index's shard table: unsafe or repeated file names, a `shard` column that is not
    one entry per video (`count`), numbers outside the table, shards that are not runs of
    consecutive videos, or video counts that disagree with the column."""
    problems = []
    for entry in shards:
        try:
            check_shard_name(entry.file)
        except ValueError as exc:
            problems.append(f"index: {exc}")
    names = [s.file for s in shards]
    if len(set(names)) != len(names):
        problems.append("index: a shard file is listed more than once")
    if len(shard_of) != count:
        return problems + [f"index: {len(shard_of)} shard numbers for {count} videos"]
    if count and (shard_of.min() < 0 or shard_of.max() >= len(shards)):
        return problems + [f"index: shard numbers outside 0..{len(shards) - 1}"]
    if (np.diff(shard_of) < 0).any():
        problems.append("index: the shards do not hold runs of consecutive videos")
    held = np.bincount(shard_of, minlength=len(shards)) if count else np.zeros(len(shards), np.int64)
    for entry, rows in zip(shards, held):
        if int(rows) != entry.videos:
            problems.append(f"index: shard {entry.file} lists {entry.videos} videos, the videos table {int(rows)}")
    return problems

