"""The torch-free CPU TV-L1 (flowkit.flow.native_solver) and the flow functions built on it: same flow
as the torch engine's own iterations, checked inputs, numpy in and out, and CPU extraction and
`flowkit flow` that never import torch (the start-up they save is the point)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowkit.flow import native
from flowkit.flow.functions import make_flow_fn
from flowkit.flow.params import TVL1Params
from flowkit.flow.synthetic import MOTIONS, synthetic_pair

SIZE = (72, 96)
FAST = dict(nscales=3, warps=2, inner_iterations=10, outer_iterations=2)
REPO = Path(__file__).resolve().parents[1]

kernel = native.load()
needs_kernel = pytest.mark.skipif(kernel is None, reason="no C compiler: the fused kernel cannot be built")


def _pairs(count=3):
    pairs = [synthetic_pair(MOTIONS[i % 4], *SIZE, magnitude=2.0 + i, seed=30 + i) for i in range(count)]
    return pairs, np.stack([p.prev for p in pairs]), np.stack([p.next for p in pairs])


@needs_kernel
@pytest.mark.parametrize("params", [{}, dict(gamma=0.1, median_filtering=3)])
def test_solver_matches_the_torch_engine(params):
    import torch

    from flowkit.flow import TVL1Engine, endpoint_error
    from flowkit.flow.native_solver import NativeTVL1

    pairs, prev, next = _pairs()
    solver = NativeTVL1(kernel, TVL1Params.from_kwargs(**params), threads=2)
    ours = solver(prev, next)
    assert ours.dtype == np.float32 and ours.shape == (3, 2, *SIZE)
    reference = TVL1Engine(native=False, **params)
    expected = reference(prev, next)
    for i, pair in enumerate(pairs):
        assert endpoint_error(torch.from_numpy(ours[i]), expected[i]) < 0.03
        assert endpoint_error(torch.from_numpy(ours[i]), pair.flow, pair.valid) < 0.3
    assert np.abs(solver.iterations - reference.iterations).max() <= 5
    # Float frames in [0, 1] are the same intensities, scaled by 255 as OpenCV does.
    assert np.allclose(solver(prev / 255.0, next / 255.0), ours, atol=1e-3)


@needs_kernel
def test_initial_flow_starts_the_coarsest_scale():
    from flowkit.flow.native_solver import NativeTVL1

    pair = synthetic_pair("translation", *SIZE, magnitude=6.0, seed=4)
    params = TVL1Params.from_kwargs(use_initial_flow=True, nscales=1, warps=2)
    solver = NativeTVL1(kernel, params)
    warm = solver(pair.prev, pair.next, initial_flow=pair.flow[None] + 0.5)[0]
    cold = NativeTVL1(kernel, TVL1Params.from_kwargs(nscales=1, warps=2))(pair.prev, pair.next)[0]
    error = lambda flow: float(np.hypot(*(flow - pair.flow))[pair.valid].mean())  # noqa: E731
    assert error(warm) < 0.5 * error(cold)
    with pytest.raises(ValueError, match="needs initial_flow"):
        solver(pair.prev, pair.next)
    with pytest.raises(ValueError, match="shape"):
        solver(pair.prev, pair.next, initial_flow=pair.flow)


@needs_kernel
@pytest.mark.parametrize(
    "prev, next, message",
    [
        (np.zeros((2, 3, 20, 20), np.uint8), np.zeros((2, 3, 20, 20), np.uint8), "gray frames"),
        (np.zeros((2, 20, 20), np.uint8), np.zeros((2, 20, 21), np.uint8), "differ in shape"),
        (np.zeros((0, 20, 20), np.uint8), np.zeros((0, 20, 20), np.uint8), "empty batch"),
        (np.zeros((1, 2, 20), np.uint8), np.zeros((1, 2, 20), np.uint8), "at least 3x3"),
        (np.zeros((1, 20, 20), np.int64), np.zeros((1, 20, 20), np.int64), "uint8 or floating"),
    ],
)
def test_bad_frames_are_refused(prev, next, message):
    from flowkit.flow.native_solver import NativeTVL1

    with pytest.raises(ValueError, match=message):
        NativeTVL1(kernel)(prev, next)
    with pytest.raises(ValueError, match="threads"):
        NativeTVL1(kernel, threads=0)


@pytest.mark.parametrize("algo", ["tvl1", "tvl1 without the kernel", "farneback", "opencv-tvl1"])
def test_flow_functions_take_and_give_numpy(algo, monkeypatch):
    from flowkit.flow.native_solver import NativeTVL1

    _, prev, next = _pairs(2)
    params = FAST if algo != "farneback" else {}
    if algo == "tvl1 without the kernel":  # the torch engine (no compiler; CUDA and compile take this way too)
        monkeypatch.setattr(native, "load", lambda: None)
        algo = "tvl1"
        assert not isinstance(make_flow_fn(algo, params), NativeTVL1)
    flow = make_flow_fn(algo, params)(prev, next)
    assert isinstance(flow, np.ndarray) and flow.dtype == np.float32 and flow.shape == (2, 2, *SIZE)
    if algo == "tvl1" and kernel is not None:  # either way, the same flow
        assert np.abs(flow - NativeTVL1(kernel, TVL1Params.from_kwargs(**params))(prev, next)).max() < 0.05
    with pytest.raises(ValueError, match="unknown flow algorithm"):
        make_flow_fn("nope", {})


TORCH_FREE_RUN = """
import json, sys
sys.path.insert(0, {tests!r})
from extract_videos import make_tree, textured_frames
import cv2
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.extract.devices import choose_device
from flowkit.flow.pair import flow_between_files
from flowkit.store import FlowStore
root = {root!r}
import glob
if not glob.glob("/dev/nvidia[0-9]*"):  # no GPU here: the default device is found without torch
    assert choose_device(None, False) == ("cpu", ())
make_tree(root + "/clips", {{"A/a1": 6, "B/b1": 5}})
options = ContentOptions(size=(64, 48), flow_params={params!r}, warped=True)
summary = extract([root + "/clips"], root + "/out.h5", options, RunOptions(workers=2, progress=False))
frames = textured_frames(2, (64, 48))
for t in range(2):
    cv2.imwrite(f"{{root}}/f{{t}}.png", frames[t])
pair = flow_between_files(root + "/f0.png", root + "/f1.png", root + "/flow.npy", params={params!r})
warped = flow_between_files(root + "/f0.png", root + "/f1.png", root + "/w.npy", params={params!r}, warped=True)
print(json.dumps({{"ok": summary.videos_ok, "frames": [v.num_frames for v in FlowStore(root + "/out.h5").videos],
                  "flow": list(pair.flow.shape), "warped": list(warped.warped_flow.shape),
                  "torch": "torch" in sys.modules}}))
"""


@needs_kernel
def test_cpu_extraction_and_one_pair_never_import_torch(tmp_path):
    """Importing torch costs a CPU run seconds (more than a short job's flow on a slow machine): the
    CPU TV-L1 paths, warped flow included, must not load it, neither directly nor through a module
    that imports it."""
    code = TORCH_FREE_RUN.format(tests=str(REPO / "tests"), root=str(tmp_path), params=FAST)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"ok": 2, "frames": [6, 5], "flow": [2, 48, 64], "warped": [2, 48, 64], "torch": False}
