"""End-to-end extraction against OpenCV's TV-L1 alone on the same frame pairs, in the same run.

    python -m benchmarks.extract_throughput [--job short|long] [--workers N] [--repeats 1]
        [--clips N --frames N --size 340x256] [--rawframes]

Jobs: short = 3 clips x 24 frames, long = 6 clips x 40 frames, at 340x256 (TSN's size), filmed from
real photographs (benchmarks.clips). Timed, alternating when --repeats > 1 (medians reported):

- flowkit: the whole `flowkit extract --cpu VIDEOS -o store.h5` process, as a user runs it (Python
  start-up, imports, decode, resize, TV-L1 with OpenCV's default parameters, quantize, encode, the
  store written), with `workers` CPU workers;
- OpenCV alone: cv2.optflow's DualTVL1 `calc` on the same pairs, frames decoded beforehand and not
  timed: nothing but the flow. Both ways of using `workers` cores are timed, one process with
  `workers` OpenCV threads and a pool of `workers` single-thread processes (one pair per task), and
  the faster one is the baseline;
- with --rawframes, dense_flow's pipeline as well: OpenCV's TV-L1 writing one JPEG per frame and flow
  component, a pool of `workers` processes, one video per task.

Prints one JSON line: seconds and frames/s of each, `flowkit_speedup_vs_opencv` (OpenCV alone's time
/ flowkit's), the EPE between flowkit's stored flow (de-quantized) and OpenCV's, the TV-L1 iterations
per pair, and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from flowkit.cpus import available_cpus

JOBS = {"short": (3, 24), "long": (6, 40)}  # clips, frames per clip
REPO = Path(__file__).resolve().parents[1]


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
        q = quantize_flow(solver.calc(gray[t], gray[t + 1], None), DEFAULT_BOUND)
        cv2.imwrite(str(out / frame_file(FLOW_X, t)), q[..., 0], quality)
        cv2.imwrite(str(out / frame_file(FLOW_Y, t)), q[..., 1], quality)
    return len(frames)


def run_rawframes(videos: list[Path], videos_dir: Path, out_dir: Path, size, workers: int) -> float:
    """Write the rawframes layout for `videos` with a process pool; returns seconds."""
    shutil.rmtree(out_dir, ignore_errors=True)
    tasks = [(str(v), str(out_dir / v.relative_to(videos_dir).with_suffix("")), size) for v in videos]
    started = time.perf_counter()
    with get_context("spawn").Pool(max(workers, 1)) as pool:
        pool.map(_rawframes_video, tasks, chunksize=1)
    return time.perf_counter() - started


def _opencv_pair(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    import cv2

    cv2.setNumThreads(1)
    return cv2.optflow.DualTVL1OpticalFlow_create().calc(pair[0], pair[1], None)


def opencv_threads(pairs, workers: int) -> tuple[float, list[np.ndarray]]:
    """OpenCV's TV-L1 on every pair in this process with `workers` OpenCV threads: (seconds, flows)."""
    import cv2

    cv2.setNumThreads(workers)
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    started = time.perf_counter()
    flows = [solver.calc(a, b, None) for a, b in pairs]
    return time.perf_counter() - started, flows


def opencv_processes(pairs, workers: int) -> float:
    """OpenCV's TV-L1 on every pair in `workers` single-thread processes, one pair per task; seconds
    (the pool is started and warmed up before the clock starts)."""
    with get_context("spawn").Pool(workers) as pool:
        pool.map(_opencv_pair, pairs[:workers], chunksize=1)  # start-up and imports, untimed
        started = time.perf_counter()
        pool.map(_opencv_pair, pairs, chunksize=1)
        return time.perf_counter() - started


def run_flowkit(videos_dir: Path, output: Path, size, workers: int) -> float:
    """The whole `flowkit extract --cpu` process; returns seconds."""
    command = [sys.executable, "-m", "cli.flowkit_app", "extract", "--cpu", str(videos_dir),
               "-o", str(output), "--overwrite", "--workers", str(workers), "--size", f"{size[0]}x{size[1]}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=output.parent, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"flowkit extract failed: {done.stderr.strip()[-2000:]}")
    return seconds


def decode_pairs(videos: list[Path], size) -> list[tuple[np.ndarray, np.ndarray]]:
    """Consecutive gray frame pairs of every video, decoded and resized as flowkit extract does."""
    from flowkit.color import rgb_to_gray
    from flowkit.video import read_frames

    pairs = []
    for video in videos:
        gray = rgb_to_gray(read_frames(str(video), size=size))
        pairs += list(zip(gray[:-1], gray[1:]))
    return pairs


def store_flows(store_path: Path) -> list[np.ndarray]:
    """Every pair's de-quantized flow from a store, (H, W, 2) each, videos in name order."""
    from flowkit.store import FlowStore

    flows = []
    with FlowStore(store_path) as store:
        for v in range(len(store)):
            n = store.num_records(v, "flow_x")
            flows += list(store.read_flow(v, list(range(n))).transpose(0, 2, 3, 1))
    return flows


def iterations_per_pair(pairs) -> dict:
    """TV-L1 iterations the engine runs per pair (all scales and warps) on these pairs."""
    import torch

    from flowkit.flow import TVL1Engine

    torch.set_num_threads(1)
    engine = TVL1Engine()
    counts = []
    for a, b in pairs:
        engine(a, b)
        counts.append(int(engine.iterations[0]))
    return {"mean": round(float(np.mean(counts)), 1), "min": min(counts), "max": max(counts)}


def disk_usage(path: Path) -> dict:
    """Apparent bytes, allocated bytes (st_blocks) and file count of a file or folder tree."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    stats = [p.stat() for p in files]
    return {"files": len(files), "bytes": sum(s.st_size for s in stats),
            "allocated_bytes": sum(s.st_blocks * 512 for s in stats)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--job", choices=sorted(JOBS), default="short", help="short: 3 clips x 24 frames; long: 6 x 40")
    parser.add_argument("--clips", type=int, default=None, help="override the job's clip count")
    parser.add_argument("--frames", type=int, default=None, help="override the job's frames per clip")
    parser.add_argument("--size", default="340x256", help="clip and extraction size, WIDTHxHEIGHT")
    parser.add_argument("--workers", type=int, default=available_cpus())
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rawframes", action="store_true", help="also time dense_flow's JPEG-per-frame pipeline")
    args = parser.parse_args(argv)
    from benchmarks.clips import make_clips
    from flowkit.sizes import parse_size
    from flowkit.flow.metrics import endpoint_error

    size = parse_size(args.size)
    clips, frames = JOBS[args.job]
    clips, frames = args.clips or clips, args.frames or frames
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="flowkit-extract-bench-") as tmp:
        tmp = Path(tmp)
        videos_dir = tmp / "videos"
        content = make_clips(videos_dir, clips, frames, size)
        videos = sorted(videos_dir.rglob("*.mp4"))
        pairs = decode_pairs(videos, size)
        print(f"extract_throughput: {len(videos)} {content} clips x {frames} frames, {len(pairs)} pairs, "
              f"{args.workers} workers", file=sys.stderr)
        runs: dict[str, list[float]] = {"flowkit": [], "opencv_threads": [], "opencv_processes": [], "rawframes": []}
        for _ in range(max(args.repeats, 1)):
            seconds, opencv_flows = opencv_threads(pairs, args.workers)
            runs["opencv_threads"].append(seconds)
            if args.workers > 1:
                runs["opencv_processes"].append(opencv_processes(pairs, args.workers))
            runs["flowkit"].append(run_flowkit(videos_dir, tmp / "store.h5", size, args.workers))
            if args.rawframes:
                runs["rawframes"].append(run_rawframes(videos, videos_dir, tmp / "rawframes", size, args.workers))
            print("  " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items() if v), file=sys.stderr)
        seconds = {name: statistics.median(times) for name, times in runs.items() if times}
        opencv_best = min(seconds.get("opencv_threads", np.inf), seconds.get("opencv_processes", np.inf))
        stored = store_flows(tmp / "store.h5")
        epe = float(np.mean([endpoint_error(a.transpose(2, 0, 1), b.transpose(2, 0, 1))
                             for a, b in zip(stored, opencv_flows)]))
        frame_count = len(pairs) + len(videos)
        result = {
            "benchmark": "extract_throughput", "job": args.job, "content": content, "clips": len(videos),
            "frames_per_clip": frames, "pairs": len(pairs), "size": list(size), "workers": args.workers,
            "repeats": max(args.repeats, 1), "tvl1_params": "OpenCV defaults",
            "seconds": {name: round(s, 2) for name, s in seconds.items()},
            "frames_per_s": {name: round(frame_count / s, 2) for name, s in seconds.items()},
            "flowkit_speedup_vs_opencv": round(opencv_best / seconds["flowkit"], 2),
            "opencv_best": "threads" if seconds["opencv_threads"] <= opencv_best else "processes",
            "epe_stored_vs_opencv_px": round(epe, 4),
            "iterations_per_pair": iterations_per_pair(pairs),
            "store": disk_usage(tmp / "store.h5"),
            "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
            "machine": {"cpus": available_cpus(), "cpu": platform.processor() or platform.machine(),
                        "python": platform.python_version()},
        }
        if args.rawframes:
            result["rawframes"] = disk_usage(tmp / "rawframes")
            result["flowkit_speedup_vs_rawframes"] = round(seconds["rawframes"] / seconds["flowkit"], 2)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
