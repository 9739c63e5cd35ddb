"""One pair, whole process: `flowkit flow A.png B.png -o f.npy` against OpenCV's TV-L1 `calc` alone.

    python -m benchmarks.flow_startup [--rounds 3] [--pairs stereo,photo,texture]

Pairs at about 340x256 with known flow: `stereo` is scikit-image's Middlebury motorcycle (a real
stereo pair, disparities up to 27 px, the hard case: TV-L1 runs all 7,500 iterations), `photo` the
astronaut photograph translated by 5 px, `texture` a procedural texture rotated by up to 3 px.

flowkit's figure is the wall time of the whole `python -m cli.flowkit_app flow` process (interpreter
start-up, imports, reading the PNGs, the fused kernel found in its cache, the flow, writing the
.npy); OpenCV's is `calc` alone in this warm process with its default threads (all cores), images
already in memory: nothing but the computation. Rounds alternate between the two; medians are
reported with the EPE of both against the true flow, the load average and the time `import torch`
takes in a fresh process (the floor under any torch program's start-up). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PAIRS = ("stereo", "photo", "texture")
SIZE = (256, 340)  # (H, W)


def make_pair(name: str):
    """The named FlowPair (flowkit.flow.synthetic), about 340 px wide."""
    from flowkit.flow.synthetic import make_pair as warp_image, stereo_pair, synthetic_pair

    if name == "stereo":
        return stereo_pair(width=SIZE[1])
    if name == "photo":
        from skimage.data import astronaut

        return warp_image(astronaut(), "translation", SIZE, magnitude=5.0, seed=0)
    if name == "texture":
        return synthetic_pair("rotation", *SIZE, magnitude=3.0, seed=0)
    raise ValueError(f"unknown pair {name!r}; choose from {', '.join(PAIRS)}")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def time_process(command: list[str]) -> float:
    """Wall seconds of a command run to completion (RuntimeError if it fails)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
    return seconds


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", default=",".join(PAIRS), help=f"comma list of {', '.join(PAIRS)}")
    args = parser.parse_args(argv)
    import cv2

    from flowkit.flow.metrics import endpoint_error

    load_before = os.getloadavg()
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    rows = []
    with tempfile.TemporaryDirectory(prefix="flowkit-startup-") as tmp:
        import_torch = [time_process([sys.executable, "-c", "import torch"]) for _ in range(args.rounds)]
        for name in args.pairs.split(","):
            pair = make_pair(name)
            a, b, out = Path(tmp, f"{name}_a.png"), Path(tmp, f"{name}_b.png"), Path(tmp, f"{name}.npy")
            cv2.imwrite(str(a), pair.prev)
            cv2.imwrite(str(b), pair.next)
            command = [sys.executable, "-m", "cli.flowkit_app", "flow", str(a), str(b), "-o", str(out)]
            time_process(command)  # builds the fused kernel into its cache if this machine has none yet
            ours, theirs = [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                reference = solver.calc(pair.prev, pair.next, None)
                theirs.append(time.perf_counter() - started)
                ours.append(time_process(command))
            flow = np.load(out)
            row = {"pair": name, "size": list(pair.prev.shape[::-1]),
                   "opencv_calc_s": round(statistics.median(theirs), 3),
                   "flowkit_flow_process_s": round(statistics.median(ours), 3),
                   "epe_flowkit_px": round(endpoint_error(flow, pair.flow, pair.valid), 4),
                   "epe_opencv_px": round(endpoint_error(reference.transpose(2, 0, 1), pair.flow, pair.valid), 4)}
            row["speedup"] = round(row["opencv_calc_s"] / row["flowkit_flow_process_s"], 2)
            print(f"  {name:8s} opencv calc {row['opencv_calc_s']:.2f} s, flowkit flow process "
                  f"{row['flowkit_flow_process_s']:.2f} s: x{row['speedup']}", file=sys.stderr)
            rows.append(row)
    result = {"benchmark": "flow_startup", "rounds": args.rounds, "opencv_threads": cv2.getNumThreads(),
              "import_torch_process_s": round(statistics.median(import_torch), 3),
              "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())], "results": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
