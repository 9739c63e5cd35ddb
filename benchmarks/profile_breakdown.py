"""Where the time of extraction and of one hard pair goes, stage by stage, in CPU time.

    python -m benchmarks.profile_breakdown [--clips 3 --frames 24]

Runs, in this process and on one thread (CPU time per thread, so other jobs on the machine inflate
it far less than wall time):

- `flowkit extract` of the extract benchmark's short job (benchmarks.clips: 3 clips x 24 frames at
  340x256) in-process (workers=0), its stages timed by wrapping the functions that do them: decode
  and resize, RGB to gray, flow, quantize and encode, the part files, the store assembly;
- the flow engine on the same pairs and on the hard stereo pair (scikit-image's motorcycle, 340 px
  wide) twice: the fused CPU path (the default) and the torch path it replaced (native=False), with
  its stages: image pyramid, gradients, linearization (warp), median filter, iterations, upsampling,
  and, for the CPU solver, the time and iterations of each pyramid scale;
- the fixed costs of a process: `import torch`, `import cv2`, and Ray's start and stop with 2 CPUs.

Prints one JSON line: milliseconds per pair (per frame for the pipeline stages) and each stage's
share.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path


class StageTimer:
    """Thread CPU time spent inside wrapped functions, by stage name (nested stages are not
    subtracted from their callers)."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self._patches = []

    def wrap(self, owner, attribute: str, stage: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.thread_time() - started

        self.patch(owner, attribute, timed)

    def patch(self, owner, attribute: str, replacement) -> None:
        """Set owner.attribute to replacement until restore()."""
        self._patches.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, replacement)

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._patches):
            setattr(owner, attribute, original)
        self._patches.clear()


@contextmanager
def timing(timer: StageTimer):
    try:
        yield timer
    finally:
        timer.restore()


def engine_stages(pairs, native: bool) -> dict:
    """CPU ms per pair of each engine stage, solving the pairs one at a time on one thread."""
    import torch

    from flowkit.flow import engine as engine_module
    from flowkit.flow import native_solver

    torch.set_num_threads(1)
    engine = engine_module.TVL1Engine(native=native)
    timer = StageTimer()
    with timing(timer):
        if native:
            timer.wrap(native_solver, "_downscale", "pyramid")
            timer.wrap(native_solver, "centered_gradient", "gradients")
            timer.wrap(native_solver, "_resize", "upsample flow")
            timer.wrap(native_solver.NativeKernel, "linearize", "linearize (warp)")
            timer.wrap(native_solver, "_median_in_place", "median 5x5")
            timer.wrap(native_solver.NativeKernel, "run_block", "iterations")
        else:
            timer.wrap(engine_module.TVL1Engine, "_pyramid", "pyramid")
            timer.wrap(engine_module, "centered_gradient", "gradients")
            timer.wrap(engine_module, "resize_linear", "upsample flow")
            timer.wrap(engine_module.TVL1Engine, "_linearize", "linearize (warp)")
            timer.wrap(engine_module.TVL1Engine, "_median", "median 5x5")
            timer.wrap(engine_module, "tvl1_iteration_", "iterations")
        scales = _per_scale(timer, native_solver.NativeTVL1) if native else None
        started = time.thread_time()
        iterations = 0
        for prev, next in pairs:
            engine(prev, next)
            iterations += int(engine.iterations.sum())
        total = time.thread_time() - started
    report = _table(timer.seconds, total, len(pairs), "pair") | {"iterations_per_pair": round(iterations / len(pairs))}
    if scales is not None:
        seconds, counts = scales
        report["scales"] = {size: {"ms_per_pair": round(1000 * seconds[size] / len(pairs), 2),
                                   "iterations_per_pair": round(counts[size] / len(pairs)),
                                   "share": round(seconds[size] / total, 3)} for size in seconds}
    return report


def _per_scale(timer: StageTimer, solver_class):
    """Time the CPU solver's per-scale step (undone with the timer's other patches): thread CPU
    seconds and iterations by pyramid level, keyed 'WxH'. Returns the (seconds, iterations) dicts,
    filled as pairs are solved."""
    seconds, counts = defaultdict(float), defaultdict(int)
    original = solver_class._solve_scale

    def timed(self, i0, i1, u, done):
        size = f"{i0.shape[1]}x{i0.shape[0]}"
        before, started = int(done.sum()), time.thread_time()
        try:
            return original(self, i0, i1, u, done)
        finally:
            seconds[size] += time.thread_time() - started
            counts[size] += int(done.sum()) - before

    timer.patch(solver_class, "_solve_scale", timed)
    return seconds, counts


def pipeline_stages(videos_dir: Path, output: Path) -> dict:
    """CPU ms per frame of each stage of an in-process `flowkit extract` (one thread)."""
    import torch

    from flowkit import video
    from flowkit.extract import ContentOptions, RunOptions, extract, parts, pipeline, worker
    from flowkit.store import encode as store_encode

    torch.set_num_threads(1)
    iter_frames = video.iter_frames
    timer = StageTimer()
    frames = 0

    def counted_frames(*args, **kwargs):  # decode + resize happen while the generator is advanced
        nonlocal frames
        generator = iter_frames(*args, **kwargs)
        while True:
            started = time.thread_time()
            try:
                frame = next(generator)
            except StopIteration:
                timer.seconds["decode + resize"] += time.thread_time() - started
                return
            timer.seconds["decode + resize"] += time.thread_time() - started
            frames += 1
            yield frame

    with timing(timer):
        timer.wrap(worker, "rgb_to_gray", "RGB to gray")
        timer.wrap(worker, "_window_flow", "flow (TV-L1)")
        timer.wrap(store_encode, "encode_streams", "quantize + encode")
        timer.wrap(parts, "write_part", "write part file")
        timer.wrap(pipeline, "assemble_store", "assemble store")
        video.iter_frames = counted_frames
        try:
            started = time.thread_time()
            extract([videos_dir], output, ContentOptions(), RunOptions(workers=0, progress=False, overwrite=True))
            total = time.thread_time() - started
        finally:
            video.iter_frames = iter_frames
    return _table(timer.seconds, total, frames, "frame")


def fixed_costs() -> dict:
    """Seconds of `import torch`, `import cv2` in fresh processes, and of starting and stopping Ray."""
    def process(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return round(time.perf_counter() - started, 2)

    costs = {"python_process_s": process("pass"), "import_torch_process_s": process("import torch"),
             "import_cv2_process_s": process("import cv2")}
    ray = ("import time, logging, ray; t = time.perf_counter(); ray.init(num_cpus=2, include_dashboard=False, "
           "logging_level=logging.WARNING); ray.get(ray.remote(lambda: 1).remote()); ray.shutdown(); "
           "print(time.perf_counter() - t)")
    try:
        done = subprocess.run([sys.executable, "-c", ray], check=True, capture_output=True, text=True)
        costs["ray_start_task_stop_s"] = round(float(done.stdout.strip().splitlines()[-1]), 2)
    except (subprocess.CalledProcessError, ValueError, IndexError):
        costs["ray_start_task_stop_s"] = None  # ray missing or broken here
    return costs


def _table(seconds: dict, total: float, count: int, unit: str) -> dict:
    stages = {name: {f"ms_per_{unit}": round(1000 * s / count, 2), "share": round(s / total, 3)}
              for name, s in sorted(seconds.items(), key=lambda item: -item[1])}
    return {f"total_ms_per_{unit}": round(1000 * total / count, 1), f"{unit}s": count, "stages": stages}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args(argv)
    from benchmarks.clips import make_clips
    from benchmarks.extract_throughput import decode_pairs
    from flowkit.flow.synthetic import stereo_pair

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="flowkit-profile-") as tmp:
        videos = Path(tmp) / "videos"
        content = make_clips(videos, args.clips, args.frames, (340, 256))
        pairs = decode_pairs(sorted(videos.rglob("*.mp4")), (340, 256))
        stereo = stereo_pair(width=340)
        report = {"benchmark": "profile_breakdown", "content": content, "pairs": len(pairs),
                  "pipeline": pipeline_stages(videos, Path(tmp) / "store.h5"),
                  "engine_fused": engine_stages(pairs, native=True),
                  "engine_torch": engine_stages(pairs, native=False),
                  "stereo_fused": engine_stages([(stereo.prev, stereo.next)], native=True),
                  "stereo_torch": engine_stages([(stereo.prev, stereo.next)], native=False),
                  "fixed": fixed_costs(),
                  "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())]}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
