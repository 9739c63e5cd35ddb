"""End-to-end extraction throughput: `flowkit extract` (one HDF5 store) against dense_flow's
approach (OpenCV's CPU TV-L1, one JPEG file per frame and flow component), in the same run.

    python -m benchmarks.extract_throughput [--videos 6] [--frames 24] [--size 160x120]
        [--workers N] [--device cpu|cuda] [--repeats 1]

Generates synthetic motion videos (flowkit.synth, mp4) once, then times, end to end from the video
files to the finished output (decode, resize, TV-L1 with OpenCV's default parameters, quantize
with bound 20, encode, write):
- flowkit: `flowkit.extract.extract` with `workers` CPU workers (Ray when installed, else threads
  in this process) and flow on `device`; Ray's start-up is part of the time;
- rawframes: the dense_flow layout (img_00001.jpg, flow_x_00001.jpg, flow_y_00001.jpg) written by
  a pool of `workers` processes, one video per task, each running cv2.optflow's DualTVL1 with one
  OpenCV thread (so both sides use `workers` cores).
Runs alternate between the two when --repeats > 1; the median is reported. Prints one JSON line:
videos/s and frames/s of each, their ratio, bytes on disk (apparent and allocated) and file counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path



def _rawframes_video(task: tuple[str, str, tuple[int, int]]) -> int:
    """dense_flow's per-video job: decode, resize, OpenCV TV-L1 per pair, quantize, one JPEG per
    frame and flow component. Returns the frames written."""
    import cv2

    from flowkit.color import rgb_to_gray
    from flowkit.quantize import DEFAULT_BOUND, quantize_flow
    from flowkit.rawframes import frame_file
    from flowkit.store.codec import DEFAULT_JPEG_QUALITY
    from flowkit.store.format import FLOW_X, FLOW_Y, RGB
    from flowkit.video import read_frames

    source, folder, size = task
    cv2.setNumThreads(1)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    frames = read_frames(source, size=size)
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    gray = rgb_to_gray(frames)
    quality = [cv2.IMWRITE_JPEG_QUALITY, DEFAULT_JPEG_QUALITY]
    for t, frame in enumerate(frames):
        cv2.imwrite(str(out / frame_file(RGB, t)), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), quality)
    for t in range(len(frames) - 1):
        flow = solver.calc(gray[t], gray[t + 1], None)
        q = quantize_flow(flow, DEFAULT_BOUND)
        cv2.imwrite(str(out / frame_file(FLOW_X, t)), q[..., 0], quality)
        cv2.imwrite(str(out / frame_file(FLOW_Y, t)), q[..., 1], quality)
    return len(frames)


def run_rawframes(videos: list[Path], videos_dir: Path, out_dir: Path, size, workers: int) -> tuple[float, int]:
    """Write the rawframes layout for `videos` with a process pool; (seconds, frames)."""
    from multiprocessing import get_context

    tasks = [(str(v), str(out_dir / v.relative_to(videos_dir).with_suffix("")), size) for v in videos]
    started = time.perf_counter()
    with get_context("spawn").Pool(max(workers, 1)) as pool:
        frames = sum(pool.map(_rawframes_video, tasks, chunksize=1))
    return time.perf_counter() - started, frames


def run_flowkit(videos_dir: Path, output: Path, size, workers: int, device: str) -> tuple[float, int, str]:
    """flowkit extract of the folder into one store; (seconds, frames, engine)."""
    from flowkit.extract import ContentOptions, RunOptions, extract

    started = time.perf_counter()
    run = RunOptions(device=device, workers=workers, progress=False, overwrite=True)
    summary = extract([videos_dir], output, ContentOptions(size=size), run)
    seconds = time.perf_counter() - started
    if summary.videos_failed:
        raise RuntimeError(f"flowkit failed on {summary.failures}")
    return seconds, summary.frames, summary.engine


def disk_usage(path: Path) -> dict:
    """Apparent bytes, allocated bytes (st_blocks) and file count of a file or folder tree."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    stats = [p.stat() for p in files]
    return {"files": len(files), "bytes": sum(s.st_size for s in stats),
            "allocated_bytes": sum(s.st_blocks * 512 for s in stats)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", default="160x120", help="video size and extraction size, WIDTHxHEIGHT")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    from flowkit.sizes import parse_size
    from flowkit.synth import make_dataset

    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="flowkit-extract-bench-") as tmp:
        tmp = Path(tmp)
        classes = min(4, args.videos // 2) or 1
        info = make_dataset(tmp / "data", classes=classes, videos_per_class=max(2, -(-args.videos // classes)),
                            frames=args.frames, size=size, seed=0, progress=False)
        videos_dir = info.videos_dir
        videos = sorted(p for p in videos_dir.rglob("*") if p.is_file())
        runs: dict[str, list[float]] = {"flowkit": [], "rawframes": []}
        frames = {}
        engine = ""
        for _ in range(max(args.repeats, 1)):
            shutil.rmtree(tmp / "rawframes", ignore_errors=True)
            seconds, frames["rawframes"] = run_rawframes(videos, videos_dir, tmp / "rawframes", size, args.workers)
            runs["rawframes"].append(seconds)
            seconds, frames["flowkit"], engine = run_flowkit(videos_dir, tmp / "store.h5", size, args.workers,
                                                             args.device)
            runs["flowkit"].append(seconds)
        result = {"benchmark": "extract_throughput", "videos": len(videos), "frames_per_video": args.frames,
                  "size": list(size), "workers": args.workers, "device": args.device, "flowkit_engine": engine,
                  "tvl1_params": "OpenCV defaults", "repeats": max(args.repeats, 1),
                  "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "gpu": _gpu_name()}}
        for name, output in (("flowkit", tmp / "store.h5"), ("rawframes", tmp / "rawframes")):
            seconds = statistics.median(runs[name])
            result[name] = {"seconds": round(seconds, 2), "videos_per_s": round(len(videos) / seconds, 3),
                            "frames_per_s": round(frames[name] / seconds, 2), "frames": frames[name],
                            **disk_usage(output)}
        flowkit, rawframes = result["flowkit"], result["rawframes"]
        result["flowkit_over_rawframes_frames_per_s"] = round(flowkit["frames_per_s"] / rawframes["frames_per_s"], 3)
        result["flowkit_over_rawframes_bytes"] = round(flowkit["bytes"] / rawframes["bytes"], 3)
    print(json.dumps(result))
    return result


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
