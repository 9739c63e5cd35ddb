"""TV-L1 throughput: flowkit's torch engine vs OpenCV's CPU TV-L1, same pairs, same run.

    python -m benchmarks.flow_throughput [--pairs 16] [--size 340x256] [--devices cpu,cuda]
                                         [--batch-sizes 1,4] [--modes eager,torch] [--quick] [--warped]

Pairs: procedural textures under the four known motions of flowkit.flow.synthetic (translation,
rotation, zoom, smooth non-rigid; largest flow --magnitude px), default TV-L1 parameters. Measured
(wall clock, best of --rounds passes over all pairs after an untimed first pass, whose time is
reported on its own as it includes any compilation):

- opencv-tvl1 (CPU): one process with cv2.setNumThreads(cores), and a pool of `cores` processes with
  one OpenCV thread each; the best of the two is OpenCV's figure.
- ours on CPU, per mode (`eager`: the default engine, the fused C kernel when it builds; `torch`: the
  same loop in eager torch ops, the fallback without a C compiler; `compiled`: torch.compile'd
  iterations; not run by default on CPU: slower than the kernel, and minutes of compiling), in one
  process with `cores` threads (the fused kernel spreads a batch's pairs over them), for each batch
  size; and in a pool of `cores` single-thread processes, one pair per task.
- ours on CUDA (when present): eager and compiled for each batch size; pairs are cycled to fill
  batches of --gpu-pairs.

--warped also times flow + warped flow (flowkit.warp.warped_flow_batch: homographies, warp, second
TV-L1 pass) against plain flow on the same batches, alternating in each round, per device (eager,
largest batch size): rows "tvl1+warped" with `overhead` (its time / plain time) and `fallbacks`.

Mean end-point error against the ground truth (valid pixels) is reported for every method. Prints
one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing

import numpy as np

from flowkit.cpus import available_cpus
from flowkit.sizes import TSN_SIZE, format_size, parse_size

# -- workers (module level so that spawned processes can import them) ---------------------------

_ENGINE = None


def _init_worker(kind: str) -> None:
    """Per-process setup: one thread for OpenCV and torch; build our engine once."""
    global _ENGINE
    import cv2

    cv2.setNumThreads(1)
    if kind.startswith("ours"):
        import torch

        torch.set_num_threads(1)
        from flowkit.flow import TVL1Engine

        _ENGINE = TVL1Engine(**MODES[kind.split("-", 1)[1]])


# Engine settings of each mode (see the module docstring).
MODES = {"eager": {}, "torch": {"native": False}, "compiled": {"compile": True}}
DEFAULT_MODES = {False: "eager,torch", True: "eager,compiled"}  # by device: on CUDA?


def _warm(_: int) -> int:
    time.sleep(0.3)  # long enough that every worker of the pool gets one and finishes its start-up
    return os.getpid()


def _pool_flow(kind: str, prev: np.ndarray, next: np.ndarray) -> np.ndarray:
    if kind.startswith("ours"):
        return _ENGINE(prev, next)[0].numpy()
    import cv2

    return cv2.optflow.DualTVL1OpticalFlow_create().calc(prev, next, None).transpose(2, 0, 1)


# -- measurements ------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def mean_epe(flows, pairs) -> float:
    from flowkit.flow.metrics import endpoint_error

    return float(np.mean([endpoint_error(f, p.flow, p.valid) for f, p in zip(flows, pairs)]))


def result(method, device, mode, pairs_done, seconds, epe, **extra) -> dict:
    row = dict(method=method, device=device, mode=mode, **extra, pairs=pairs_done,
               seconds=round(seconds, 3), pairs_per_s=round(pairs_done / seconds, 3), epe=round(epe, 4))
    log(f"  {method:12s} {device:7s} {mode:28s} {row['pairs_per_s']:9.2f} pairs/s  EPE {row['epe']:.4f}")
    return row


def timed(run, rounds: int):
    """Run `run()` once untimed (warm-up: compilation, caches, worker start-up), then `rounds` times;
    returns (best seconds, flows of the last round). Best of rounds because other processes share
    the machine; each round computes every pair."""
    run()
    best, flows = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        flows = run()
        best = min(best, time.perf_counter() - start)
    return best, flows


def opencv_in_process(pairs, threads: int, rounds: int) -> dict:
    import cv2

    cv2.setNumThreads(threads)
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    seconds, flows = timed(lambda: [solver.calc(p.prev, p.next, None).transpose(2, 0, 1) for p in pairs], rounds)
    return result("opencv-tvl1", "cpu", f"1 process x {threads} threads", len(pairs), seconds,
                  mean_epe(flows, pairs), processes=1, threads=threads, batch=1)


def in_pool(kind: str, pairs, workers: int, rounds: int) -> dict:
    """`workers` single-thread processes, one pair per task (kind: "opencv" or "ours-<mode>")."""
    context = multiprocessing.get_context("spawn")  # fork after torch/OpenMP start-up is unsafe
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(kind,)) as pool:
        list(pool.map(_warm, range(workers)))
        list(pool.map(_pool_flow, [kind] * workers, [pairs[0].prev] * workers, [pairs[0].next] * workers))
        seconds, flows = timed(lambda: list(pool.map(_pool_flow, [kind] * len(pairs), [p.prev for p in pairs],
                                                      [p.next for p in pairs])), rounds)
    method = "opencv-tvl1" if kind == "opencv" else "tvl1"
    mode = f"{workers} processes x 1 thread" + ("" if kind == "opencv" else f", {kind.split('-', 1)[1]}")
    return result(method, "cpu", mode, len(pairs), seconds, mean_epe(flows, pairs), processes=workers, threads=1,
                  batch=1)


def device_batches(pairs, device: str, batch: int, total: int):
    """The pairs' frames on `device` and `total` pair indices (cycling through the pairs) cut into
    batches: (prev (P, H, W) uint8, next, index (total,) numpy, [index tensors on device], sync)."""
    import torch

    prev = torch.from_numpy(np.stack([p.prev for p in pairs])).to(device)
    next = torch.from_numpy(np.stack([p.next for p in pairs])).to(device)
    index = np.arange(total) % len(pairs)
    batches = [torch.as_tensor(index[i : i + batch], device=device) for i in range(0, total, batch)]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return prev, next, index, batches, sync


def ours(pairs, device: str, mode: str, batch: int, total: int, threads: int, rounds: int) -> dict:
    import torch

    from flowkit.flow import TVL1Engine

    prev, next, index, batches, sync = device_batches(pairs, device, batch, total)
    engine = TVL1Engine(device=device, threads=threads, **MODES[mode])
    fused = engine._native is not None
    # The fused kernel spreads pairs over its own threads; torch's few small ops then run best on one
    # (as extraction runs them). The other modes parallelise inside torch's ops.
    torch_threads = 1 if fused else threads

    def run():
        before = torch.get_num_threads()
        torch.set_num_threads(torch_threads)
        try:
            flows = [engine(prev[b], next[b]) for b in batches]
            sync()
        finally:
            torch.set_num_threads(before)
        return flows

    start = time.perf_counter()
    run()  # the warm-up timed on its own: compilation (or loading it from inductor's cache)
    warmup = time.perf_counter() - start
    seconds, flows = timed(run, rounds)
    flows = torch.cat(flows).cpu().numpy()
    label = ("eager, fused kernel" if fused else mode) + f", batch {batch}"
    label += f", {threads} threads" if device == "cpu" else ""
    return result("tvl1", device, label, total, seconds, mean_epe(flows, [pairs[i] for i in index]),
                  processes=1, threads=threads if device == "cpu" else None, batch=batch,
                  first_pass_s=round(warmup, 2))


# -- warped flow (flowkit.warp, camera-motion compensation) -------------------------------------


def warped_vs_plain(pairs, device: str, compile: bool, batch: int, total: int, rounds: int) -> list[dict]:
    """Plain flow and flow + warped flow (flowkit.warp.warped_flow_batch, first pass inside) on the
    same batches, alternating within each round so both see the same machine load; best of rounds.
    Returns two rows; the warped one carries overhead = its time / the plain time."""
    import torch

    from flowkit.flow import TVL1Engine
    from flowkit.warp import warped_flow_batch

    prev, next, index, batches, sync = device_batches(pairs, device, batch, total)
    engine = TVL1Engine(device=device, compile=compile)
    fallbacks = []

    def plain():
        flows = [engine(prev[b], next[b]) for b in batches]
        sync()
        return flows

    def warped():
        results = [warped_flow_batch(prev[b], next[b], flow_fn=engine) for b in batches]
        sync()
        fallbacks.append(sum(int(r.fallback.sum()) for r in results))
        return [r.flow for r in results]

    plain(), warped()  # warm-up (compilation, thread pool)
    best = {"plain": float("inf"), "warped": float("inf")}
    for _ in range(rounds):
        for name, run in (("plain", plain), ("warped", warped)):
            start = time.perf_counter()
            flows = run()
            best[name] = min(best[name], time.perf_counter() - start)
    epe = mean_epe(torch.cat(flows).cpu().numpy(), [pairs[i] for i in index])
    mode = ("compiled" if compile else "eager") + f", batch {batch}"
    overhead = round(best["warped"] / best["plain"], 3)
    log(f"  warped flow overhead on {device}: x{overhead} the plain flow's time")
    return [
        result("tvl1", device, mode + ", plain (warped baseline)", total, best["plain"], epe, batch=batch),
        result("tvl1+warped", device, mode, total, best["warped"], epe, batch=batch, overhead=overhead,
               fallbacks=fallbacks[-1]),
    ]


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=16, help="distinct frame pairs (default 16)")
    parser.add_argument("--size", default=format_size(TSN_SIZE), help=f"WIDTHxHEIGHT (default {format_size(TSN_SIZE)})")
    parser.add_argument("--magnitude", type=float, default=4.0, help="largest true flow in px (default 4)")
    parser.add_argument("--devices", default=None,
                        help="comma list: cpu, cuda, cuda:1 (default: cpu + cuda if present)")
    parser.add_argument("--batch-sizes", default="1,4", help="CPU batch sizes (default 1,4)")
    parser.add_argument("--gpu-batch-sizes", default="1,8,32,128", help="CUDA batch sizes (default 1,8,32,128)")
    parser.add_argument("--gpu-pairs", type=int, default=512, help="pairs timed per CUDA setting (default 512)")
    parser.add_argument("--modes", default=None,
                        help="comma list of eager (default engine: the fused kernel on CPU), torch (eager torch "
                             "ops), compiled (default: eager,torch on CPU, where compiling is slower than the "
                             "kernel and costs minutes; eager,compiled on CUDA)")
    parser.add_argument("--workers", type=int, default=available_cpus(), help="CPU cores to use (default all)")
    parser.add_argument("--no-opencv", action="store_true", help="skip OpenCV (e.g. where cv2.optflow is missing)")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes per setting, best kept (default 2)")
    parser.add_argument("--quick", action="store_true", help="4 pairs, batch 1, eager only, 1 round: a smoke run")
    parser.add_argument("--warped", action="store_true",
                        help="also time flow + warped flow (flowkit.warp) against plain flow, largest batch size, "
                             "same run")
    args = parser.parse_args(argv)
    unknown = sorted({m.strip() for m in (args.modes or "").split(",") if m.strip()} - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    if args.quick:
        args.pairs, args.batch_sizes, args.modes, args.rounds = 4, "1", "eager", 1
        args.gpu_batch_sizes, args.gpu_pairs = "1,16", 32
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import cv2
    import torch

    from flowkit.flow.synthetic import synthetic_pairs

    width, height = parse_size(args.size)
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    threads = args.workers
    torch.set_num_threads(threads)
    log(f"flow_throughput: {args.pairs} pairs of {width}x{height}, {threads} cores, devices {devices}")
    pairs = synthetic_pairs(args.pairs, height, width, magnitude=args.magnitude, seed=0)

    rows = []
    have_opencv = hasattr(cv2, "optflow") and not args.no_opencv
    if have_opencv:
        rows.append(opencv_in_process(pairs, threads, args.rounds))
        if threads > 1:
            rows.append(in_pool("opencv", pairs, threads, args.rounds))
    else:
        log("  opencv-tvl1 skipped (no cv2.optflow or --no-opencv)")
    for device in devices:
        on_cuda = device.startswith("cuda")
        sizes = [int(b) for b in (args.gpu_batch_sizes if on_cuda else args.batch_sizes).split(",")]
        total = args.gpu_pairs if on_cuda else args.pairs
        modes = [m.strip() for m in (args.modes or DEFAULT_MODES[on_cuda]).split(",") if m.strip()]
        for mode in modes:
            if on_cuda and mode == "torch":
                continue  # on CUDA the eager mode is the torch one
            for batch in sizes:
                rows.append(ours(pairs, device, mode, batch, total, threads, args.rounds))
        if device == "cpu" and threads > 1:
            for mode in modes:
                rows.append(in_pool(f"ours-{mode}", pairs, threads, args.rounds))

    def best(method, device):
        candidates = [r for r in rows if r["method"] == method and r["device"].startswith(device)]
        return max(candidates, key=lambda r: r["pairs_per_s"]) if candidates else None

    summary = {}
    best_cv, best_cpu = best("opencv-tvl1", "cpu"), best("tvl1", "cpu")
    if best_cv and best_cpu:
        summary["cpu_speedup_vs_opencv"] = round(best_cpu["pairs_per_s"] / best_cv["pairs_per_s"], 2)
        summary["best_cpu"] = best_cpu["mode"]
        summary["best_opencv"] = best_cv["mode"]
        summary["epe_ours_vs_opencv"] = [best_cpu["epe"], best_cv["epe"]]
    best_gpu = best("tvl1", "cuda")
    if best_gpu:
        summary["best_cuda_pairs_per_s"] = best_gpu["pairs_per_s"]
        summary["best_cuda"] = best_gpu["mode"]
    if args.warped:  # flowkit.warp: overhead of warped flow, per device, in eager mode at the largest batch
        for device in devices:
            on_cuda = device.startswith("cuda")
            batch = max(int(b) for b in (args.gpu_batch_sizes if on_cuda else args.batch_sizes).split(","))
            total = args.gpu_pairs if on_cuda else args.pairs
            rows.extend(warped_vs_plain(pairs, device, False, batch, total, args.rounds))
            summary[f"warped_overhead_{device}"] = rows[-1]["overhead"]
    report = dict(
        benchmark="flow_throughput",
        size=[width, height],
        pairs=args.pairs,
        magnitude=args.magnitude,
        machine=dict(
            cpu=platform.processor() or platform.machine(),
            cores=available_cpus(),
            gpu=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            torch=torch.__version__,
            opencv=cv2.__version__,
            python=platform.python_version(),
        ),
        summary=summary,
        results=rows,
    )
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
