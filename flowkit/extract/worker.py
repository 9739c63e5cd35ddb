"""The work done for one video, identical whether it runs in a Ray task, a thread or inline:
decode and resize (CPU), flow and warped flow through a flow function (local engine, or a GPU
server shared by many workers), quantize and encode (CPU), write the video's part.

Frames are streamed in windows of `batch_pairs + 1` frames overlapping by one, so memory stays
bounded by one window of frames plus the encoded bytes of the video, whatever the video's length.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from flowkit.color import rgb_to_gray
from flowkit.extract.failures import BROKEN_DEVICE, broken_device_error, describe, failure_kind
from flowkit.errors import UserError
from flowkit.extract.jobs import VideoJob
from flowkit.extract.options import ContentOptions
from flowkit.flow.functions import FlowFn, make_flow_fn
from flowkit.store import format as fmt
from flowkit.store.checksums import source_sha256
from flowkit.store.records import VideoRecord


@dataclass
class VideoResult:
    """What the driver learns about a finished video: its name, 'ok' or 'failed', why it failed,
    the frames stored, and notes (e.g. a decode that stopped early)."""

    name: str
    status: str
    error: str = ""
    num_frames: int = 0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: VideoRecord, notes=()) -> "VideoResult":
        return cls(record.name, record.status, record.error, record.num_frames, list(notes))


@functools.lru_cache(maxsize=4)
def _cached_flow_fn(algo: str, params_json: str, device: str, compile: bool, threads: int | None) -> FlowFn:
    return make_flow_fn(algo, json.loads(params_json), device, compile, threads)


def local_flow_fn(content: ContentOptions, device: str = "cpu", compile: bool = False,
                  threads: int | None = None) -> FlowFn:
    """make_flow_fn for the run's settings, built once per process (engines keep compiled kernels)."""
    return _cached_flow_fn(content.algo, json.dumps(content.flow_params, sort_keys=True), device, compile, threads)


def _windows(frames: Iterator[np.ndarray], pairs: int) -> Iterator[tuple[np.ndarray, int]]:
    """Group a frame stream into windows of up to pairs + 1 frames, each starting with the last
    frame of the one before. Yields (window (K, H, W, 3), index of its first new frame)."""
    window: list[np.ndarray] = []
    first_new = 0
    for frame in frames:
        window.append(frame)
        if len(window) == pairs + 1:
            yield np.stack(window), first_new
            window, first_new = [window[-1]], 1
    if len(window) > first_new:
        yield np.stack(window), first_new


def extract_video(
    job: VideoJob, content: ContentOptions, flow_fn: FlowFn, batch_pairs: int = 16
) -> tuple[VideoRecord, dict[str, list[np.ndarray]], list[str]]:
    """Decode, flow, quantize and encode one video.

    Returns (record, encoded, notes): record has status 'ok' with num_frames set, or 'failed'
    with the reason in `error` (nothing raised for a bad video); encoded is {stream: list of 1-D
    uint8 records} as StoreWriter.add_video takes them (empty when failed); notes are warnings
    worth showing (a decode that stopped before the announced end).
    """
    from flowkit.store.encode import encode_streams
    from flowkit.video import iter_frames, probe

    record = VideoRecord(name=job.name, path=job.rel_path)
    streams = content.streams()
    encoded: dict[str, list[np.ndarray]] = {s: [] for s in streams}
    notes: list[str] = []
    try:
        record.sha256 = source_sha256(job.source)
        info = probe(job.source)
        record.fps, record.orig_width, record.orig_height = info.fps, info.width, info.height
        frames = iter_frames(job.source, size=content.frame_size(), step=content.step, max_frames=content.max_frames,
                             fps=content.fps)
        stored = 0
        fallbacks = 0
        with _collect_decode_warnings() as caught:
            for window, first_new in _windows(frames, batch_pairs):
                if len(window) < 2:
                    raise ValueError(f"only {len(window)} frame decodes; flow needs at least 2")
                if not stored:
                    record.height, record.width = (int(n) for n in window.shape[1:3])
                gray = rgb_to_gray(window)
                flow, warp, fell_back = _window_flow(gray, flow_fn, content.warped)
                fallbacks += fell_back
                parts = encode_streams(
                    streams,
                    rgb=window[first_new:] if content.rgb else None,
                    flow=flow,
                    warp=warp,
                    bound=content.bound,
                    quality=content.jpeg_quality,
                )
                for stream, items in parts.items():
                    encoded[stream].extend(items)
                stored += len(window) - first_new
        notes = list(caught)
        record.num_frames = stored
        record.warp_fallbacks = fallbacks
    except Exception as exc:  # a bad video is recorded, never raised: the others must complete
        if failure_kind(exc) == BROKEN_DEVICE:
            # The device's fault, not the video's: the run stops (without Ray) or the task is run again.
            raise broken_device_error(exc) from exc
        record.status = fmt.STATUS_FAILED
        record.error = _reason(exc)
        record.num_frames = 0
        record.width = record.height = 0
        record.warp_fallbacks = 0
        encoded = {}
    return record, encoded, notes


_local = threading.local()
_hook_lock = threading.Lock()
_hook_installed = False


def _install_warning_hook() -> None:
    """Route DecodeNoteWarning (a partial decode, --fps on a frame folder) to the calling thread's
    collector (warnings.catch_warnings is process-global, so it cannot be used from several worker
    threads at once)."""
    global _hook_installed
    from flowkit.video import DecodeNoteWarning

    with _hook_lock:
        if _hook_installed:
            return
        original = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            sink = getattr(_local, "sink", None)
            if sink is not None and issubclass(category, DecodeNoteWarning):
                sink.append(str(message))
                return
            original(message, category, filename, lineno, file, line)

        warnings.showwarning = showwarning
        warnings.filterwarnings("always", category=DecodeNoteWarning)
        _hook_installed = True


@contextlib.contextmanager
def _collect_decode_warnings():
    """Collect the DecodeNoteWarning messages this thread raises inside the block (a list)."""
    _install_warning_hook()
    sink: list[str] = []
    _local.sink = sink
    try:
        yield sink
    finally:
        _local.sink = None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UserError):  # a bad video (VideoDecodeError...): its message says it all
        return str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return describe(exc)


def _window_flow(gray, flow_fn: FlowFn, warped: bool):
    """Flow (and warped flow) of the consecutive pairs of a (K, H, W) uint8 gray numpy window:
    ((K-1, 2, H, W) float32 numpy, same or None, number of identity-fallback pairs)."""
    prev, next = np.ascontiguousarray(gray[:-1]), np.ascontiguousarray(gray[1:])
    if not warped:
        return np.asarray(flow_fn(prev, next), dtype=np.float32), None, 0
    from flowkit.warp import warped_flow_batch

    result = warped_flow_batch(prev, next, flow_fn=flow_fn)
    return result.flow, result.warped_flow, int(result.fallback.sum())


def run_job(
    job: VideoJob, content: ContentOptions, parts_dir: str | Path, flow_fn: FlowFn, batch_pairs: int = 16
) -> VideoResult:
    """extract_video, then write its part (ok or failed) into parts_dir. Returns the result."""
    from flowkit.extract.parts import write_part

    record, encoded, notes = extract_video(job, content, flow_fn, batch_pairs)
    write_part(Path(parts_dir), record, encoded)
    return VideoResult.from_record(record, notes)


def failed_result(job: VideoJob, parts_dir: str | Path, reason: str) -> VideoResult:
    """Record `job` as failed with `reason` (e.g. its worker kept dying) by writing a failed part."""
    from flowkit.extract.parts import write_part

    record = VideoRecord(name=job.name, path=job.rel_path, status=fmt.STATUS_FAILED, error=reason)
    write_part(Path(parts_dir), record, {})
    return VideoResult.from_record(record)
