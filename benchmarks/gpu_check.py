"""Everything a first GPU session should measure, in one command of a few minutes.

    PYTHONPATH=. python -m benchmarks.gpu_check [--output gpu_check.json] [--budget-s 420] [--dry-run]

On a CUDA machine, in order, each stage under the time left (stages that would overrun are skipped
and say so):

1. environment: GPU, torch / CUDA / triton versions, which optional packages are missing;
2. cuda_tests: `pytest -m cuda` on the test files that hold CUDA tests (needs pytest);
3. flow_sweep: the TV-L1 engine on the GPU at 340x256, eager and torch.compile'd, batch sizes 1 to
   256: pairs/s (timed for a fixed wall time per setting after a warm-up call, whose time, with
   Triton compilation, is reported as first_call_s), iterations per pair, and EPE against the true
   flow, against the CPU engine on the same pairs and, where cv2.optflow exists, against OpenCV;
4. kernel_profile: CUDA kernels launched per TV-L1 iteration and GPU busy time / wall time, eager
   and compiled (torch.profiler), the numbers docs/performance.md's roofline needs;
5. extract: `flowkit extract --gpu 0 --warped` on generated clips, whole process (needs h5py,
   zstandard, tqdm; Ray is not needed: small jobs run in-process);
6. loader: the TSN loader with JPEG decode on the GPU (`decode="device"`) against CPU decode.

Without CUDA (or with --dry-run) it says so and runs every stage it can on the CPU at toy sizes
(tiny frames, few pairs, no compilation) so that CI keeps the script working; the exit status is
0 unless a stage fails. The summary is printed as one JSON line and written to --output and, when
the environment variable OUT names a folder, to $OUT/gpu_check.json. Nothing needs installing:
run it from the repository root with PYTHONPATH=. (ray and opencv-contrib are optional; missing
packages skip the stages that need them, with a note).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flowkit.cpus import available_cpus

REPO = Path(__file__).resolve().parents[1]
OPTIONAL = ("cv2", "h5py", "zstandard", "tqdm", "click", "pytest", "skimage", "ray", "triton")


@dataclass
class Plan:
    """Sizes of the run: the real GPU check or the CPU dry run."""

    device: str
    size: tuple[int, int]  # (H, W)
    pairs: int
    batch_sizes: tuple[int, ...]
    modes: tuple[str, ...]
    seconds_per_setting: float
    clips: int
    frames: int
    extract_args: tuple[str, ...]
    tvl1: dict


GPU_PLAN = Plan("cuda", (256, 340), 16, (1, 8, 32, 128, 256), ("eager", "compiled"), 3.0, 4, 24,
                ("--gpu", "0"), {})
DRY_PLAN = Plan("cpu", (48, 64), 4, (1, 2), ("eager",), 0.2, 2, 6, ("--cpu", "--workers", "0"),
                dict(nscales=2, warps=1, inner_iterations=5, outer_iterations=1))


class Clock:
    """The time budget: stages ask whether they may start."""

    def __init__(self, budget_s: float):
        self.start = time.perf_counter()
        self.budget_s = budget_s

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.start)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def missing(*modules: str) -> list[str]:
    """The modules of `modules` that cannot be imported here."""
    def absent(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except (ImportError, ValueError):  # a broken or blocked package counts as absent
            return True

    return [m for m in modules if absent(m)]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


# -- stages -----------------------------------------------------------------------------------


def environment(plan: Plan, clock: Clock) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cpus": available_cpus(), "missing_packages": missing(*OPTIONAL)}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    if importlib.util.find_spec("triton"):
        import triton

        info["triton"] = triton.__version__
    import cv2

    info["opencv"] = cv2.__version__
    info["opencv_optflow"] = hasattr(cv2, "optflow")
    return info


def cuda_tests(plan: Plan, clock: Clock) -> dict:
    if missing("pytest"):
        return {"status": "skipped", "reason": "pytest is not installed (the flow_sweep stage checks CUDA "
                "against the CPU engine itself)"}
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_*.py")
                   if "mark.cuda" in p.read_text(encoding="utf-8"))
    command = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", *files]
    started = time.perf_counter()
    timeout = max(30.0, min(180.0, clock.left() - 200))
    try:
        done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "error", "error": f"pytest ran over {timeout:.0f} s", "files": files}
    lines = (done.stdout.strip().splitlines() or [""])
    return {"status": "ok" if done.returncode in (0, 5) else "error", "files": files, "summary": lines[-1],
            "seconds": round(time.perf_counter() - started, 1),
            **({"output_tail": done.stdout[-3000:] + done.stderr[-2000:]} if done.returncode not in (0, 5) else {})}


def _references(plan: Plan, pairs) -> dict:
    """Flows the GPU's are compared with: the CPU engine's and OpenCV's (where cv2.optflow exists)."""
    import cv2
    import torch

    from flowkit.flow import TVL1Engine

    prev = np.stack([p.prev for p in pairs])
    next = np.stack([p.next for p in pairs])
    torch.set_num_threads(available_cpus())
    refs = {"cpu_engine": TVL1Engine(threads=available_cpus(), **plan.tvl1)(prev, next).numpy()}
    if hasattr(cv2, "optflow") and not plan.tvl1:
        solver = cv2.optflow.DualTVL1OpticalFlow_create()
        refs["opencv"] = np.stack([solver.calc(p.prev, p.next, None).transpose(2, 0, 1) for p in pairs])
    return refs


def _mean_epe(flows: np.ndarray, references: list) -> float:
    """Mean end-point error (px) of flows (N, 2, H, W) against [(reference (2, H, W), valid or None)]."""
    from flowkit.flow import endpoint_error

    return round(float(np.mean([endpoint_error(f, ref, valid) for f, (ref, valid) in zip(flows, references)])), 4)


def flow_sweep(plan: Plan, clock: Clock) -> dict:
    import torch

    from flowkit.flow import TVL1Engine
    from flowkit.flow.synthetic import synthetic_pairs

    h, w = plan.size
    pairs = synthetic_pairs(plan.pairs, h, w, magnitude=4.0, seed=0)
    refs = _references(plan, pairs)
    prev = torch.from_numpy(np.stack([p.prev for p in pairs])).to(plan.device)
    next = torch.from_numpy(np.stack([p.next for p in pairs])).to(plan.device)
    sync = torch.cuda.synchronize if plan.device == "cuda" else (lambda: None)
    rows, notes = [], []
    truth = _mean_epe(refs["cpu_engine"], [(p.flow, p.valid) for p in pairs])
    for mode in plan.modes:
        engine = TVL1Engine(device=plan.device, compile=mode == "compiled", per_iteration=False, **plan.tvl1)
        started = time.perf_counter()
        flow = engine(prev, next).cpu().numpy()  # accuracy on every pair once (a pair's flow is batch-independent)
        accuracy = {"mode": mode, "first_call_s": round(time.perf_counter() - started, 2),
                    "iterations_per_pair": round(float(engine.iterations.mean()), 1),
                    "epe_vs_truth_px": _mean_epe(flow, [(p.flow, p.valid) for p in pairs])}
        for name, ref in refs.items():
            accuracy[f"epe_vs_{name}_px"] = _mean_epe(flow, [(r, None) for r in ref])
        log(f"  flow {mode}: EPE vs truth {accuracy['epe_vs_truth_px']}, first call {accuracy['first_call_s']} s")
        rows.append(accuracy)
        for batch in plan.batch_sizes:
            if clock.left() < 150:
                notes.append(f"{mode} batch {batch} and later settings skipped: time budget")
                break
            index = torch.arange(batch, device=plan.device) % len(pairs)
            a, b = prev[index], next[index]
            started = time.perf_counter()
            engine(a, b)
            sync()
            first = time.perf_counter() - started
            done, started = 0, time.perf_counter()
            while done == 0 or time.perf_counter() - started < plan.seconds_per_setting:
                engine(a, b)
                done += batch
            sync()
            row = {"mode": mode, "batch": batch, "pairs_per_s": round(done / (time.perf_counter() - started), 2),
                   "first_call_s": round(first, 2)}
            log(f"  flow {mode:8s} batch {batch:4d}: {row['pairs_per_s']:9.1f} pairs/s, first call {first:.1f} s")
            rows.append(row)
    timed = [r for r in rows if "pairs_per_s" in r]
    best = max(timed, key=lambda r: r["pairs_per_s"]) if timed else None
    return {"status": "ok", "size": [w, h], "pairs": len(pairs), "cpu_engine_epe_vs_truth_px": truth,
            "results": rows, "best": best, "notes": notes}


def kernel_profile(plan: Plan, clock: Clock) -> dict:
    """CUDA kernels per TV-L1 iteration and GPU busy time / wall time, from torch.profiler on one engine
    call of 32 pairs (the dry run: 2 pairs, counting the CPU path's aten operators instead)."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from flowkit.flow import TVL1Engine
    from flowkit.flow.synthetic import synthetic_pairs

    cuda = plan.device == "cuda"
    h, w = plan.size
    pairs = synthetic_pairs(8, h, w, magnitude=4.0, seed=1)
    copies = 4 if cuda else 1
    prev = torch.from_numpy(np.stack([p.prev for p in pairs[: 2 * copies]])).to(plan.device).repeat(copies, 1, 1)
    next = torch.from_numpy(np.stack([p.next for p in pairs[: 2 * copies]])).to(plan.device).repeat(copies, 1, 1)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rows = []
    for mode in plan.modes:
        if clock.left() < 120:
            break
        engine = TVL1Engine(device=plan.device, compile=mode == "compiled", per_iteration=False, **plan.tvl1)
        engine(prev, next)  # compile and warm up outside the profile
        sync()
        with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
            started = time.perf_counter()
            engine(prev, next)
            sync()
            wall = time.perf_counter() - started
        if cuda:
            kernels = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
            busy = sum(getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0) for e in kernels) / 1e6
        else:
            kernels = [e for e in prof.events() if e.name.startswith("aten::")]
            busy = None
        # The working batch runs until its slowest pair has converged, one masked chunk per call.
        steps = int(engine.iterations.max())
        rows.append({"mode": mode, "batch": len(prev), "wall_s": round(wall, 3), "kernels": len(kernels),
                     "kernels_per_iteration": round(len(kernels) / max(steps, 1), 1),
                     "gpu_busy_fraction": None if busy is None else round(busy / wall, 3),
                     "iterations_of_slowest_pair": steps})
        log(f"  profile {mode}: {len(kernels)} {'kernels' if cuda else 'aten ops'}, "
            f"{rows[-1]['kernels_per_iteration']} per iteration")
    return {"status": "ok", "counted": "CUDA kernels" if cuda else "aten operators (CPU dry run)", "results": rows}


def extract(plan: Plan, clock: Clock) -> dict:
    lacking = missing("h5py", "zstandard", "tqdm", "click")
    if lacking:
        return {"status": "skipped", "reason": f"needs {', '.join(lacking)}"}
    from benchmarks.clips import make_clips

    with tempfile.TemporaryDirectory(prefix="flowkit-gpu-check-") as tmp:
        videos = Path(tmp) / "videos"
        content = make_clips(videos, plan.clips, plan.frames, plan.size[::-1])
        tvl1 = [arg for key, value in plan.tvl1.items() for arg in (f"--{key.replace('_', '-')}", str(value))]
        command = [sys.executable, "-m", "cli.flowkit_app", "extract", *plan.extract_args, "--warped", str(videos),
                   "-o", str(Path(tmp) / "store.h5"), "--size", f"{plan.size[1]}x{plan.size[0]}", *tvl1]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True,
                              timeout=max(60.0, clock.left() - 60))
        seconds = time.perf_counter() - started
        result = {"status": "ok" if done.returncode == 0 else "error", "content": content, "clips": plan.clips,
                  "frames_per_clip": plan.frames, "seconds": round(seconds, 2),
                  "frames_per_s": round(plan.clips * plan.frames / seconds, 2),
                  "summary": done.stdout.strip().splitlines()[:3]}
        if done.returncode != 0:
            result["error"] = done.stderr.strip()[-2000:]
        return result


def loader(plan: Plan, clock: Clock) -> dict:
    lacking = missing("h5py", "torchvision")  # the tiny store keeps flow as PNG: no zstandard needed
    if lacking:
        return {"status": "skipped", "reason": f"needs {', '.join(lacking)}"}
    import torch

    from flowkit.testing import make_tiny_store
    from tsn.data import TSNDataset, build_loader, prepare_batch
    from tsn.data.presets import TrainCrops

    size = 224 if plan.device == "cuda" else 32
    frame = (340, 256) if plan.device == "cuda" else (64, 48)
    with tempfile.TemporaryDirectory(prefix="flowkit-gpu-check-") as tmp:
        store = make_tiny_store(Path(tmp) / "tiny.h5", classes=2, videos_per_class=8, frames=12, size=frame)
        rates, batches = {}, {}
        for decode in ("cpu", "device"):
            dataset = TSNDataset(store, modality="rgb", preset=TrainCrops(size), seed=3, decode=decode)
            data = build_loader(dataset, batch_size=8, workers=0, shuffle=False, seed=3)
            started, clips = time.perf_counter(), 0
            for epoch in range(3):
                for batch in data:
                    x, _ = prepare_batch(batch, plan.device)
                    clips += len(x)
                    if epoch == 0 and decode not in batches:
                        batches[decode] = x.float().cpu()
            if plan.device == "cuda":
                torch.cuda.synchronize()
            rates[decode] = round(clips / (time.perf_counter() - started), 1)
        diff = (batches["cpu"] - batches["device"]).abs()
        return {"status": "ok", "clips_per_s": rates, "device_over_cpu": round(rates["device"] / rates["cpu"], 2),
                "mean_abs_diff": round(float(diff.mean()), 5), "crop": size, "frame": list(frame)}


STAGES = (("environment", environment), ("cuda_tests", cuda_tests), ("flow_sweep", flow_sweep),
          ("kernel_profile", kernel_profile), ("extract", extract), ("loader", loader))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="gpu_check.json", help="where to write the JSON summary")
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-time budget for all stages")
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU even when CUDA is present")
    parser.add_argument("--stages", default=",".join(name for name, _ in STAGES), help="comma list of stages")
    args = parser.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available() and not args.dry_run
    plan = GPU_PLAN if cuda else DRY_PLAN
    if not cuda:
        log("gpu_check: no CUDA device (or --dry-run): dry run of every stage on the CPU at toy sizes")
    clock = Clock(args.budget_s)
    report = {"benchmark": "gpu_check", "cuda": cuda, "dry_run": not cuda, "stages": {}}
    failed = False
    wanted = set(args.stages.split(","))
    for name, stage in STAGES:
        if name not in wanted:
            continue
        log(f"gpu_check: {name} ({clock.left():.0f} s left)")
        started = time.perf_counter()
        try:
            outcome = stage(plan, clock)
        except Exception as exc:  # one broken stage must not hide the others' figures
            outcome = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc()[-3000:]}
        outcome.setdefault("status", "ok")
        outcome["stage_s"] = round(time.perf_counter() - started, 1)
        failed |= outcome["status"] == "error"
        report["stages"][name] = outcome
    report["seconds"] = round(time.perf_counter() - clock.start, 1)
    text = json.dumps(report)
    Path(args.output).write_text(text + "\n", encoding="utf-8")
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(text + "\n", encoding="utf-8")
    print(text)
    if not cuda:
        log("gpu_check: CUDA is needed for the real check; the dry run " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
