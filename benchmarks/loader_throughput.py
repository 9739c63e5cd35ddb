"""TSN training-loader throughput: a flowkit store vs the equivalent rawframe JPEG folders.

    python -m benchmarks.loader_throughput [--videos 32] [--frames 48] [--workers 2]

Generates videos of smooth moving textures at 340x256 with smooth flow, and writes them as
stores (RGB JPEG; flow as zstd, flowkit's default, as PNG, and as JPEG, dense_flow's codec) and as rawframe
folders (img_00001.jpg, flow_x_00001.jpg, flow_y_00001.jpg per video: the JPEG store exported
with flowkit.rawframes, so the very same JPEG bytes as the stores). Then, in the same process and with the
same workers, batch size, sampling (3 segments) and augmentation (multi-scale corner crop,
flip, resize to 224), it times TSNDataset over each source for the rgb and flow modalities,
alternating sources over rounds and reporting the median, each run after one untimed epoch:
warm (files in the page cache, several epochs a run) and cold (one epoch right after evicting that
source's own files from the page cache with posix_fadvise; nothing else is evicted). Only the frame source differs
(tsn.data.rawframes.RawFramesSource reads one file per record with cv2.imread, like
tsn-pytorch / mmaction2). Prints one JSON line: clips/s per modality and source, warm and cold,
store/rawframes ratios, files and bytes on disk.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from flowkit.quantize import DEFAULT_BOUND
from flowkit.sizes import TSN_SIZE

WIDTH, HEIGHT = TSN_SIZE


def _smooth_field(rng, shape_hw, cells: int, channels: int) -> np.ndarray:
    import cv2

    h, w = shape_hw
    coarse = rng.normal(0, 1, (max(2, h // cells), max(2, w // cells), channels)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)


def synth_video(rng, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """One video: rgb (T, 256, 340, 3) uint8, a smooth texture moving at a random velocity;
    flow (T-1, 2, 256, 340) float32 pixels, that velocity plus a smooth field."""
    import cv2

    vx, vy = rng.uniform(-4, 4, 2)
    margin = int(math.ceil(frames * max(abs(vx), abs(vy)))) + 4
    texture = _smooth_field(rng, (HEIGHT + 2 * margin, WIDTH + 2 * margin), 12, 3) * 50 + 128
    texture = np.clip(texture, 0, 255).astype(np.uint8)
    rgb = np.empty((frames, HEIGHT, WIDTH, 3), np.uint8)
    for t in range(frames):
        shift = np.float32([[1, 0, margin - t * vx], [0, 1, margin - t * vy]])
        rgb[t] = cv2.warpAffine(texture, shift, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    flow = np.empty((frames - 1, 2, HEIGHT, WIDTH), np.float32)
    for t in range(frames - 1):
        field = np.moveaxis(_smooth_field(rng, (HEIGHT, WIDTH), 32, 2), -1, 0)
        flow[t] = field * 2 + np.array([vx, vy]).reshape(2, 1, 1)
    return rgb, flow


def build_sources(root: Path, videos: int, frames: int, seed: int) -> dict:
    """Write the two stores under root and export the JPEG-flow one as rawframe folders (its
    JPEG bytes copied unchanged, flowkit.rawframes.export_rawframes); returns their paths."""
    from tqdm import tqdm

    from flowkit.rawframes import export_rawframes
    from flowkit.store import StoreWriter, VideoRecord
    from flowkit.store.encode import encode_streams
    from flowkit.store.format import SPLIT_TRAIN

    rng = np.random.default_rng(seed)
    # The default store (zstd flow), and the same frames with PNG and with JPEG flow.
    codecs = {
        "store": {"rgb": "jpeg", "flow_x": "zstd", "flow_y": "zstd"},
        "store_png_flow": {"rgb": "jpeg", "flow_x": "png", "flow_y": "png"},
        "store_jpeg_flow": {"rgb": "jpeg", "flow_x": "jpeg", "flow_y": "jpeg"},
    }
    attrs = {"size": [WIDTH, HEIGHT], "bound": DEFAULT_BOUND, "algo": "synthetic", "step": 1}
    paths = {name: root / f"{name}.h5" for name in codecs} | {"rawframes": root / "rawframes"}
    names = []
    writers = {name: StoreWriter(paths[name], codec, attrs) for name, codec in codecs.items()}
    try:
        for i in tqdm(range(videos), desc="writing sources", file=sys.stderr, leave=False):
            rgb, flow = synth_video(rng, frames)
            rgb_records = encode_streams({"rgb": "jpeg"}, rgb=rgb)  # identical RGB bytes in every source
            name, label = f"class{i % 4}/video{i:03d}", i % 4
            for store, writer in writers.items():
                flow_codecs = {s: c for s, c in codecs[store].items() if s != "rgb"}
                writer.add_video(VideoRecord(name=name, label=label, num_frames=frames),
                                 encode_streams(flow_codecs, flow=flow) | rgb_records)
            names.append(name)
        for writer in writers.values():
            writer.set_classes([f"class{c}" for c in range(4)])
            writer.set_split(1, {name: SPLIT_TRAIN for name in names})
            writer.close()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    export_rawframes(paths["store_jpeg_flow"], paths["rawframes"])
    return paths


def disk_usage(path: Path) -> dict:
    """Files and bytes (apparent size and allocated blocks) under path (a file or a folder)."""
    stats = [p.stat() for p in _files(path)]
    return {"files": len(stats), "bytes": sum(s.st_size for s in stats),
            "allocated_bytes": sum(s.st_blocks * 512 for s in stats)}


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]


def evict_from_page_cache(path: Path) -> None:
    """Drop the page-cache pages of the files at `path` (a file or a folder), and only those,
    with posix_fadvise(DONTNEED), so the next read comes from the disk."""
    for file in _files(path):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def time_loader(dataset, batch_size: int, workers: int, epochs: int, seed: int, before=None) -> float:
    """Clips per second over `epochs` whole epochs, after one untimed epoch that starts the
    (persistent) workers. `before` runs between the two (e.g. evicting the source's files)."""
    from tsn.data import build_loader

    loader = build_loader(dataset, batch_size=batch_size, workers=workers, seed=seed, pin_memory=False)
    for _ in loader:
        pass
    if before is not None:
        before()
    clips, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch, _labels in loader:
            clips += len(batch)
    elapsed = time.perf_counter() - start
    del loader
    return clips / elapsed


def summarize(runs: dict[str, list[float]]) -> dict:
    """Median clips/s per source and each store's ratio to rawframes."""
    medians = {name: statistics.median(r) for name, r in runs.items()}
    summary = {f"{name}_clips_per_s": round(m, 2) for name, m in medians.items()}
    for name in medians:
        if name.startswith("store"):
            summary[f"{name}_over_rawframes"] = round(medians[name] / medians["rawframes"], 3)
    return summary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=32, help="videos to generate")
    parser.add_argument("--frames", type=int, default=48, help="frames per video")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (same for every source)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per batch")
    parser.add_argument("--segments", type=int, default=3, help="TSN segments per clip")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per warm run (cold runs time one)")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per source (median reported)")
    parser.add_argument("--seed", type=int, default=0, help="data and loader seed")
    parser.add_argument("--keep", type=Path, default=None, help="write the data here and keep it (default: a temp dir)")
    args = parser.parse_args(argv)

    import torch

    from tsn.data import RawFramesSource, TSNDataset

    torch.set_num_threads(1)  # the workers do the work; keep the main process from competing
    with tempfile.TemporaryDirectory(prefix="loader_bench_") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        paths = build_sources(root, args.videos, args.frames, args.seed)
        folder = paths["rawframes"]
        rawframes = RawFramesSource.from_list_files(
            folder, folder / "rawframes_train_split_1.txt", folder / "rawframes_val_split_1.txt", bound=DEFAULT_BOUND
        )
        stores = ("store", "store_png_flow", "store_jpeg_flow")
        sources = {name: paths[name] for name in stores} | {"rawframes": rawframes}
        on_disk = {name: paths[name] for name in stores} | {"rawframes": folder}
        rates = {"warm": {}, "cold": {}}
        for modality in ("rgb", "flow"):
            # RGB bytes are identical in both stores: time one of them for rgb.
            names = ["store", "rawframes"] if modality == "rgb" else [*stores, "rawframes"]
            for cache, epochs in (("warm", args.epochs), ("cold", 1)):
                runs = {name: [] for name in names}
                for _ in range(args.rounds):
                    for name in names:
                        dataset = TSNDataset(sources[name], subset="train", modality=modality,
                                             segments=args.segments, seed=args.seed)
                        evict = (lambda path=on_disk[name]: evict_from_page_cache(path)) if cache == "cold" else None
                        runs[name].append(time_loader(dataset, args.batch_size, args.workers, epochs, args.seed, evict))
                rates[cache][modality] = summarize(runs)
        disk = {name: disk_usage(path) for name, path in on_disk.items()}
    result = {
        "benchmark": "loader_throughput",
        "videos": args.videos,
        "frames": args.frames,
        "frame_size": [WIDTH, HEIGHT],
        "workers": args.workers,
        "batch_size": args.batch_size,
        "segments": args.segments,
        "input_size": 224,
        "rounds": args.rounds,
        "epochs_per_round": args.epochs,
        "cpus": len(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "clips_per_s": rates["warm"],
        "cold_cache_clips_per_s": rates["cold"],
        "disk": disk,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
