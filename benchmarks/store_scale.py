"""A Kinetics-400-sized sharded store: how long it takes to build, to summarize, to open for TSN, and
to read a random clip.

    python -m benchmarks.store_scale [--videos 240000] [--frames 8] [--size 16x16] [--shard-size 10000]

The store is written directly through the writer API (flowkit.store.StoreWriter, one shard per task
on --workers processes, then flowkit.store.shards.write_index), not by running flow on 240,000
videos: every video holds real encoded records (RGB JPEG, zstd flow planes) of tiny frames, drawn
from a pool of distinct encoded videos, under Kinetics-style names (`<class>/<youtube id>_<start>_<end>`)
in 400 classes with a train/test split. Then, each in a fresh Python process:
- `flowkit info` (the command line, start-up included),
- opening the store for TSN: `tsn.data.TSNDataset(path, split=1, subset="train", modality="flow")`,
  its time and the process's peak resident memory, against the same process before opening,
- random clips: TSNDataset items of random videos (each a 3-segment flow clip, decoded and
  cropped), and the raw encoded reads of a clip, latency percentiles.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from flowkit.cpus import available_cpus
from flowkit.quantize import DEFAULT_BOUND

CLASSES = 400
POOL = 64  # distinct encoded videos the store's videos are drawn from
REPO = Path(__file__).resolve().parents[1]
_ID_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))


def _names(videos: int, seed: int) -> tuple[list[str], list[int]]:
    """Kinetics-style names `class_NNN/<11-char id>_<start:06d>_<end:06d>`, sorted, and their labels."""
    rng = np.random.default_rng(seed)
    ids = ["".join(row) for row in _ID_CHARS[rng.integers(0, len(_ID_CHARS), (videos, 11))]]
    starts = rng.integers(0, 300, videos)
    labels = rng.integers(0, CLASSES, videos)
    names = [f"class_{label:03d}/{vid}_{start:06d}_{start + 10:06d}" for vid, start, label in zip(ids, starts, labels)]
    order = np.argsort(names, kind="stable")
    return [names[i] for i in order], [int(labels[i]) for i in order]


def _pool(frames: int, size: tuple[int, int], seed: int) -> list[dict]:
    """POOL videos' encoded records {stream: list of 1-D uint8 arrays}: random smooth frames, flow."""
    import cv2

    from flowkit.store.encode import encode_streams
    from flowkit.store.format import DEFAULT_CODEC

    width, height = size
    rng = np.random.default_rng(seed)
    codecs = {s: DEFAULT_CODEC[s] for s in ("rgb", "flow_x", "flow_y")}
    pool = []
    for _ in range(POOL):
        coarse = rng.integers(0, 256, (frames, 4, 4, 3)).astype(np.uint8)
        rgb = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in coarse])
        flow = rng.normal(0, 2, (frames - 1, 2, height, width)).astype(np.float32)
        pool.append(encode_streams(codecs, rgb=rgb, flow=flow, bound=DEFAULT_BOUND))
    return pool


def _write_shard(job: tuple) -> tuple:
    """Write one shard (a StoreWriter); returns (its ShardEntry, its records)."""
    from flowkit.store import StoreWriter, VideoRecord
    from flowkit.store.format import DEFAULT_CODEC
    from flowkit.store.shards import ShardEntry

    path, names, frames, size, seed, attrs = job
    pool = _pool(frames, size, seed)
    streams = {s: DEFAULT_CODEC[s] for s in ("rgb", "flow_x", "flow_y")}
    records = []
    with StoreWriter(path, streams, attrs) as writer:
        for k, name in enumerate(names):
            record = VideoRecord(name=name, path=name + ".mp4", num_frames=frames, fps=30.0, orig_width=340,
                                 orig_height=256)
            records.append(writer.add_video(record, pool[k % POOL]))
        entry = ShardEntry(Path(path).name, len(records), writer.totals, writer.sizes)
    return entry, records


def build(index: Path, videos: int, frames: int, size: tuple[int, int], shard_size: int, workers: int,
          seed: int = 0) -> dict:
    """Write the sharded store at `index`; returns {build_s, shards, bytes, index_bytes}."""
    from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN
    from flowkit.store.shards import shard_file_name, write_index

    started = time.perf_counter()
    names, labels = _names(videos, seed)
    attrs = {"size": list(size), "bound": DEFAULT_BOUND, "algo": "synthetic", "step": 1}
    jobs = [(str(index.parent / shard_file_name(index, k)), names[start:start + shard_size], frames, size,
             seed + k, attrs) for k, start in enumerate(range(0, videos, shard_size))]
    if workers == 0:
        shards = [_write_shard(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            shards = list(pool.map(_write_shard, jobs))
    records, shard_of = [], []
    for k, (_, shard_records) in enumerate(shards):
        records += shard_records
        shard_of += [k] * len(shard_records)
    for record, label in zip(records, labels):
        record.label = label
    membership = {name: (SPLIT_TEST if k % 10 == 0 else SPLIT_TRAIN) for k, name in enumerate(names)}
    write_index(index, [entry for entry, _ in shards], records, shard_of, {"rgb": "jpeg", "flow_x": "zstd",
                "flow_y": "zstd"}, attrs, [f"class_{c:03d}" for c in range(CLASSES)], {1: membership})
    files = [index] + [index.parent / entry.file for entry, _ in shards]
    return {"build_s": round(time.perf_counter() - started, 2), "shards": len(shards),
            "bytes": sum(f.stat().st_size for f in files), "index_bytes": index.stat().st_size}


_OPEN_AND_READ = r"""
import json, resource, sys, time
import numpy as np
path, clips, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
from tsn.data import TSNDataset, TestCrops
imported_s = time.perf_counter() - t0
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
dataset = TSNDataset(path, split=1, subset="train", modality="flow", segments=3, preset=TestCrops(16, 1))
open_s = time.perf_counter() - t0
rss_open = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
rng = np.random.default_rng(seed)
items, raw = [], []
for i in rng.integers(0, len(dataset), clips):
    t = time.perf_counter(); dataset[int(i)]; items.append(time.perf_counter() - t)
from flowkit.store import open_store
t0 = time.perf_counter()
source = open_store(path)
store_open_s = time.perf_counter() - t0
for v in rng.integers(0, len(source.videos), clips):
    n = source.num_records(int(v), "flow_x")
    t = time.perf_counter()
    for s in ("flow_x", "flow_y"):
        source.read_encoded(s, int(v), range(n))
    raw.append(time.perf_counter() - t)
rss_end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
ms = lambda xs, q: round(float(np.percentile(np.array(xs) * 1000, q)), 3)
print(json.dumps({"train_videos": len(dataset), "import_s": round(imported_s, 2), "open_s": round(open_s, 2),
                  "store_open_s": round(store_open_s, 2),
                  "rss_before_open_bytes": rss_before, "rss_after_open_bytes": rss_open, "rss_end_bytes": rss_end,
                  "clip_ms_p50": ms(items, 50), "clip_ms_p95": ms(items, 95), "clip_ms_max": ms(items, 100),
                  "raw_clip_ms_p50": ms(raw, 50), "raw_clip_ms_p95": ms(raw, 95)}))
"""


def _python(*args: str, timeout: float = 600) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of a fresh Python process running args, with this checkout
    first on the path. CPU time is what a busy shared machine does not inflate."""
    import resource

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def measure(index: Path, clips: int, seed: int = 0) -> dict:
    """flowkit info's wall time (a fresh process), then opening for TSN and random clip reads."""
    info_s, info_cpu_s, out = _python("-c", "from cli.flowkit_app import main; main()", "info", "--json", str(index))
    assert json.loads(out)["videos"] > 0
    _, _, out = _python("-c", _OPEN_AND_READ, str(index), str(clips), str(seed))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"info_s": round(info_s, 2), "info_cpu_s": round(info_cpu_s, 2), **json.loads(out.strip().splitlines()[-1]),
            "load_average": load}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=240_000, help="videos in the store (Kinetics-400: 240,000)")
    parser.add_argument("--frames", type=int, default=8, help="frames per video")
    parser.add_argument("--size", default="16x16", help="frame size WIDTHxHEIGHT")
    parser.add_argument("--shard-size", type=int, default=10_000, help="videos per shard")
    parser.add_argument("--workers", type=int, default=min(available_cpus(), 8),
                        help="processes writing shards (0: this one)")
    parser.add_argument("--clips", type=int, default=200, help="random clips read")
    parser.add_argument("--dir", default=None, help="folder for the store (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="store_scale_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        index = folder / "k400.h5"
        built = build(index, args.videos, args.frames, (width, height), args.shard_size, args.workers)
        result = {"videos": args.videos, "frames": args.frames, "size": [width, height],
                  "shard_size": args.shard_size, "workers": args.workers, **built, **measure(index, args.clips)}
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
