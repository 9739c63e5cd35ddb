"""Everything a first GPU session should measure, in one command of a few minutes.

    PYTHONPATH=. python -m benchmarks.gpu_check [--output gpu_check.json] [--budget-s 420] [--dry-run]

On a CUDA machine, in order, each stage under the time left (stages that would overrun are skipped
and say so):

1. environment: GPU and its compute capability, native bf16, torch / CUDA / triton versions, which
   optional packages are missing;
2. flow_sweep: the TV-L1 engine on the GPU at 340x256, its three implementations (triton: the fused
   kernels, the default; eager: torch operators; compiled: torch.compile), batch sizes 1 to 256:
   pairs/s (timed for a fixed wall time per setting after a warm-up call, whose time, with
   compilation, is reported as first_call_s), iterations per pair, EPE against the true flow,
   against the CPU solver on the same pairs and, where cv2.optflow exists, against OpenCV;
3. memory: peak GPU memory per pair of each implementation (torch.cuda.max_memory_allocated over
   one batch) against the count of flowkit.flow.memory (docs/performance.md), and the batch the
   engine sizes to the free memory;
4. batch_independence: pairs of different difficulty alone and in one batch give bit-identical flow;
5. extract: `flowkit extract --gpu 0 --warped` on generated clips, whole process (needs h5py,
   zstandard, tqdm; Ray is not needed: small jobs run in-process);
6. oom_recovery, ddp: hooks for checks other modules own: the stage calls `check(device, dry_run,
   seconds_left) -> dict` of benchmarks.gpu_check_oom (a forced out-of-memory error recovered by
   splitting the batch) and benchmarks.gpu_check_ddp (NCCL DDP training on two GPUs) when those
   modules exist, and says "skipped" otherwise;
7. kernel_profile: CUDA kernels launched per TV-L1 iteration and GPU busy time / wall time, per
   implementation (torch.profiler), the numbers docs/performance.md's roofline needs;
8. cuda_tests: `pytest -m cuda` on the test files that hold CUDA tests (needs pytest);
9. loader: the TSN loader with JPEG decode on the GPU (`decode="device"`) against CPU decode.

Without CUDA (or with --dry-run) it says so and runs every stage it can on the CPU at toy sizes
(tiny frames, few pairs, no compilation) so that CI keeps the script working; the Triton kernels
then run under Triton's interpreter (the stages that use them run in a child process with
TRITON_INTERPRET=1, which must be set before triton is imported). The exit status is 0 unless a
stage fails. The summary is printed as one JSON line and written to --output and, when the
environment variable OUT names a folder, to $OUT/gpu_check.json. Nothing needs installing: run it
from the repository root with PYTHONPATH=. (ray and opencv-contrib are optional; missing packages
skip the stages that need them, with a note).
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
    batch_sizes: dict[str, tuple[int, ...]]  # per implementation (MODES) timed
    seconds_per_setting: float
    clips: int
    frames: int
    extract_args: tuple[str, ...]
    tvl1: dict
    memory_batch: int  # pairs of the memory stage's batch
    independence_size: tuple[int, int]  # (H, W) of the batch-independence pairs
    independence_tvl1: dict
    sweep_seconds: float  # the flow sweep's share of the budget


MODES = ("triton", "eager", "compiled")
GPU_PLAN = Plan("cuda", (256, 340), 16, {"triton": (1, 8, 32, 128, 256), "eager": (8, 128), "compiled": (8, 128)},
                2.0, 4, 24, ("--gpu", "0"), {}, 32, (256, 340), {}, 150.0)
DRY_PLAN = Plan("cpu", (48, 64), 4, {"triton": (2,), "eager": (1, 2)}, 0.2, 2, 6, ("--cpu", "--workers", "0"),
                dict(nscales=2, warps=1, inner_iterations=5, outer_iterations=1), 2, (24, 32),
                dict(nscales=1, warps=1, inner_iterations=6, outer_iterations=2, epsilon=0.05), 60.0)
# Stages that run the Triton kernels: in a dry run they go to a child process under TRITON_INTERPRET=1.
INTERPRETED_STAGES = ("flow_sweep", "batch_independence")


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


def make_engine(mode: str, plan: Plan, **tvl1):
    """The TV-L1 engine of implementation `mode` (MODES) on the plan's device."""
    from flowkit.flow import TVL1Engine

    params = {**plan.tvl1, **tvl1}
    if mode == "triton":
        return TVL1Engine(device=plan.device, engine="triton", **params)
    return TVL1Engine(device=plan.device, engine="torch", compile=mode == "compiled", per_iteration=False, **params)


def runnable_modes(plan: Plan, modes) -> list[str]:
    """`modes` less "triton" where its kernels cannot run: no triton package, or the CPU without
    Triton's interpreter."""
    fused = not missing("triton") and (plan.device == "cuda" or os.environ.get("TRITON_INTERPRET") == "1")
    return [mode for mode in modes if mode != "triton" or fused]


def _sync(plan: Plan):
    import torch

    return torch.cuda.synchronize if plan.device == "cuda" else (lambda: None)


# -- stages -----------------------------------------------------------------------------------


def environment(plan: Plan, clock: Clock) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cpus": available_cpus(), "missing_packages": missing(*OPTIONAL)}
    if torch.cuda.is_available():
        from tsn.runtime import native_bf16

        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        info["compute_capability"] = list(torch.cuda.get_device_capability(0))
        info["native_bf16"] = native_bf16(torch.device("cuda", 0))
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

    from flowkit.flow.synthetic import synthetic_pairs

    h, w = plan.size
    pairs = synthetic_pairs(plan.pairs, h, w, magnitude=4.0, seed=0)
    refs = _references(plan, pairs)
    prev = torch.from_numpy(np.stack([p.prev for p in pairs])).to(plan.device)
    next = torch.from_numpy(np.stack([p.next for p in pairs])).to(plan.device)
    sync = _sync(plan)
    rows, notes = [], []
    started_stage = time.perf_counter()
    truth = _mean_epe(refs["cpu_engine"], [(p.flow, p.valid) for p in pairs])
    for mode in runnable_modes(plan, plan.batch_sizes):
        batch_sizes = plan.batch_sizes[mode]
        if time.perf_counter() - started_stage > plan.sweep_seconds or clock.left() < 200:
            notes.append(f"{mode} skipped: time budget")
            continue
        engine = make_engine(mode, plan)
        started = time.perf_counter()
        flow = engine(prev, next).cpu().numpy()  # accuracy on every pair once (a pair's flow is batch-independent)
        accuracy = {"mode": mode, "first_call_s": round(time.perf_counter() - started, 2),
                    "iterations_per_pair": round(float(engine.iterations.mean()), 1),
                    "epe_vs_truth_px": _mean_epe(flow, [(p.flow, p.valid) for p in pairs])}
        for name, ref in refs.items():
            accuracy[f"epe_vs_{name}_px"] = _mean_epe(flow, [(r, None) for r in ref])
        accuracy["max_abs_diff_vs_cpu_engine_px"] = round(float(np.abs(flow - refs["cpu_engine"]).max()), 6)
        log(f"  flow {mode}: EPE vs truth {accuracy['epe_vs_truth_px']}, first call {accuracy['first_call_s']} s")
        rows.append(accuracy)
        for batch in batch_sizes:
            if time.perf_counter() - started_stage > plan.sweep_seconds or clock.left() < 200:
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
    best = {mode: max((r for r in timed if r["mode"] == mode), key=lambda r: r["pairs_per_s"], default=None)
            for mode in plan.batch_sizes}
    speedups = {f"{mode}_over_eager": round(best[mode]["pairs_per_s"] / best["eager"]["pairs_per_s"], 2)
                for mode in best if mode != "eager" and best.get(mode) and best.get("eager")}
    return {"status": "ok", "size": [w, h], "pairs": len(pairs), "cpu_engine_epe_vs_truth_px": truth,
            "results": rows, "best": best, "best_over_eager": speedups, "notes": notes}


def memory(plan: Plan, clock: Clock) -> dict:
    """Peak GPU memory per pair of each implementation against flowkit.flow.memory's count. On the
    CPU (dry run) the counts only, with the batch the engine would size to 16 GiB free."""
    import torch

    from flowkit.flow.memory import bytes_per_pair, pairs_that_fit
    from flowkit.flow.params import TVL1Params
    from flowkit.flow.synthetic import synthetic_pairs

    h, w = plan.size
    params = TVL1Params.from_kwargs(**plan.tvl1)
    rows = []
    a = b = None
    if plan.device == "cuda":
        pairs = synthetic_pairs(8, h, w, magnitude=4.0, seed=2)
        index = torch.arange(plan.memory_batch) % len(pairs)
        a = torch.from_numpy(np.stack([p.prev for p in pairs]))[index].cuda()
        b = torch.from_numpy(np.stack([p.next for p in pairs]))[index].cuda()
    for mode in plan.batch_sizes:
        if clock.left() < 150:
            break
        kind = "torch" if mode != "triton" else "triton"
        counted = bytes_per_pair(kind, h, w, params, compiled=mode == "compiled")
        row = {"mode": mode, "counted_bytes_per_pair": counted,
               "pairs_for_16_gib_free": pairs_that_fit(16 * 2**30, h, w, kind, params, mode == "compiled")}
        if a is not None and b is not None and mode in runnable_modes(plan, [mode]):
            engine = make_engine(mode, plan)
            engine(a[:4], b[:4])  # compile / load the kernels outside the measurement
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            engine(a, b)
            torch.cuda.synchronize()
            measured = (torch.cuda.max_memory_allocated() - base) / len(a)
            row.update(measured_bytes_per_pair=int(measured), measured_over_counted=round(measured / counted, 3),
                       batch_limit_now=engine.batch_limit(h, w), free_bytes=torch.cuda.mem_get_info()[0])
            log(f"  memory {mode}: {measured / 2**20:.1f} MiB per pair measured, {counted / 2**20:.1f} counted")
        rows.append(row)
    return {"status": "ok", "size": [w, h], "batch": plan.memory_batch, "results": rows}


def batch_independence(plan: Plan, clock: Clock) -> dict:
    """Pairs of increasing motion (they converge at different iterations) alone and in one batch, per
    implementation: bit-identical flow expected."""
    import torch

    from flowkit.flow.synthetic import synthetic_pair

    h, w = plan.independence_size
    made = [synthetic_pair(("rotation", "zoom", "translation")[i % 3], h, w, magnitude=0.5 + 2.5 * i, seed=5 + i)
            for i in range(3)]
    prev = torch.from_numpy(np.stack([p.prev for p in made])).to(plan.device)
    next = torch.from_numpy(np.stack([p.next for p in made])).to(plan.device)
    rows, failed = [], False
    for mode in runnable_modes(plan, ("triton", "eager")):
        if clock.left() < 120:
            break
        engine = make_engine(mode, plan, **plan.independence_tvl1)
        batch = engine(prev, next)
        iterations = engine.iterations.tolist()
        alone = [engine(prev[i : i + 1], next[i : i + 1])[0] for i in (0, 2)]
        swapped = engine(prev[[2, 0]], next[[2, 0]])
        equal = [bool(torch.equal(alone[0], batch[0])), bool(torch.equal(alone[1], batch[2])),
                 bool(torch.equal(swapped, batch[[2, 0]]))]
        diff = max(float((alone[0] - batch[0]).abs().max()), float((alone[1] - batch[2]).abs().max()))
        rows.append({"mode": mode, "iterations_in_batch": iterations, "bit_identical": all(equal),
                     "max_abs_diff_px": diff})
        failed |= not all(equal)
        log(f"  batch independence {mode}: iterations {iterations}, bit-identical {all(equal)}")
    return {"status": "error" if failed else "ok", "size": [w, h], "results": rows}


def kernel_profile(plan: Plan, clock: Clock) -> dict:
    """CUDA kernels per TV-L1 iteration and GPU busy time / wall time, from torch.profiler on one engine
    call of 32 pairs (the dry run: 2 pairs, counting the CPU path's aten operators instead)."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    from flowkit.flow.synthetic import synthetic_pairs

    cuda = plan.device == "cuda"
    h, w = plan.size
    pairs = synthetic_pairs(8, h, w, magnitude=4.0, seed=1)
    copies = 4 if cuda else 1
    prev = torch.from_numpy(np.stack([p.prev for p in pairs[: 2 * copies]])).to(plan.device).repeat(copies, 1, 1)
    next = torch.from_numpy(np.stack([p.next for p in pairs[: 2 * copies]])).to(plan.device).repeat(copies, 1, 1)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rows = []
    for mode in runnable_modes(plan, plan.batch_sizes) if cuda else ("eager",):  # CPU: aten operators of eager
        if clock.left() < 120:
            break
        engine = make_engine(mode, plan)
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


def _hook(module: str, plan: Plan, clock: Clock) -> dict:
    """Run `module`.check(device, dry_run, seconds_left) -> dict, a check another part of the code
    owns; "skipped" while that module does not exist."""
    if importlib.util.find_spec(module) is None:
        return {"status": "skipped", "reason": f"{module} not present (the hook: {module}.check(device, dry_run, "
                "seconds_left) -> dict)"}
    check = importlib.import_module(module).check
    return check(plan.device, plan.device != "cuda", clock.left())


def oom_recovery(plan: Plan, clock: Clock) -> dict:
    return _hook("benchmarks.gpu_check_oom", plan, clock)


def ddp(plan: Plan, clock: Clock) -> dict:
    return _hook("benchmarks.gpu_check_ddp", plan, clock)


STAGES = (("environment", environment), ("flow_sweep", flow_sweep), ("memory", memory),
          ("batch_independence", batch_independence), ("extract", extract), ("oom_recovery", oom_recovery),
          ("ddp", ddp), ("kernel_profile", kernel_profile), ("cuda_tests", cuda_tests), ("loader", loader))


def interpreted_stages(names: list[str], budget_s: float) -> dict:
    """Run stages `names` of a dry run in a child process under TRITON_INTERPRET=1 (Triton reads it
    when imported, so it cannot be switched on in this process); their results by name."""
    with tempfile.TemporaryDirectory(prefix="flowkit-gpu-check-") as tmp:
        output = Path(tmp) / "child.json"
        env = {key: value for key, value in _env().items() if key != "OUT"}
        env["TRITON_INTERPRET"] = "1"
        command = [sys.executable, "-m", "benchmarks.gpu_check", "--dry-run", "--stages", ",".join(names),
                   "--output", str(output), "--budget-s", str(budget_s)]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=budget_s + 60)
        if not output.exists():
            error = {"status": "error", "error": "the interpreted child failed", "output_tail": done.stderr[-3000:]}
            return {name: dict(error) for name in names}
        return json.loads(output.read_text(encoding="utf-8"))["stages"]


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
    delegated = {}
    if not cuda and os.environ.get("TRITON_INTERPRET") != "1" and not missing("triton"):
        names = [name for name in INTERPRETED_STAGES if name in wanted]
        if names:
            log(f"gpu_check: {', '.join(names)} in a child process under TRITON_INTERPRET=1")
            delegated = interpreted_stages(names, clock.left())
    for name, stage in STAGES:
        if name not in wanted:
            continue
        log(f"gpu_check: {name} ({clock.left():.0f} s left)")
        started = time.perf_counter()
        try:
            if name in delegated:
                report["stages"][name] = delegated[name]
                failed |= delegated[name].get("status") == "error"
                continue
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
