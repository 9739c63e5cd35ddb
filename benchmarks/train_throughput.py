"""TSN training throughput per device: clips (videos of `segments` snippets) per second.

    python -m benchmarks.train_throughput [--device cpu|cuda] [--iters 3] [--rounds 3] [--workers 1]
                                          [--threads N] [--quick]

Two measurements, both through tsn.train.train_one_epoch (forward, cross-entropy on the
consensus, backward, gradient clipping, SGD step over tsn-pytorch's parameter groups):
- model: synthetic input tensors (no data loading) for several arch / modality / input-size
  cases, fp32 and bf16 autocast alternating on the same model, median of the rounds (the ratio says
  whether autocast pays on this device);
- store: `tsn train` on a tiny synthetic flowkit store (flowkit.testing, 48 training videos
  of 64x48 frames, loader workers included), the tiny arch at 112x112, for rgb and flow: the
  clips/s of the second epoch (the first pays for worker start-up too).
On CPU the cases are small (the tiny arch, resnet18 at 112, BN-Inception at 224 with batch 2);
on CUDA the batch is the reference's per-GPU 32 videos. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

CPU_CASES = [  # (arch, modality, input size, videos per batch)
    ("tiny", "rgb", 112, 8),
    ("tiny", "flow", 112, 8),
    ("resnet18", "flow", 112, 4),
    ("bninception", "rgb", 224, 2),
    ("bninception", "flow", 224, 2),
]
CUDA_CASES = [
    ("resnet18", "rgb", 224, 32),
    ("resnet50", "rgb", 224, 32),
    ("bninception", "rgb", 224, 32),
    ("bninception", "flow", 224, 32),
]
SEGMENTS = 3
CLASSES = 101


def _config(arch: str, modality: str, size: int, batch: int, amp: bool, device: torch.device):
    from tsn.config import TrainConfig, resolve_config

    return resolve_config(TrainConfig(store="synthetic.h5", modality=modality, arch=arch, input_size=size,
                                      batch_size=batch, epochs=1, amp=amp, device=str(device), progress=False,
                                      log_every=10**9))


def time_model(arch: str, modality: str, size: int, batch: int, device: torch.device, iters: int,
               rounds: int) -> list[dict]:
    """Training clips/s on synthetic tensors (same tensors every iteration, no loader), fp32 and
    bf16 autocast alternating over `rounds` rounds of `iters` iterations on one model; the median
    round of each is reported (the machine may be shared: alternating keeps the comparison fair)."""
    from tsn.data import input_channels
    from tsn.models import TSN
    from tsn.train import MetricsLog, build_optimizer, train_one_epoch

    configs = {amp: _config(arch, modality, size, batch, amp, device) for amp in (False, True)}
    model = TSN(CLASSES, modality, input_channels(modality), arch, SEGMENTS).to(device)
    optimizer, _ = build_optimizer(model, configs[False])
    clips = torch.randn(batch, SEGMENTS, input_channels(modality), size, size, device=device)
    labels = torch.randint(0, CLASSES, (batch,), device=device)
    log = MetricsLog(None)
    timings: dict[bool, list[float]] = {False: [], True: []}
    for amp in (False, True):  # warm-up: first-call allocations, oneDNN kernel selection
        train_one_epoch(model, [(clips, labels)] * 2, optimizer, device, 0, configs[amp], log)
    for _ in range(rounds):
        for amp in (False, True):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            train_one_epoch(model, [(clips, labels)] * iters, optimizer, device, 0, configs[amp], log)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            timings[amp].append(time.perf_counter() - start)
    results = []
    for amp, seconds in timings.items():
        median = statistics.median(seconds)
        results.append({"arch": arch, "modality": modality, "input_size": size, "batch": batch, "amp_bf16": amp,
                        "clips_per_s": round(batch * iters / median, 2),
                        "snippets_per_s": round(batch * SEGMENTS * iters / median, 1)})
    return results


def time_store(device: torch.device, workers: int, epochs: int = 2) -> list[dict]:
    """`tsn train` on a tiny store (tiny arch, 112x112): clips/s of the last epoch, data included."""
    from flowkit.testing import held_out_count, make_tiny_store
    from tsn.config import TrainConfig
    from tsn.train import train

    results = []
    with tempfile.TemporaryDirectory() as folder:
        classes, per_class = 4, 16
        store = make_tiny_store(Path(folder) / "tiny.h5", classes=classes, videos_per_class=per_class, frames=16,
                                streams=("rgb", "flow_x", "flow_y"))
        train_videos = classes * (per_class - held_out_count(per_class))
        for modality in ("rgb", "flow"):
            summary = train(TrainConfig(store=str(store), modality=modality, arch="tiny", input_size=112,
                                        batch_size=8, epochs=epochs, workers=workers, device=str(device),
                                        eval_every=10**6, progress=False, output=str(Path(folder) / modality)))
            results.append({"arch": "tiny", "modality": modality, "input_size": 112, "batch": 8, "workers": workers,
                            "train_videos": train_videos,
                            "clips_per_s": round(summary["metrics"]["clips_per_s"], 2)})
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda [default: cuda if available]")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating fp32 / bf16 rounds per case")
    parser.add_argument("--workers", type=int, default=1, help="loader workers for the store measurement")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads for the model cases [default: torch's, all cores]; on a "
                             "machine shared with other jobs 1 gives stable figures")
    parser.add_argument("--quick", action="store_true", help="only the first two cases, no store run")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from tsn.runtime import pick_device

    device = pick_device(args.device)
    cases = CUDA_CASES if device.type == "cuda" else CPU_CASES
    if args.quick:
        cases = cases[:2]
    model = []
    for arch, modality, size, batch in cases:
        model.extend(time_model(arch, modality, size, batch, device, args.iters, args.rounds))
    ratios = {f"{m['arch']}_{m['modality']}": round(b["clips_per_s"] / m["clips_per_s"], 2)
              for m, b in zip(model[0::2], model[1::2])}
    result = {
        "benchmark": "train_throughput",
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"cpu ({platform.processor() or platform.machine()})"),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "segments": SEGMENTS,
        "model": model,
        "bf16_over_fp32": ratios,
        "store": [] if args.quick else time_store(device, args.workers),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
