"""Consistency checks of a store's tables, the one place they live: every reader runs them when it
opens a store (FlowStore refuses a store that fails them) and `flowkit verify` reports all of them.

They look only at what is already in memory once a store is open (the videos table, per stream its
offsets and data length, the splits), so they cost milliseconds even for UCF101-sized stores:
- videos table: columns of one length, names unique and safe, known statuses, labels within the
  classes, failed videos without frames, ok videos with at least one;
- per stream: offsets start at 0, never decrease and end exactly at the data length (so every record
  lies within `data`), each ok video's records lie within the stream and do not overlap another's,
  and the videos account for every record; per-record checksums, when stored, one per record;
- splits: one code (0, 1 or 2) per video.
Each problem names the video, the stream and the frame (record index within the video) it touches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flowkit.store import format as fmt
from flowkit.store.names import check_name, names_look_safe
from flowkit.store.records import VideoRecord


@dataclass
class StreamTable:
    """What a store holds for one stream, as far as the checks need it: offsets (records + 1,)
    int64 byte positions into data, data_bytes the length of `data`, crc32 (records,) uint32 or
    None when the store predates per-record checksums."""

    offsets: np.ndarray
    data_bytes: int
    crc32: np.ndarray | None = None

    @property
    def records(self) -> int:
        return max(len(self.offsets) - 1, 0)


@dataclass
class TableReport:
    """Outcome of check_tables. problems: [(check, message)], check one of 'table', 'offsets',
    'splits'. unreadable: {stream: set of video indices whose records cannot be located} (their
    records must not be read)."""

    problems: list[tuple[str, str]] = field(default_factory=list)
    unreadable: dict[str, set[int]] = field(default_factory=dict)

    def add(self, check: str, message: str) -> None:
        self.problems.append((check, message))

    @property
    def messages(self) -> list[str]:
        return [message for _, message in self.problems]


def column_problems(lengths: dict[str, int]) -> list[str]:
    """Problems of the videos table's columns ({column: length}) that stop it being read at all:
    a missing column, or columns of different lengths."""
    problems = []
    required = ("name", "status", "num_frames", "rgb_start", "flow_start")
    missing = [name for name in required if name not in lengths]
    if missing:
        problems.append(f"videos table: missing column(s) {', '.join(missing)}")
    if len(set(lengths.values())) > 1:
        problems.append(f"videos table: columns of different lengths {dict(sorted(lengths.items()))}")
    return problems


def check_tables(videos: list[VideoRecord], classes: list[str], streams: dict[str, StreamTable],
                 splits: dict[int, np.ndarray]) -> TableReport:
    """Every table check (module docstring). Returns a TableReport; no problem means an empty list."""
    report = TableReport()
    _check_videos(videos, classes, report)
    for stream, table in streams.items():
        _check_stream(videos, stream, table, report)
    for number, codes in sorted(splits.items()):
        known = np.isin(codes, (fmt.SPLIT_UNUSED, fmt.SPLIT_TRAIN, fmt.SPLIT_TEST))
        if len(codes) != len(videos):
            report.add("splits", f"split {number}: {len(codes)} entries for {len(videos)} videos")
        elif not known.all():
            bad = int(np.flatnonzero(~known)[0])
            report.add("splits", f"split {number}: video {videos[bad].name!r} has code {int(codes[bad])} "
                                 "(expected 0, 1 or 2)")
    return report


def _check_videos(videos: list[VideoRecord], classes: list[str], report: TableReport) -> None:
    seen: set[str] = set()
    names_safe = names_look_safe([video.name for video in videos])
    for video in videos:
        if video.name in seen:
            report.add("table", f"videos table: name {video.name!r} appears more than once")
        seen.add(video.name)
        try:
            if not names_safe:
                check_name(video.name)
        except ValueError as exc:
            report.add("table", f"videos table: {exc}")
        if video.status not in (fmt.STATUS_OK, fmt.STATUS_FAILED):
            report.add("table", f"video {video.name!r}: unknown status {video.status!r}")
        if video.status == fmt.STATUS_FAILED and video.num_frames:
            report.add("table", f"video {video.name!r}: failed but holds {video.num_frames} frames")
        if video.status == fmt.STATUS_OK and video.num_frames < 1:
            report.add("table", f"video {video.name!r}: ok but holds {video.num_frames} frames")
        if not -1 <= video.label < len(classes):
            report.add("table", f"video {video.name!r}: label {video.label} outside 0..{len(classes) - 1}")


class _Spans:
    """Where each ok video's records lie in one stream, as arrays sorted by first record: starts,
    counts (records) and index (the video's position in the table); answers which video and frame
    a record index belongs to."""

    def __init__(self, videos: list[VideoRecord], stream: str):
        self.videos, self.stream = videos, stream
        ok = [i for i, v in enumerate(videos) if v.status == fmt.STATUS_OK]
        frames = np.array([max(int(videos[i].num_frames), 0) for i in ok], np.int64)
        starts = np.array([videos[i].rgb_start if stream == fmt.RGB else videos[i].flow_start for i in ok], np.int64)
        counts = np.maximum(frames - 1, 0) if stream in fmt.FLOW_STREAMS else frames
        order = np.argsort(starts, kind="stable")
        self.starts, self.counts, self.index = starts[order], counts[order], np.array(ok, np.int64)[order]

    def owner(self, record: int) -> int | None:
        """Index of the video holding `record`, or None."""
        holding = self.counts > 0
        starts, counts, index = self.starts[holding], self.counts[holding], self.index[holding]
        position = int(np.searchsorted(starts, record, side="right")) - 1
        if position >= 0 and record < starts[position] + counts[position]:
            return int(index[position])
        return None

    def describe(self, record: int) -> str:
        """'video NAME, frame T' for `record`, or 'record K (no video)'."""
        index = self.owner(record)
        if index is None:
            return f"record {record} (no video)"
        start = self.videos[index].rgb_start if self.stream == fmt.RGB else self.videos[index].flow_start
        return f"video {self.videos[index].name!r}, frame {record - int(start)}"


def _check_stream(videos: list[VideoRecord], stream: str, table: StreamTable, report: TableReport) -> None:
    offsets, records = np.asarray(table.offsets, np.int64), table.records
    spans = _Spans(videos, stream)
    unreadable = report.unreadable.setdefault(stream, set())
    if len(offsets) == 0 or offsets[0] != 0:
        report.add("offsets", f"stream {stream}: offsets do not start at 0")
    # Record k is data[offsets[k]:offsets[k + 1]]: it cannot be read when it ends before it
    # starts or past the end of the data.
    ends_early = np.flatnonzero(np.diff(offsets) < 0)
    past_end = np.flatnonzero(offsets[1:] > table.data_bytes)
    for k in ends_early[:_MAX_LISTED]:
        report.add("offsets", f"stream {stream}, {spans.describe(int(k))}: record ends at byte {int(offsets[k + 1])}, "
                              f"before it starts ({int(offsets[k])})")
    for k in past_end[:_MAX_LISTED]:
        report.add("offsets", f"stream {stream}, {spans.describe(int(k))}: record ends at byte {int(offsets[k + 1])}, "
                              f"past the end of the data ({table.data_bytes} bytes)")
    if len(offsets) and 0 <= offsets[-1] < table.data_bytes:
        report.add("offsets", f"stream {stream}: offsets end at byte {int(offsets[-1])}, "
                              f"the data holds {table.data_bytes}")
    if table.crc32 is not None and len(table.crc32) != records:
        report.add("offsets", f"stream {stream}: {len(table.crc32)} record checksums for {records} records")
    for k in np.union1d(ends_early, past_end):
        owner = spans.owner(int(k))
        if owner is not None:
            unreadable.add(owner)
    outside = np.flatnonzero((spans.starts < 0) | (spans.starts + spans.counts > records))
    for position in outside:
        start, count, video = int(spans.starts[position]), int(spans.counts[position]), videos[spans.index[position]]
        report.add("offsets", f"video {video.name!r}: {video.num_frames} frames need records "
                              f"{start}..{start + count - 1} of stream {stream}, which holds {records}")
        unreadable.add(int(spans.index[position]))
    expected = int(spans.counts.sum())
    if expected != records:
        report.add("offsets", f"stream {stream}: {records} records, the videos table accounts for {expected}")
    holding = spans.counts > 0
    starts, counts, index = spans.starts[holding], spans.counts[holding], spans.index[holding]
    for position in np.flatnonzero(starts[:-1] + counts[:-1] > starts[1:]):
        first, second = videos[index[position]], videos[index[position + 1]]
        report.add("offsets", f"stream {stream}: videos {first.name!r} and {second.name!r} "
                              f"share records from {int(starts[position + 1])}")


# Offsets problems listed per kind and stream; `flowkit verify` caps its whole list further.
_MAX_LISTED = 50
