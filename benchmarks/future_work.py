"""Evidence for the two future-work items of the TSN paper, on data we generate (docs/results.md).

    python -m benchmarks.future_work order [--workdir fw_order] [--seeds 0,1,2] [--consensus avg,temporal]
                                           [--epochs 40] [--test-segments 25]
    python -m benchmarks.future_work learned-flow [--workdir fw_motion] [--seeds 0] [--epochs 20]
                                                  [--input-size 64] [--modalities flow,learned-flow]

order: `flowkit synth --family order` (3 class pairs whose videos are the same frames in opposite
order; 24 videos per class, 16 frames of 64x48), an RGB store (flowkit extract; its Farneback flow
is not used), then for each seed and consensus a single-frame RGB TSN (tiny net, 48 px crops, 3
segments) trained and tested with 25 snippets. Reported per run: top-1 over the 6 classes, pair
accuracy (the right pair of classes) and order accuracy (within the true pair, the true class scores
higher: 50 % is chance; avg pools the snippets as a set, so it cannot beat it).

learned-flow: the demo's motion classes without camera motion (6 classes, 24 videos of 24 frames at
160x120), extracted with the demo's TV-L1 settings (the stored flow), then for each seed a temporal
stream trained from the stored flow and one with --modality learned-flow (TV-L1 layers on the RGB
frames, default budget), same epochs, crops and schedule, both tested with 9 snippets. Reported:
top-1, training seconds, and the extraction seconds that only the stored-flow stream needs.

Each run's folder under --workdir is reused when its checkpoint and score file exist (rerun to
finish an interrupted benchmark). Prints one JSON line on stdout; progress and a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ORDER_DATA = dict(family="order", classes=6, videos_per_class=24, frames=16, size=(64, 48))
MOTION_DATA = dict(family="motion", classes=6, videos_per_class=24, frames=24, size=(160, 120))


def pair_and_order_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """For classes in pairs (2k, 2k + 1): the fraction of videos whose top class is in the true pair,
    and the fraction whose true class outscores its partner (chance 0.5)."""
    pair = labels // 2
    right_pair = scores.argmax(1) // 2 == pair
    own = scores[np.arange(len(labels)), labels]
    partner = scores[np.arange(len(labels)), labels ^ 1]
    return float(right_pair.mean()), float((own > partner).mean())


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def prepare_store(workdir: Path, data: dict, flow: dict) -> tuple[Path, float]:
    """Generate the dataset and extract it into workdir/store.h5 (once). Returns (store, extraction s)."""
    from flowkit.extract import ContentOptions, RunOptions, extract
    from flowkit.synth import make_dataset

    store, timing = workdir / "store.h5", workdir / "extract_seconds.json"
    if store.exists() and timing.exists():
        return store, json.loads(timing.read_text())["seconds"]
    make_dataset(workdir / "data", seed=0, progress=False, overwrite=True, **data)
    started = time.perf_counter()
    extract([workdir / "data" / "videos"], store, ContentOptions(size=data["size"], **flow),
            RunOptions(workers=0, labels=str(workdir / "data"), progress=False, overwrite=True))
    seconds = time.perf_counter() - started
    timing.write_text(json.dumps({"seconds": seconds}))
    return store, seconds


def train_and_test(store: Path, run_dir: Path, test_segments: int, **settings) -> dict:
    """Train one stream (TrainConfig settings) into run_dir, test it; returns metrics and seconds."""
    from tsn.evaluate import evaluate_checkpoint
    from tsn.scores import load_scores
    from tsn.config import TrainConfig
    from tsn.train import train

    scores_path, timing = run_dir / "scores.npz", run_dir / "train_seconds.json"
    if not (scores_path.exists() and timing.exists()):
        started = time.perf_counter()
        train(TrainConfig(store=str(store), output=str(run_dir), progress=False, workers=1, **settings))
        timing.write_text(json.dumps({"seconds": time.perf_counter() - started}))
        evaluate_checkpoint(store, run_dir / "checkpoint.pt", scores_path, test_segments=test_segments, workers=1,
                            progress=False)
    scores = load_scores(scores_path)
    return {"top1": float(scores["top1"]), "scores": scores["scores"], "labels": scores["labels"],
            "train_seconds": json.loads(timing.read_text())["seconds"]}


def order_experiment(args) -> dict:
    workdir = Path(args.workdir or "fw_order")
    store, _ = prepare_store(workdir, ORDER_DATA, {"algo": "farneback"})
    rows = []
    for seed in args.seeds:
        for consensus in args.consensus:
            result = train_and_test(store, workdir / f"{consensus}_seed{seed}", args.test_segments, modality="rgb",
                                    arch="tiny", input_size=48, consensus=consensus, epochs=args.epochs, lr=0.01,
                                    lr_steps=(args.epochs * 3 // 4,), batch_size=8, eval_every=args.epochs, seed=seed)
            pair, order = pair_and_order_accuracy(result["scores"], result["labels"])
            rows.append({"consensus": consensus, "seed": seed, "top1": round(result["top1"], 4),
                         "pair_accuracy": round(pair, 4), "order_accuracy": round(order, 4),
                         "train_seconds": round(result["train_seconds"], 1)})
            _say(json.dumps(rows[-1]))
    return {"experiment": "order", "data": ORDER_DATA, "epochs": args.epochs, "test_segments": args.test_segments,
            "runs": rows}


def learned_flow_experiment(args) -> dict:
    from tsn.demo import DEMO_FLOW_PARAMS

    workdir = Path(args.workdir or "fw_motion")
    store, extract_seconds = prepare_store(workdir, MOTION_DATA, {"algo": "tvl1", "flow_params": DEMO_FLOW_PARAMS})
    rows = []
    for seed in args.seeds:
        for modality in args.modalities:
            result = train_and_test(store, workdir / f"{modality}_seed{seed}", args.test_segments, modality=modality,
                                    arch="tiny", input_size=args.input_size, epochs=args.epochs, lr=0.02,
                                    lr_steps=(args.epochs * 2 // 3,), batch_size=8, eval_every=args.epochs,
                                    flip=False, seed=seed)
            rows.append({"modality": modality, "seed": seed, "top1": round(result["top1"], 4),
                         "train_seconds": round(result["train_seconds"], 1),
                         "checkpoint": str(workdir / f"{modality}_seed{seed}" / "checkpoint.pt")})
            _say(json.dumps(rows[-1]))
    return {"experiment": "learned-flow", "data": MOTION_DATA, "flow_params": DEMO_FLOW_PARAMS, "epochs": args.epochs,
            "input_size": args.input_size, "test_segments": args.test_segments,
            "extract_seconds": round(extract_seconds, 1), "runs": rows}


def main(argv=None) -> dict:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=("order", "learned-flow"))
    parser.add_argument("--workdir", default=None, help="[default: fw_order / fw_motion]")
    parser.add_argument("--seeds", default="0,1,2", type=lambda t: [int(s) for s in t.split(",")])
    parser.add_argument("--epochs", type=int, default=None, help="[default: order 40, learned-flow 20]")
    parser.add_argument("--test-segments", type=int, default=None, help="[default: order 25, learned-flow 9]")
    parser.add_argument("--consensus", default="avg,temporal", type=lambda t: t.split(","))
    parser.add_argument("--modalities", default="flow,learned-flow", type=lambda t: t.split(","))
    parser.add_argument("--input-size", type=int, default=64, help="learned-flow: crop side, pixels")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    order = args.experiment == "order"
    args.epochs = args.epochs or (40 if order else 20)
    args.test_segments = args.test_segments or (25 if order else 9)
    result = order_experiment(args) if order else learned_flow_experiment(args)
    result["threads"] = args.threads
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
