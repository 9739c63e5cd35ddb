"""Looking at a store: a summary of what it holds (`summarize`) and a full integrity check (`verify`)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from flowkit.store import format as fmt
from flowkit.store.checksums import dataset_sha256, file_sha256, offsets_digest
from flowkit.store.names import check_name, safe_join
from flowkit.store.reader import FlowStore

MAX_PROBLEMS_PER_CHECK = 20


def summarize(path: str | os.PathLike) -> dict:
    """What a store holds, as a JSON-able dict: file size, video counts (ok / failed), classes,
    frames and flow pairs, per stream its codec, records and bytes, split sizes, and the store's
    attributes (size, bound, algorithm and flow parameters, versions...)."""
    import h5py

    path = Path(path)
    with FlowStore(path) as store, h5py.File(path, "r") as file:
        ok = [v for v in store.videos if v.status == fmt.STATUS_OK]
        streams = {}
        for name, codec in sorted(store.streams.items()):
            group = file[f"streams/{name}"]
            streams[name] = {"codec": codec, "records": int(group["offsets"].shape[0] - 1),
                             "bytes": int(group["data"].shape[0])}
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
            "file_bytes": path.stat().st_size,
            "format_version": int(store.attrs.get("format_version", 0)),
            "videos": len(store.videos),
            "videos_ok": len(ok),
            "videos_failed": len(store.videos) - len(ok),
            "classes": list(store.classes),
            "frames": int(sum(v.num_frames for v in ok)),
            "flow_pairs": int(sum(max(v.num_frames - 1, 0) for v in ok)),
            "warp_fallbacks": int(sum(v.warp_fallbacks for v in ok)),
            "streams": streams,
            "splits": splits,
            "attrs": attrs,
        }


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
        f"videos: {info['videos']} ({info['videos_ok']} ok, {info['videos_failed']} failed)",
        f"classes: {len(classes)}" + (f" ({shown})" if classes else ""),
        f"frames: {info['frames']}, flow pairs: {info['flow_pairs']}"
        + (f", warp fallbacks: {info['warp_fallbacks']}" if "warp_x" in info["streams"] else ""),
    ]
    for name, stream in info["streams"].items():
        per = stream["bytes"] / stream["records"] if stream["records"] else 0
        lines.append(f"stream {name}: {stream['codec']}, {stream['records']} records, "
                     f"{_human_bytes(stream['bytes'])} ({_human_bytes(per)} each)")
    for number, counts in info["splits"].items():
        lines.append(f"split {number}: {counts['train']} train, {counts['test']} test")
    for key in ("size", "step", "bound", "algo", "flow_params", "warped", "max_frames", "versions"):
        if key in attrs:
            value = attrs[key]
            if key == "size" and isinstance(value, list):
                value = f"{value[0]}x{value[1]}"
            lines.append(f"{key}: {value}")
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

    Checks: the videos table (names unique and safe, statuses, labels, failed videos hold no
    frames, splits cover every video with codes 0/1/2); per stream, offsets start at 0, never
    decrease and end at the data length, the record count matches the videos' frame counts and
    each ok video's records lie in the stream without overlapping another's; the data and offsets
    checksums (`data_sha256`, `offsets_sha256`) when the store has them; with `decode`, every
    record decodes to an image of the store's frame size (and the video's frames agree in size).
    With `source_root`, each video's source file (root / path) is checked against its sha256.
    Raises ValueError / FileNotFoundError when the file is not a readable store at all.
    """
    import h5py

    problems = _Problems()
    with FlowStore(path) as store, h5py.File(path, "r") as file:
        videos = store.videos
        _check_table(store, file, problems)
        for stream in store.streams:
            _check_offsets(store, file, stream, problems)
            _check_checksums(file, stream, problems)
        if decode:
            _check_decoding(store, problems, workers, progress)
        if source_root is not None:
            _check_sources(videos, Path(source_root), problems)
    return problems.finish()


def _check_table(store: FlowStore, file, problems: _Problems) -> None:
    names = [v.name for v in store.videos]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        problems.add("table", f"videos table: duplicate names {duplicates[:5]}")
    columns = file["videos"]
    lengths = {name: columns[name].shape[0] for name in columns}
    if len(set(lengths.values())) > 1:
        problems.add("table", f"videos table: columns of different lengths {lengths}")
    for video in store.videos:
        try:
            check_name(video.name)
        except ValueError as exc:
            problems.add("table", f"videos table: {exc}")
        if video.status not in (fmt.STATUS_OK, fmt.STATUS_FAILED):
            problems.add("table", f"video {video.name!r}: unknown status {video.status!r}")
        if video.status == fmt.STATUS_FAILED and video.num_frames:
            problems.add("table", f"video {video.name!r}: failed but holds {video.num_frames} frames")
        if video.status == fmt.STATUS_OK and video.num_frames < 1:
            problems.add("table", f"video {video.name!r}: ok but holds no frames")
        if not -1 <= video.label < len(store.classes):
            problems.add("table", f"video {video.name!r}: label {video.label} outside 0..{len(store.classes) - 1}")
    for number, codes in store.splits.items():
        if len(codes) != len(store.videos):
            problems.add("table", f"split {number}: {len(codes)} entries for {len(store.videos)} videos")
        elif not np.isin(codes, (fmt.SPLIT_UNUSED, fmt.SPLIT_TRAIN, fmt.SPLIT_TEST)).all():
            problems.add("table", f"split {number}: codes other than 0, 1, 2")


def _check_offsets(store: FlowStore, file, stream: str, problems: _Problems) -> None:
    offsets = file[f"streams/{stream}/offsets"][()]
    data_length = file[f"streams/{stream}/data"].shape[0]
    if len(offsets) == 0 or offsets[0] != 0:
        problems.add("offsets", f"stream {stream}: offsets do not start at 0")
        return
    if (np.diff(offsets) < 0).any():
        bad = int(np.argmax(np.diff(offsets) < 0))
        problems.add("offsets", f"stream {stream}: offsets decrease at record {bad}")
    if offsets[-1] != data_length:
        problems.add("offsets", f"stream {stream}: offsets end at {offsets[-1]}, data holds {data_length} bytes")
    records = len(offsets) - 1
    spans = []
    for video in store.videos:
        if video.status != fmt.STATUS_OK:
            continue
        start = video.rgb_start if stream == fmt.RGB else video.flow_start
        length = fmt.stream_length(stream, video.num_frames)
        if start < 0 or start + length > records:
            problems.add("offsets", f"video {video.name!r}: records {start}..{start + length - 1} of {stream} "
                                    f"lie outside its {records} records")
        spans.append((start, length, video.name))
    expected = sum(length for _, length, _ in spans)
    if expected != records:
        problems.add("offsets", f"stream {stream}: {records} records, the videos table accounts for {expected}")
    spans.sort()
    for (start_a, length_a, name_a), (start_b, _, name_b) in zip(spans, spans[1:]):
        if start_a + length_a > start_b:
            problems.add("offsets", f"stream {stream}: videos {name_a!r} and {name_b!r} overlap")


def _check_checksums(file, stream: str, problems: _Problems) -> None:
    group = file[f"streams/{stream}"]
    expected_data = group.attrs.get("data_sha256")
    if expected_data is None:
        return  # written before checksums existed
    if dataset_sha256(group["data"]) != _text(expected_data):
        problems.add("checksum", f"stream {stream}: data checksum mismatch (the bytes changed after writing)")
    expected_offsets = group.attrs.get("offsets_sha256")
    if expected_offsets is not None and offsets_digest(group["offsets"][()]) != _text(expected_offsets):
        problems.add("checksum", f"stream {stream}: offsets checksum mismatch")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_decoding(store: FlowStore, problems: _Problems, workers: int | None, progress: bool) -> None:
    from tqdm import tqdm

    size = store.attrs.get("size")
    expected_hw = (int(size[1]), int(size[0])) if isinstance(size, list) and len(size) == 2 else None
    ok = [(i, v) for i, v in enumerate(store.videos) if v.status == fmt.STATUS_OK]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for i, video in tqdm(ok, desc="verify", unit="video", disable=not progress):
            shapes: set = set()
            for stream in store.streams:
                count = store.num_records(i, stream)
                try:
                    records = store.read_encoded(stream, i, range(count)) if count else []
                except (IndexError, ValueError, OSError) as exc:
                    problems.add("decode", f"video {video.name!r}, {stream}: cannot read records ({exc})")
                    continue
                color = stream == fmt.RGB
                for t, shape in enumerate(pool.map(lambda buf: _decoded_shape(buf, color), records)):
                    if shape is None:
                        problems.add("decode", f"video {video.name!r}, {stream} record {t}: does not decode")
                    else:
                        shapes.add(shape[:2])
            if len(shapes) > 1:
                problems.add("decode", f"video {video.name!r}: frames of different sizes {sorted(shapes)}")
            elif expected_hw is not None and shapes and shapes != {expected_hw}:
                problems.add("decode",
                             f"video {video.name!r}: frames are {shapes.pop()}, the store says {expected_hw} (h, w)")


def _decoded_shape(buffer: np.ndarray, color: bool):
    from flowkit.store.codec import decode_image

    try:
        return decode_image(buffer, color).shape
    except ValueError:
        return None


def _check_sources(videos, root: Path, problems: _Problems) -> None:
    for video in videos:
        if not video.path or not video.sha256:
            continue
        try:
            source = safe_join(root, video.path)
        except ValueError as exc:
            problems.add("source", f"video {video.name!r}: {exc}")
            continue
        if not source.is_file():
            problems.add("source", f"video {video.name!r}: source {source} not found")
        elif file_sha256(source) != video.sha256:
            problems.add("source", f"video {video.name!r}: source {source} changed (sha256 differs)")
