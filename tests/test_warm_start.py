"""Warm-started and fast TV-L1 (flowkit.flow.warm): against ground truth on sequences of known flow,
against plain TV-L1 (the first pair, the composition of scales), and in extraction (byte records of
the store, the chain across windows)."""

import numpy as np
import pytest

from flowkit.flow import native
from flowkit.flow.functions import make_flow_fn
from flowkit.flow.metrics import endpoint_error
from flowkit.flow.native_solver import NativeTVL1
from flowkit.flow.params import TVL1Params
from flowkit.flow.synthetic import MOTIONS, synthetic_sequence
from flowkit.flow.warm import SequenceTVL1

pytestmark = pytest.mark.skipif(native.load() is None, reason="the CPU kernel does not build here")


def _solver(p: TVL1Params):
    return NativeTVL1(native.load(), p, 1)


@pytest.mark.parametrize("motion", MOTIONS)
def test_sequence_frames_follow_their_flow(motion):
    seq = synthetic_sequence(motion, frames=4, height=48, width=64, magnitude=2.0, seed=3)
    import cv2

    ys, xs = np.mgrid[0:48, 0:64].astype(np.float32)
    for k in range(3):  # next(p + flow(p)) = prev(p), up to the bicubic resampling
        warped = cv2.remap(seq.frames[k + 1].astype(np.float32), xs + seq.flow[0], ys + seq.flow[1], cv2.INTER_CUBIC)
        inside = seq.valid.copy()
        inside[:3], inside[-3:], inside[:, :3], inside[:, -3:] = False, False, False, False
        assert np.abs(warped - seq.frames[k])[inside].mean() < 2.0


def test_warm_start_needs_fewer_iterations_at_the_same_error():
    seqs = [synthetic_sequence(m, frames=6, height=64, width=80, magnitude=2.0, seed=i) for i, m in enumerate(MOTIONS)]
    cold = SequenceTVL1(_solver, TVL1Params(), warm_start=False)
    warm = SequenceTVL1(_solver, TVL1Params(), warm_start=True)
    for seq in seqs:
        prev, next = seq.frames[:-1], seq.frames[1:]
        a, b = cold(prev, next), warm(prev, next)
        np.testing.assert_array_equal(a[0], b[0])  # the first pair is plain TV-L1
        assert warm.iterations[0] == cold.iterations[0]
        assert warm.iterations[1:].sum() < 0.7 * cold.iterations[1:].sum()
        for x, y in zip(a, b):
            assert endpoint_error(y, seq.flow, seq.valid) <= 1.2 * endpoint_error(x, seq.flow, seq.valid) + 0.01
        # chained across calls: the second half from the first half's last flow equals one call
        tail = warm(prev[3:], next[3:], b[2], first_pair=3)
        np.testing.assert_array_equal(tail, b[3:])


def test_chains_restart_cold_at_fixed_pairs_however_the_calls_cut_them():
    seq = synthetic_sequence("translation", frames=8, height=48, width=64, seed=1)
    prev, next = seq.frames[:-1], seq.frames[1:]
    plain = SequenceTVL1(_solver, TVL1Params(), warm_start=False)(prev, next)
    warm = SequenceTVL1(_solver, TVL1Params(), warm_start=True, restart=3)
    whole = warm(prev, next)
    np.testing.assert_array_equal(whole[[0, 3, 6]], plain[[0, 3, 6]])  # chains [0, 1, 2], [3, 4, 5], [6]
    assert not np.array_equal(whole[1], plain[1]) and not np.array_equal(whole[4], plain[4])
    pieces = [warm(prev[:2], next[:2])]
    pieces.append(warm(prev[2:5], next[2:5], pieces[-1][-1], first_pair=2))
    pieces.append(warm(prev[5:], next[5:], pieces[-1][-1], first_pair=5))
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_fast_is_plain_tvl1_with_a_looser_finest_scale(monkeypatch):
    import flowkit.flow.warm as warm

    seq = synthetic_sequence("rotation", frames=3, height=64, width=80, seed=2)
    prev, next = seq.frames[:-1], seq.frames[1:]
    plain = _solver(TVL1Params())
    expected = plain(prev, next)
    # The composition (coarse scales on downscaled frames, then the finest) with the normal tolerance
    # is the solver, bit for bit.
    monkeypatch.setattr(warm, "FAST_EPSILON", TVL1Params().epsilon)
    composed = SequenceTVL1(_solver, TVL1Params(), warm_start=False, fast=True)(prev, next)
    np.testing.assert_array_equal(composed, expected)
    monkeypatch.undo()
    fast = SequenceTVL1(_solver, TVL1Params(), warm_start=False, fast=True)
    flow = fast(prev, next)
    assert fast.iterations.sum() < plain.iterations.sum()
    for x, y in zip(expected, flow):
        assert endpoint_error(y, seq.flow, seq.valid) <= 1.2 * endpoint_error(x, seq.flow, seq.valid) + 0.01


def test_make_flow_fn_and_options_refuse_other_algorithms():
    from flowkit.extract import ContentOptions

    with pytest.raises(ValueError, match="apply to --algo tvl1 only"):
        make_flow_fn("farneback", {}, warm_start=True)
    with pytest.raises(ValueError, match="apply to --algo tvl1 only"):
        ContentOptions(algo="farneback", fast=True)


def test_extraction_with_warm_start_depends_on_neither_windows_nor_workers(tmp_path):
    from extract_videos import write_video
    from flowkit.extract import ContentOptions, RunOptions, extract
    from flowkit.store import FlowStore

    video = write_video(tmp_path / "v" / "clip.mp4", frames=12, size=(64, 48), shift=(1, 1))
    content = ContentOptions(size=(64, 48), warm_start=True, fast=True, rgb=False, warped=True)
    stores = {}
    for batch, workers in ((3, 0), (16, 2)):  # windows of 3 pairs or one window: the chain carries over
        out = tmp_path / f"b{batch}.h5"
        extract([video], out, content, RunOptions(workers=workers, progress=False, batch_pairs=batch))
        stores[batch] = out
    plain = tmp_path / "plain.h5"
    extract([video], plain, ContentOptions(size=(64, 48), rgb=False), RunOptions(workers=0, progress=False))
    with FlowStore(stores[3]) as a, FlowStore(stores[16]) as b, FlowStore(plain) as c:
        assert a.attrs["warm_start"] and a.attrs["fast"] and "warm_start" not in c.attrs
        fa, fb, fc = (s.read_flow(0, range(11)) for s in (a, b, c))
        np.testing.assert_array_equal(a.read("warp_x", 0, range(11)), b.read("warp_x", 0, range(11)))
    np.testing.assert_array_equal(fa, fb)
    assert np.abs(fa - fc).mean() < 0.1  # close to plain TV-L1, not the same


@pytest.mark.slow
def test_the_torch_engine_runs_the_same_schedule(monkeypatch):
    pytest.importorskip("torch")
    from flowkit.flow import functions

    seq = synthetic_sequence("zoom", frames=5, height=40, width=48, seed=4)
    params = {"nscales": 3, "warps": 2}
    native_fn = make_flow_fn("tvl1", params, warm_start=True, fast=True)
    expected = native_fn(seq.frames[:-1], seq.frames[1:])
    monkeypatch.setattr(native, "load", lambda: None)  # no kernel: the torch engine (the GPU's solver)
    engine_fn = functions.make_flow_fn("tvl1", params, warm_start=True, fast=True)
    assert isinstance(engine_fn._solver(3, 0.01, False), functions._EngineSolver)
    flow = engine_fn(seq.frames[:-1], seq.frames[1:])
    assert np.abs(flow - expected).mean() < 0.01
    np.testing.assert_array_equal(engine_fn.iterations > 0, True)


def test_cpu_extraction_with_warm_start_and_fast_never_imports_torch(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    code = f"""
import json, sys
sys.path.insert(0, {str(repo / "tests")!r})
from extract_videos import make_tree
from flowkit.extract import ContentOptions, RunOptions, extract
make_tree({str(tmp_path)!r} + "/clips", {{"A/a1": 6, "B/b1": 5}})
options = ContentOptions(size=(64, 48), warm_start=True, fast=True, warped=True)
summary = extract([{str(tmp_path)!r} + "/clips"], {str(tmp_path)!r} + "/out.h5", options,
                  RunOptions(workers=2, progress=False))
print(json.dumps({{"ok": summary.videos_ok, "torch": "torch" in sys.modules}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"ok": 2, "torch": False}
