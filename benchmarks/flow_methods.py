"""Which flow is worth its cost: each flow method extracted, measured and used to train the temporal
stream (and its late fusion with RGB) with one recipe and the same seeds (docs/results.md).

    python -m benchmarks.flow_methods --videos DIR --labels DIR [--workdir flow_methods]
        [--methods tvl1,tvl1-warm,tvl1-fast,farneback,raft,learned-flow] [--seeds 0,1,2] [--epochs 20]
        [--size 128x96] [--tvl1 demo|opencv] [--raft-weights torchvision|FILE] [--raft-model small]
        [--device cpu|cuda] [--workers 0] [--arch tiny] [--input-size 64] [--pretrained FILE]
    python -m benchmarks.flow_methods --synth kind-motion|motion [...]   # generate the videos first

Methods: tvl1 (flowkit's TV-L1), tvl1-warm (--warm-start), tvl1-fast (--fast), tvl1-warm-fast,
farneback, raft (torchvision's RAFT: rows only with --raft-weights; without them the row says so)
and learned-flow (tsn's --modality learned-flow: TV-L1 layers trained on the RGB frames, no stored
flow). Every method but learned-flow is extracted into its own store (RGB, flow; the RGB stream is
trained once per seed from the first store); then, per seed, a flow stream is trained and tested on
each store, and fused with the RGB stream (the paper's weights, rgb 1 : flow 1.5).

Columns: pairs/s of the extraction on this machine (decode, flow, quantize, encode; `--workers`
workers, 0 = one thread, in this process) in wall-clock and in this process's CPU seconds (less
sensitive to a busy machine; with workers > 0 and Ray the work is elsewhere), flow bytes per stored
frame (x and y), EPE in px on sequences of known flow (flowkit.flow.synthetic.synthetic_sequence:
the four motions, 2 px per frame, at the videos' size, each method's flow function with its
chaining), the fraction of quantized flow bytes that differ from the tvl1 store's, TV-L1 iterations
per pair on those sequences, and top-1 (%) of the flow stream and of rgb + flow: mean and sample
standard deviation over the seeds.

Each step's output under --workdir is reused when present (rerun to finish an interrupted study).
Writes workdir/results.json and workdir/results.md; prints the table on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# method name -> extraction settings (ContentOptions fields); learned-flow has none (no stored flow).
METHODS: dict[str, dict] = {
    "tvl1": {"algo": "tvl1"},
    "tvl1-warm": {"algo": "tvl1", "warm_start": True},
    "tvl1-fast": {"algo": "tvl1", "fast": True},
    "tvl1-warm-fast": {"algo": "tvl1", "warm_start": True, "fast": True},
    "farneback": {"algo": "farneback"},
    "raft": {"algo": "raft"},
    "learned-flow": {},
}
DEFAULT_METHODS = ("tvl1", "tvl1-warm", "tvl1-fast", "farneback", "raft", "learned-flow")
# Datasets --synth makes: the demo's (kind-motion, camera pan) and motion-only classes.
SYNTH: dict[str, dict[str, Any]] = {
    "kind-motion": dict(family="kind-motion", classes=6, videos_per_class=48, frames=16, camera_motion="pan"),
    "motion": dict(family="motion", classes=6, videos_per_class=24, frames=16, camera_motion="none"),
}
EPE_MOTIONS = ("translation", "rotation", "zoom", "nonrigid")
EPE_FRAMES = 8
EPE_MAGNITUDE = 2.0  # px per frame


@dataclass
class StudyConfig:
    """What a study runs; sizes in pixels (width, height)."""

    workdir: Path
    videos: Path
    labels: Path
    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 20
    size: tuple[int, int] = (128, 96)
    tvl1_params: dict | None = None  # None: the demo's (tsn.demo.DEMO_FLOW_PARAMS)
    raft_model: str = "small"
    raft_weights: str | None = None
    device: str = "cpu"
    workers: int = 0
    input_size: int = 64
    test_segments: int = 9
    arch: str = "tiny"
    pretrained: str | None = None  # ImageNet weights file of the arch (tsn train --pretrained)
    epe_frames: int = EPE_FRAMES


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def flow_params(method: str, config: StudyConfig) -> dict:
    """The flow parameters a method extracts with."""
    from tsn.demo import DEMO_FLOW_PARAMS

    algo = METHODS[method]["algo"]
    if algo == "tvl1":
        return dict(DEMO_FLOW_PARAMS if config.tvl1_params is None else config.tvl1_params)
    if algo == "raft":
        return {"model": config.raft_model, "weights": config.raft_weights}
    return {}


def extract_method(method: str, config: StudyConfig) -> dict:
    """Extract the videos with `method` into workdir/stores/<method>.h5 (once); returns
    {'store', 'seconds', 'cpu_seconds' (this process's: all of the work with workers=0), 'pairs',
    'pairs_per_s', 'pairs_per_cpu_s'}."""
    from flowkit.extract import ContentOptions, RunOptions, extract

    store = config.workdir / "stores" / f"{method}.h5"
    record = store.with_suffix(".json")
    if store.exists() and record.exists():
        return json.loads(record.read_text())
    store.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in METHODS[method].items()}
    content = ContentOptions(size=config.size, flow_params=flow_params(method, config), **settings)
    # On a GPU, warm start and fast solve in the worker (flowkit.extract.options.check_flow_schedule).
    in_worker = config.device == "cuda" and (content.warm_start or content.fast)
    run = RunOptions(device=config.device, workers=0 if in_worker else config.workers, labels=str(config.labels),
                     progress=False, overwrite=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = extract([config.videos], store, content, run)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if summary.videos_failed:
        raise RuntimeError(f"{method}: {summary.videos_failed} videos failed: {summary.failures[:3]}")
    pairs = summary.frames - summary.videos_ok
    result = {"store": str(store), "seconds": seconds, "cpu_seconds": cpu_seconds, "pairs": pairs,
              "pairs_per_s": pairs / seconds, "pairs_per_cpu_s": pairs / cpu_seconds}
    record.write_text(json.dumps(result))
    return result


def store_bytes(store_path: str | Path, reference: str | Path | None = None) -> dict:
    """{'bytes_per_frame': encoded flow x + y bytes per stored flow field, 'differing': fraction of
    quantized flow values (x and y, uint8) that differ from `reference`'s store (None without one)}."""
    from flowkit.store import FlowStore
    from flowkit.store import format as fmt

    total, fields, differing, values = 0, 0, 0, 0
    with FlowStore(store_path) as store:
        other = FlowStore(reference) if reference is not None else None
        try:
            for index, video in enumerate(store.videos):
                if video.status != fmt.STATUS_OK:
                    continue
                indices = range(video.num_frames - 1)
                for stream in (fmt.FLOW_X, fmt.FLOW_Y):
                    total += sum(len(r) for r in store.read_encoded(stream, index, indices))
                    if other is not None:
                        mine, theirs = store.read(stream, index, indices), other.read(stream, index, indices)
                        differing += int(np.count_nonzero(mine != theirs))
                        values += mine.size
                fields += len(indices)
        finally:
            if other is not None:
                other.close()
    return {"bytes_per_frame": total / max(fields, 1), "differing": differing / values if values else None}


def ground_truth_error(method: str, config: StudyConfig) -> dict:
    """EPE (px, mean over pairs) and TV-L1 iterations per pair of `method`'s flow function on
    sequences of known flow at the videos' size (EPE_MOTIONS, EPE_FRAMES frames each)."""
    from flowkit.flow.functions import make_flow_fn
    from flowkit.flow.metrics import endpoint_error
    from flowkit.flow.synthetic import synthetic_sequence

    settings = METHODS[method]
    device = config.device if settings["algo"] in ("tvl1", "raft") else "cpu"
    flow_fn = make_flow_fn(settings["algo"], flow_params(method, config), device, False, None,
                           settings.get("warm_start", False), settings.get("fast", False))
    width, height = config.size
    errors, iterations = [], []
    for seed, motion in enumerate(EPE_MOTIONS):
        seq = synthetic_sequence(motion, config.epe_frames, height, width, EPE_MAGNITUDE, seed)
        flow = np.asarray(flow_fn(seq.frames[:-1], seq.frames[1:]))
        errors += [endpoint_error(f, seq.flow, seq.valid) for f in flow]
        counts = getattr(flow_fn, "iterations", None)
        if counts is not None:
            iterations += list(np.asarray(counts))
    return {"epe": float(np.mean(errors)), "iterations": float(np.mean(iterations)) if iterations else None}


def train_stream(store: str | Path, run_dir: Path, modality: str, seed: int, config: StudyConfig) -> Path:
    """Train and test one stream: the tiny net with the demo's settings (tsn.demo.DEMO_TRAINING,
    learned-flow as flow), any other arch with its recipe's (tsn.recipe); returns its score file
    (reused when present)."""
    from tsn.config import TrainConfig
    from tsn.demo import DEMO_TRAINING
    from tsn.evaluate import evaluate_checkpoint
    from tsn.train import train

    scores = run_dir / "scores.npz"
    if scores.exists():
        return scores
    # The tiny net's lr and the rest passed explicitly: recipe changes (tsn.recipe) do not move the study.
    recipe: dict[str, Any] = DEMO_TRAINING["rgb" if modality == "rgb" else "flow"] if config.arch == "tiny" else {}
    train(TrainConfig(store=str(store), output=str(run_dir), modality=modality, arch=config.arch,
                      input_size=config.input_size, epochs=config.epochs, lr_steps=(config.epochs * 2 // 3,),
                      batch_size=8, eval_every=config.epochs, seed=seed, device=config.device, workers=1,
                      progress=False, flip=False, pretrained=config.pretrained, **recipe))
    evaluate_checkpoint(store, run_dir / "checkpoint.pt", scores, test_segments=config.test_segments,
                        device=config.device, workers=1, progress=False)
    return scores


def _top1(path: Path) -> float:
    from tsn.scores import load_scores

    return float(load_scores(path)["top1"])


def run_study(config: StudyConfig) -> dict:
    """Every step (module docstring); returns the results dict written to workdir/results.json."""
    from tsn.fuse import fuse_score_files

    config.workdir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    stores: dict[str, str] = {}
    for method in config.methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        row: dict = {"method": method}
        rows[method] = row
        if method == "learned-flow":
            continue
        if METHODS[method]["algo"] == "raft" and not config.raft_weights:
            row["note"] = "not run: no weights; --raft-weights torchvision or FILE"
            continue
        _say(f"[extract] {method}")
        extracted = extract_method(method, config)
        stores[method] = extracted["store"]
        row["pairs_per_s"], row["pairs_per_cpu_s"] = extracted["pairs_per_s"], extracted["pairs_per_cpu_s"]
        row.update(ground_truth_error(method, config))
    if not stores:
        raise ValueError("no method gives a store to train the RGB stream on; add tvl1 or farneback to --methods")
    reference = stores.get("tvl1")
    for method, store in stores.items():
        row = rows[method]
        row.update(store_bytes(store, reference if method != "tvl1" else None))
    rgb_store = next(iter(stores.values()))
    rgb_top1: list[float] = []
    for seed in config.seeds:  # the same recipe and seeds for every method
        _say(f"[train] rgb, seed {seed}")
        rgb_scores = train_stream(rgb_store, config.workdir / "runs" / f"rgb_seed{seed}", "rgb", seed, config)
        rgb_top1.append(_top1(rgb_scores))
        for method, row in rows.items():
            if method not in stores and method != "learned-flow":
                continue
            _say(f"[train] {method}, seed {seed}")
            modality = "learned-flow" if method == "learned-flow" else "flow"
            run_dir = config.workdir / "runs" / f"{method}_seed{seed}"
            scores = train_stream(stores.get(method, rgb_store), run_dir, modality, seed, config)
            fused = fuse_score_files([rgb_scores, scores])
            row.setdefault("flow_top1", []).append(_top1(scores))
            row.setdefault("fused_top1", []).append(float(fused["metrics"]["top1"]))
    results = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(config).items()},
               "rgb_top1": rgb_top1, "rows": list(rows.values())}
    (config.workdir / "results.json").write_text(json.dumps(results, indent=2))
    (config.workdir / "results.md").write_text(format_table(results) + "\n")
    return results


def _spread(values: list[float] | None) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.fmean(values)
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


TABLE_COLUMNS = ("method", "pairs/s", "pairs/CPU-s", "flow bytes/frame", "EPE px", "bytes ≠ tvl1", "iterations/pair",
                 "flow top-1", "rgb + flow top-1")


def format_table(results: dict) -> str:
    """Markdown table of a study's rows (TABLE_COLUMNS): top-1 in % as mean ± standard deviation over
    the seeds, a last line with the RGB stream alone."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + " --- |" * len(TABLE_COLUMNS)]
    for row in results["rows"]:
        differing = row.get("differing")
        cells = [row["method"] + (f" ({row['note']})" if row.get("note") else ""),
                 _number(row.get("pairs_per_s"), 1), _number(row.get("pairs_per_cpu_s"), 1),
                 _number(row.get("bytes_per_frame"), 0),
                 _number(row.get("epe"), 3), "-" if differing is None else f"{100 * differing:.1f} %",
                 _number(row.get("iterations"), 0), _spread(row.get("flow_top1")), _spread(row.get("fused_top1"))]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| (rgb alone) |" + " |" * (len(TABLE_COLUMNS) - 3) + f" {_spread(results['rgb_top1'])} | |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    import torch

    from flowkit.sizes import parse_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--videos", type=Path, help="folder of videos (with --labels)")
    source.add_argument("--synth", choices=tuple(SYNTH), help="generate this dataset (flowkit.synth) first")
    parser.add_argument("--labels", type=Path, default=None, help="labels source for --videos (flowkit extract's)")
    parser.add_argument("--workdir", type=Path, default=Path("flow_methods"))
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), type=lambda t: tuple(t.split(",")))
    parser.add_argument("--seeds", default="0,1,2", type=lambda t: tuple(int(s) for s in t.split(",") if s),
                        help="training seeds; '' measures the flows only (no training)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--size", default="128x96", type=parse_size, help="frames are resized to WIDTHxHEIGHT")
    parser.add_argument("--videos-per-class", type=int, default=None, help="--synth: [default: the dataset's]")
    parser.add_argument("--tvl1", choices=("demo", "opencv"), default="demo",
                        help="TV-L1 settings: the demo's (3 scales, 2 warps, 10x2 iterations) or OpenCV's defaults")
    parser.add_argument("--raft-model", choices=("small", "large"), default="small")
    parser.add_argument("--raft-weights", default=None, help="torchvision (its cache; may download) or a file")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--arch", default="tiny", help="backbone of every stream (tsn train --arch)")
    parser.add_argument("--input-size", type=int, default=64, help="crop side in pixels (tsn train --input-size)")
    parser.add_argument("--pretrained", default=None, help="ImageNet weights file of --arch (tsn train --pretrained)")
    parser.add_argument("--workers", type=int, default=0, help="extraction workers (0: one thread, in process)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    videos, labels = args.videos, args.labels
    if args.synth:
        from flowkit.synth import make_dataset

        data = args.workdir / "data"
        spec = dict(SYNTH[args.synth])
        if args.videos_per_class:
            spec["videos_per_class"] = args.videos_per_class
        if not (data / "classInd.txt").exists():
            make_dataset(data, size=args.size, seed=0, progress=False, overwrite=True, **spec)
        videos, labels = data / "videos", data
    elif labels is None:
        parser.error("--videos needs --labels")
    config = StudyConfig(workdir=args.workdir, videos=videos, labels=labels, methods=args.methods, seeds=args.seeds,
                         epochs=args.epochs, size=args.size, tvl1_params=None if args.tvl1 == "demo" else {},
                         raft_model=args.raft_model, raft_weights=args.raft_weights, device=args.device,
                         workers=args.workers, arch=args.arch, input_size=args.input_size,
                         pretrained=args.pretrained)
    started = time.perf_counter()
    results = run_study(config)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    (config.workdir / "results.json").write_text(json.dumps(results, indent=2))
    print(format_table(results))
    return results


if __name__ == "__main__":
    main()
