"""Looking at a store: a summary of what it holds (`summarize`) and a full integrity check (`verify`)."""

from __future__ import annotations

import contextlib
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from flowkit.cpus import available_cpus
from flowkit.store import format as fmt
from flowkit.store.checksums import dataset_sha256, offsets_digest, source_sha256
from flowkit.store.errors import DamagedStoreError
from flowkit.store.names import safe_join
from flowkit.store.opening import Store, open_store
from flowkit.store.reader import FlowStore
from flowkit.store.sharded import ShardedStore
from flowkit.store.shards import is_sharded, shard_entry

MAX_PROBLEMS_PER_CHECK = 20
MAX_FAILURES_SHOWN = 20  # failed videos `flowkit info` names (with --json: all)


def summarize(path: str | os.PathLike) -> dict:
    """What a store holds, as a JSON-able dict: file size, video counts (ok / failed), the failed
    videos ([name, reason]), classes, frames and flow pairs, per stream its codec, records and bytes,
    split sizes, and the store's attributes (size, bound, algorithm and flow parameters, versions...)."""
    path = Path(path)
    with open_store(path) as store:
        ok = [v for v in store.videos if v.status == fmt.STATUS_OK]
        streams, file_bytes, extra = _stream_sizes(store)
        splits = {}
        for number, codes in sorted(store.splits.items()):
            usable = np.array([v.status == fmt.STATUS_OK for v in store.videos], bool)
            splits[number] = {
                "train": int(((codes == fmt.SPLIT_TRAIN) & usable).sum()),
                "test": int(((codes == fmt.SPLIT_TEST) & usable).sum()),
            }
        attrs = {k: v for k, v in store.attrs.items() if k not in ("format", "format_version")}
        return {
            "path": str(path),
            "file_bytes": file_bytes,
            "format_version": int(store.attrs.get("format_version", 0)),
            "videos": len(store.videos),
            "videos_ok": len(ok),
            "videos_failed": len(store.videos) - len(ok),
            "failures": [[v.name, v.error] for v in store.videos if v.status != fmt.STATUS_OK],
            "classes": list(store.classes),
            "frames": int(sum(v.num_frames for v in ok)),
            "flow_pairs": int(sum(max(v.num_frames - 1, 0) for v in ok)),
            "warp_fallbacks": int(sum(v.warp_fallbacks for v in ok)),
            "frame_sizes": _frame_sizes(ok),
            "streams": streams,
            "splits": splits,
            "attrs": attrs,
            **extra,
        }


def _frame_sizes(videos) -> dict[str, int]:
    """{"WIDTHxHEIGHT": videos of that stored frame size}, most common first ("unknown" for 0x0)."""
    counts: dict[str, int] = {}
    for video in videos:
        key = f"{video.width}x{video.height}" if video.width and video.height else "unknown"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _format_frame_sizes(sizes: dict[str, int], shown: int = 4) -> str:
    """'454x256 (3 videos), 256x454 (1 video)' and how many other sizes there are."""
    parts = [f"{size} ({count} video{'s' if count != 1 else ''})" for size, count in list(sizes.items())[:shown]]
    more = f", ... ({len(sizes)} sizes in all)" if len(sizes) > shown else ""
    return ", ".join(parts) + more
def _stream_sizes(store: Store) -> tuple[dict, int, dict]:
    """({stream: {codec, records, bytes}}, bytes on disk, extra summary keys) of an open store. A
    sharded store answers from its index (no shard is opened) and says its shard count."""
    import h5py

    if isinstance(store, ShardedStore):
        streams = {name: {"codec": codec, "records": sum(e.records.get(name, 0) for e in store.shards),
                          "bytes": sum(e.bytes.get(name, 0) for e in store.shards)}
                   for name, codec in sorted(store.streams.items())}
        on_disk = store.path.stat().st_size
        for k in range(len(store.shards)):
            with contextlib.suppress(ValueError, OSError):
                on_disk += store.shard_file(k).stat().st_size
        return streams, on_disk, {"shards": len(store.shards)}
    streams = {}
    with h5py.File(store.path, "r") as file:
        for name, codec in sorted(store.streams.items()):
            group = file[f"streams/{name}"]
            streams[name] = {"codec": codec, "records": int(group["offsets"].shape[0] - 1),
                             "bytes": int(group["data"].shape[0])}
    return streams, store.path.stat().st_size, {}


def _human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count} B"


def format_summary(info: dict) -> str:
    """Human-readable lines of a summarize() dict."""
    attrs = info["attrs"]
    classes = info["classes"]
    shown = ", ".join(classes[:8]) + (f", ... ({len(classes)} in all)" if len(classes) > 8 else "")
    lines = [
        f"store: {info['path']} ({_human_bytes(info['file_bytes'])}, format {info['format_version']})",
        f"videos: {info['videos']} ({info['videos_ok']} ok, {info['videos_failed']} failed)"
        + (f" in {info['shards']} shards" if "shards" in info else ""),
        f"classes: {len(classes)}" + (f" ({shown})" if classes else ""),
        f"frames: {info['frames']}, flow pairs: {info['flow_pairs']}"
        + (f", warp fallbacks: {info['warp_fallbacks']}" if "warp_x" in info["streams"] else ""),
    ]
    if info.get("frame_sizes"):
        lines.append(f"frame sizes: {_format_frame_sizes(info['frame_sizes'])}")
    for name, stream in info["streams"].items():
        per = stream["bytes"] / stream["records"] if stream["records"] else 0
        lines.append(f"stream {name}: {stream['codec']}, {stream['records']} records, "
                     f"{_human_bytes(stream['bytes'])} ({_human_bytes(per)} each)")
    for number, counts in info["splits"].items():
        lines.append(f"split {number}: {counts['train']} train, {counts['test']} test")
    for key in ("size", "short_side", "long_side", "fps", "step", "bound", "algo", "flow_params", "warped",
                "max_frames", "versions"):
        if key in attrs:
            value = attrs[key]
            if key == "size" and isinstance(value, list):
                value = f"{value[0]}x{value[1]}"
            lines.append(f"{key}: {value}")
    failures = info.get("failures", [])
    lines += [f"failed: {name}: {reason}" for name, reason in failures[:MAX_FAILURES_SHOWN]]
    if len(failures) > MAX_FAILURES_SHOWN:
        lines.append(f"... and {len(failures) - MAX_FAILURES_SHOWN} more failed videos (--json lists them all)")
    return "\n".join(lines)


class _Problems(list):
    """A list of problem lines that keeps at most MAX_PROBLEMS_PER_CHECK per check."""

    def __init__(self):
        super().__init__()
        self._counts: dict[str, int] = {}

    def add(self, check: str, message: str) -> None:
        count = self._counts.get(check, 0) + 1
        self._counts[check] = count
        if count <= MAX_PROBLEMS_PER_CHECK:
            self.append(message)

    def finish(self) -> list[str]:
        extra = [f"... and {n - MAX_PROBLEMS_PER_CHECK} more {check} problems"
                 for check, n in self._counts.items() if n > MAX_PROBLEMS_PER_CHECK]
        return list(self) + extra


def verify(
    path: str | os.PathLike,
    source_root: str | os.PathLike | None = None,
    decode: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> list[str]:
    """Check a store from top to bottom; returns the problems found (empty list: all good).

    First the table checks every reader runs (flowkit.store.checks: the videos table, offsets
    within the data and never decreasing, each video's records within its streams, splits), each
    problem naming the video, stream and frame; then the data and offsets checksums
    (`data_sha256`, `offsets_sha256`) when the store has them; then, with `decode`, every record
    that can be located: its CRC-32 (stores that have them) and that it decodes to an image of the
    video's frame size (`width` x `height`; format 1: the store's `size`), every record of a video
    agreeing in size. Records the tables cannot locate are
    not read. With `source_root`, each video's source file (root / path) is checked against its
    sha256. Raises ValueError / FileNotFoundError when the file is not a store at all.
    """
    import h5py

    if is_sharded(path):
        return _verify_sharded(Path(path), source_root, decode, workers, progress)
    problems = _Problems()
    try:
        store = FlowStore(path, check=False)
    except DamagedStoreError as exc:  # the videos table itself cannot be read: nothing more to check
        return list(getattr(exc, "problems", [str(exc)]))
    with store, h5py.File(path, "r") as file:
        for check, message in store.table_report.problems:
            problems.add(check, message)
        for stream in store.streams:
            _check_checksums(file, stream, store.has_record_checksums(stream), problems)
        if decode:
            _check_records(store, problems, workers, progress)
        if source_root is not None:
            _check_sources(store.videos, Path(source_root), problems)
    return problems.finish()


def _verify_sharded(path: Path, source_root: str | os.PathLike | None, decode: bool, workers: int | None,
                    progress: bool) -> list[str]:
    """verify() of a sharded store: the index's tables, then each shard as a store of its own and
    against the index (its videos, records and bytes); every problem of a shard names its file."""
    from tqdm import tqdm

    problems = _Problems()
    try:
        store = ShardedStore(path, check=False)
    except DamagedStoreError as exc:
        return list(getattr(exc, "problems", [str(exc)]))
    with store:
        for check, message in store.table_report.problems:
            problems.add(check, message)
        for k, entry in enumerate(tqdm(store.shards, desc="verify", unit="shard", disable=not progress)):
            try:
                shard = store.shard_file(k)
            except ValueError:
                continue  # an unsafe name: reported by the index checks, never opened
            if not shard.is_file():
                problems.add("shards", f"shard {entry.file}: missing")
                continue
            for problem in verify(shard, decode=decode, workers=workers):
                problems.add("shards", f"shard {entry.file}: {problem}")
            for problem in _shard_against_index(store, k, shard):
                problems.add("shards", problem)
        if source_root is not None:
            _check_sources(store.videos, Path(source_root), problems)
    return problems.finish()


def _shard_against_index(store: ShardedStore, number: int, shard: Path) -> list[str]:
    """How shard `number` (at `shard`) differs from what the index says of it."""
    entry = store.shards[number]
    try:
        with FlowStore(shard, check=False) as opened:
            problems = store.shard_mismatch(number, opened)
        held = shard_entry(shard)
    except (ValueError, OSError, KeyError):
        return []  # unreadable: verify(shard) said why
    for kind in ("records", "bytes"):
        listed, actual = getattr(entry, kind), getattr(held, kind)
        for stream in sorted(set(listed) | set(actual)):
            if listed.get(stream) != actual.get(stream):
                problems.append(f"shard {entry.file}: stream {stream} holds {actual.get(stream)} {kind}, "
                                f"the index says {listed.get(stream)}")
    return problems


def _check_checksums(file, stream: str, per_record: bool, problems: _Problems) -> None:
    group = file[f"streams/{stream}"]
    expected_data = group.attrs.get("data_sha256")
    if expected_data is None:
        return  # written before checksums existed
    if dataset_sha256(group["data"]) != _text(expected_data):
        where = ("the damaged records are listed by name" if per_record else
                 "this store has no per-record checksums, so only records that fail to decode can be named")
        problems.add("checksum", f"stream {stream}: data checksum mismatch (the bytes changed after writing; {where})")
    expected_offsets = group.attrs.get("offsets_sha256")
    if expected_offsets is not None and offsets_digest(group["offsets"][()]) != _text(expected_offsets):
        problems.add("checksum", f"stream {stream}: offsets checksum mismatch")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_records(store: FlowStore, problems: _Problems, workers: int | None, progress: bool) -> None:
    """Every locatable record of every ok video: CRC-32 (when stored) and decoding."""
    from tqdm import tqdm

    ok = [(i, v) for i, v in enumerate(store.videos) if v.status == fmt.STATUS_OK]
    with ThreadPoolExecutor(max_workers=workers or available_cpus()) as pool:
        for i, video in tqdm(ok, desc="verify", unit="video", disable=not progress):
            shapes: set = set()
            for stream in store.streams:
                if i in store.table_report.unreadable.get(stream, ()):
                    continue  # reported by the table checks; its bytes cannot be located
                count = store.num_records(i, stream)
                records = store.read_encoded(stream, i, range(count), check_crc=False) if count else []
                crc32 = store.stored_crc32(stream, i, range(count))
                color = stream == fmt.RGB
                outcomes = pool.map(lambda buf: _decoded_shape(buf, color), records)
                for t, (buffer, outcome) in enumerate(zip(records, outcomes)):
                    where = f"video {video.name!r}, stream {stream}, frame {t}"
                    if crc32 is not None and zlib.crc32(buffer.data) != crc32[t]:
                        problems.add("record", f"{where}: checksum mismatch (the record changed after writing)")
                    if isinstance(outcome, str):
                        problems.add("record", f"{where}: does not decode ({outcome})")
                    else:
                        shapes.add(outcome[:2])
            expected_hw = (video.height, video.width) if video.width and video.height else None
            if len(shapes) > 1:
                problems.add("record", f"video {video.name!r}: frames of different sizes {sorted(shapes)}")
            elif expected_hw is not None and shapes and shapes != {expected_hw}:
                problems.add("record", f"video {video.name!r}: frames are {shapes.pop()}, "
                                       f"the store says {expected_hw} (h, w)")


def _decoded_shape(buffer: np.ndarray, color: bool):
    """The decoded shape of a record, or the reason it does not decode (a str)."""
    from flowkit.store.codec import decode_image

    try:
        return decode_image(buffer, color).shape
    except ValueError as exc:
        return str(exc)


def _check_sources(videos, root: Path, problems: _Problems) -> None:
    for video in videos:
        if not video.path or not video.sha256:
            continue
        try:
            source = safe_join(root, video.path)
        except ValueError as exc:
            problems.add("source", f"video {video.name!r}: {exc}")
            continue
        if not (source.is_file() or source.is_dir()):
            problems.add("source", f"video {video.name!r}: source {source} not found")
        elif source_sha256(source) != video.sha256:
            problems.add("source", f"video {video.name!r}: source {source} changed (sha256 differs)")
