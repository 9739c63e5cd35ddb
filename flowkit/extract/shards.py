"""Sharded extraction: which videos go to which shard, how many videos a shard holds by default, and
the assembler processes that turn each shard's parts into its file as soon as the shard is full.

The plan (`shards.json` in the parts folder) fixes, on a run's first start, the videos of each
shard (consecutive runs of the name-sorted new videos, `shard_size` each) and their file names; a
resumed run reuses it, so shard k holds the same videos whatever was interrupted. A shard file
appears beside the index only complete (built in the parts folder, renamed), and its parts are
deleted only after, so a kill at any moment loses no finished video. The index is written last.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from flowkit.errors import UserValueError
from flowkit.extract.assemble import SHARD_TMP_SUFFIX, ShardResult, assemble_shard
from flowkit.extract.jobs import VideoJob
from flowkit.extract.options import ContentOptions
from flowkit.store.opening import Store
from flowkit.store.shards import ShardEntry, check_shard_name, shard_file_name

PLAN_FILE = "shards.json"
# A default shard holds about this many bytes; jobs are sharded by default from SHARD_FROM_BYTES.
TARGET_SHARD_BYTES = 4 * 2**30
SHARD_FROM_BYTES = 64 * 2**30
# Below this many videos a job is not estimated (probing videos costs time) and stays one file.
MIN_VIDEOS_TO_ESTIMATE = 256
SAMPLED_VIDEOS = 8
# Encoded bytes per pixel of one record, from the stores of benchmarks/loader_throughput at 340x256
# (docs/scale.md): RGB JPEG, and a flow plane per codec.
RGB_BYTES_PER_PIXEL = 0.29
FLOW_BYTES_PER_PIXEL = {"zstd": 0.17, "png": 0.26, "jpeg": 0.08}
MAX_ASSEMBLERS = 2


@dataclass
class ExistingStore:
    """The store an `--append` run adds to, open: names of its videos, and its shards (none for a
    single-file store, which becomes shard 0 when the index is written) with each video's shard."""

    store: Store

    @property
    def names(self) -> set[str]:
        return {video.name for video in self.store.videos}

    @property
    def shards(self) -> list[ShardEntry]:
        return list(getattr(self.store, "shards", []))

    @property
    def shard_of(self) -> list[int]:
        shard_of = getattr(self.store, "shard_of", None)
        return [] if shard_of is None else [int(k) for k in shard_of]


@dataclass
class ShardPlan:
    """The shards a run writes: names (the new videos in store order), shard_size (videos per
    shard), files (one file name per shard, beside the index), stale (shard files of the store this
    run replaces, removed once the new index is in place), append (the run adds to an existing
    store)."""

    names: list[str]
    shard_size: int
    files: list[str]
    stale: list[str] = field(default_factory=list)
    append: bool = False

    def shards(self) -> list[list[str]]:
        """The names of each shard's videos, in shard order."""
        return [self.names[k:k + self.shard_size] for k in range(0, len(self.names), self.shard_size)]


def make_plan(output: Path, names: Sequence[str], shard_size: int, first: int, stale: Sequence[str] = (),
              append: bool = False) -> ShardPlan:
    """Shards of `shard_size` consecutive `names`, numbered from `first` (files `<stem>-<k>.h5`)."""
    if shard_size < 1:
        raise UserValueError(f"shard size must be at least 1 video, got {shard_size}")
    count = math.ceil(len(names) / shard_size)
    files = [shard_file_name(output, first + k) for k in range(count)]
    return ShardPlan(list(names), int(shard_size), files, list(stale), append)


def save_plan(parts_dir: Path, plan: ShardPlan) -> None:
    """Write the plan into the parts folder (atomically)."""
    from flowkit.extract.parts import write_atomic

    text = json.dumps(asdict(plan)).encode()
    write_atomic(parts_dir / PLAN_FILE, lambda handle: handle.write(text))


def load_plan(parts_dir: Path) -> ShardPlan | None:
    """The plan of an interrupted sharded run in `parts_dir`, or None (none, or an unsharded run).
    Its file names are checked like an index's (they are joined to the output folder)."""
    path = parts_dir / PLAN_FILE
    if not path.is_file():
        return None
    plan = ShardPlan(**json.loads(path.read_text()))
    for name in plan.files + plan.stale:
        check_shard_name(name)
    return plan


def remove_leftovers(parts_dir: Path) -> None:
    """Delete what a killed shard assembly left in the parts folder."""
    for pattern in (f"*{SHARD_TMP_SUFFIX}", f"*{SHARD_TMP_SUFFIX}.partial"):
        for leftover in parts_dir.glob(pattern):
            leftover.unlink(missing_ok=True)


def estimated_video_bytes(jobs: Sequence[VideoJob], content: ContentOptions) -> float | None:
    """Bytes a video of `jobs` takes in a store, estimated from up to SAMPLED_VIDEOS of them (container
    frame counts and sizes, the frame size and streams of `content`). None when none can be probed."""
    from flowkit.video import probe

    step = max(1, len(jobs) // SAMPLED_VIDEOS)
    estimates = []
    for job in list(jobs)[::step][:SAMPLED_VIDEOS]:
        try:
            info = probe(job.source)
        except (ValueError, OSError):
            continue
        frames = math.ceil(info.frame_count / content.step)
        if content.max_frames is not None:
            frames = min(frames, content.max_frames)
        width, height = content.size if content.size is not None else (info.width, info.height)
        planes = 4 if content.warped else 2
        per_frame = (RGB_BYTES_PER_PIXEL if content.rgb else 0.0) + planes * FLOW_BYTES_PER_PIXEL[content.flow_codec]
        estimates.append(frames * width * height * per_frame)
    return sum(estimates) / len(estimates) if estimates else None


def default_shard_size(jobs: Sequence[VideoJob], content: ContentOptions) -> int:
    """Videos per shard when none is asked for: 0 (one file, as always) unless the job is large (an
    estimated SHARD_FROM_BYTES or more), then shards of about TARGET_SHARD_BYTES."""
    if len(jobs) < MIN_VIDEOS_TO_ESTIMATE:
        return 0
    per_video = estimated_video_bytes(jobs, content)
    if not per_video or per_video * len(jobs) < SHARD_FROM_BYTES:
        return 0
    return max(1, int(TARGET_SHARD_BYTES // per_video))


def _die_with_parent() -> None:
    """In an assembler process: be killed when the extract process dies (kill -9 included), so no
    orphan writes a shard while a resumed run does (Linux; elsewhere a no-op)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


class ShardAssembler:
    """Assembles shards while extraction goes on: on `processes` assembler processes (spawned, so
    safe beside Ray and threads), or, with processes=0, in this process when submitted."""

    def __init__(self, processes: int):
        self._pool = None
        if processes > 0:
            import multiprocessing

            self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_die_with_parent)

    def submit(self, parts_dir: Path, number: int, shard: Path, names: Sequence[str], streams: Mapping[str, str],
               attrs: Mapping) -> Future:
        """Assemble shard `number` (assemble_shard); the future's result is a ShardResult."""
        if self._pool is not None:
            return self._pool.submit(assemble_shard, str(parts_dir), number, str(shard), list(names), dict(streams),
                                     dict(attrs))
        future: Future = Future()
        try:
            future.set_result(assemble_shard(parts_dir, number, shard, names, streams, attrs))
        except Exception as exc:  # handed to whoever waits on it, as a pool would; an interrupt is not
            future.set_exception(exc)
        return future

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None


def shard_result_of(path: Path, number: int) -> ShardResult:
    """The ShardResult of a shard file an earlier run published (read back from the file)."""
    from flowkit.store.reader import FlowStore
    from flowkit.store.shards import shard_entry

    with FlowStore(path) as store:
        records = list(store.videos)
    return ShardResult(number, shard_entry(path), records)


def assemblers_for(workers: int) -> int:
    """Assembler processes for a run with `workers` workers: none when the run stays in this process."""
    return 0 if workers == 0 else min(MAX_ASSEMBLERS, max(workers, 1))


def unlink_quietly(paths: Sequence[str | os.PathLike]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)
