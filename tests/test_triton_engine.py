"""The fused Triton TV-L1 engine (flowkit/flow/triton_kernels.py), checked on every run without a GPU
under Triton's interpreter (TRITON_INTERPRET=1, which must be set before triton is imported: those
checks run in a fresh process), plus the pieces around it that need no Triton: engine selection,
a pair's independence from its batch-mates on the torch path, the memory count and batch sizing.

Tolerance against the C kernel (the CPU solver, flowkit/flow/tvl1_cpu.c): on one pyramid scale the
Triton flow equals it bit for bit (the same operations in the same order; the interpreter has no
fused multiply-add); with several scales the pyramid and the flow's upsampling are torch's
resize_linear against cv2.resize, which differ in the last bits, and the flows differ by at most
1e-4 px (measured: 1.2e-7 px on this test's pair, 4.8e-6 px on another).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from flowkit.flow import TVL1Engine
from flowkit.flow.engine import choose_engine, triton_available
from flowkit.flow.median import median_filter_torch, median_peak_planes, triton_median_source
from flowkit.flow.memory import MEDIAN_LIVE_RESULTS, bytes_per_pair, pairs_that_fit, peak_planes
from flowkit.flow.params import TVL1Params
from flowkit.flow.synthetic import synthetic_pair
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

REPO = Path(__file__).resolve().parents[1]
needs_triton = pytest.mark.skipif(not triton_available(), reason="needs the triton package")
SIZE = (24, 32)  # (H, W): the interpreter's cost grows with operations, so frames stay tiny
MULTI_SCALE_TOLERANCE_PX = 1e-4


def pairs(count: int = 3):
    """Textured pairs of increasing motion: they converge after different numbers of iterations."""
    made = [synthetic_pair(("rotation", "zoom", "translation")[i % 3], *SIZE, magnitude=0.5 + 2.5 * i, seed=5 + i)
            for i in range(count)]
    return np.stack([p.prev for p in made]), np.stack([p.next for p in made])


def run_interpreted(code: str, tmp_path: Path) -> dict:
    """Run `code` in a fresh Python with TRITON_INTERPRET=1; it saves arrays with save(name=array)
    and may set `info` (JSON); returns the arrays and info."""
    out = tmp_path / "result.npz"
    script = "import json, numpy as np\ninfo = {}\narrays = {}\ndef save(**kw): arrays.update(kw)\n" + \
        textwrap.dedent(code) + f"\nnp.savez({str(out)!r}, **arrays)\nprint(json.dumps(info))\n"
    env = {**os.environ, "TRITON_INTERPRET": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        result = {key: data[key] for key in data.files}
    result["info"] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_generated_median_network_is_current():
    assert (REPO / "flowkit/flow/triton_median.py").read_text() == triton_median_source()


@needs_triton
@pytest.mark.slow
def test_triton_flow_equals_the_cpu_solver(tmp_path):
    """Triton (interpreted) against the C kernel's solver on real textured pairs: bit for bit on one
    scale, with the illumination channel too (gamma > 0); within 1e-4 px on two scales."""
    prev, next = pairs(2)
    cases = {"one_scale": dict(nscales=1, warps=2, inner_iterations=6, outer_iterations=2),
             "gamma": dict(nscales=1, warps=1, inner_iterations=4, outer_iterations=2, gamma=0.1),
             "two_scales": dict(nscales=2, warps=1, inner_iterations=6, outer_iterations=2)}
    np.save(tmp_path / "prev.npy", prev[:1])
    np.save(tmp_path / "next.npy", next[:1])
    result = run_interpreted(f"""
        from flowkit.flow import TVL1Engine
        prev, next = np.load({str(tmp_path / 'prev.npy')!r}), np.load({str(tmp_path / 'next.npy')!r})
        for name, params in {cases!r}.items():
            engine = TVL1Engine(engine="triton", **params)
            save(**{{name: engine(prev, next).numpy()}})
            info[name] = engine.iterations.tolist()
    """, tmp_path)
    for name, params in cases.items():
        cpu = TVL1Engine(**params)
        assert cpu.engine == "native"
        expected = cpu(prev[:1], next[:1]).numpy()
        assert result["info"][name] == cpu.iterations.tolist()
        if name == "two_scales":
            assert np.abs(result[name] - expected).max() <= MULTI_SCALE_TOLERANCE_PX
        else:
            assert np.array_equal(result[name], expected), np.abs(result[name] - expected).max()


@needs_triton
@pytest.mark.slow
def test_triton_pair_flow_does_not_depend_on_batch_mates(tmp_path):
    """Pairs that converge at different iterations give bit-identical flow alone and in a batch."""
    prev, next = pairs(3)
    np.save(tmp_path / "prev.npy", prev)
    np.save(tmp_path / "next.npy", next)
    result = run_interpreted(f"""
        from flowkit.flow import TVL1Engine
        prev, next = np.load({str(tmp_path / 'prev.npy')!r}), np.load({str(tmp_path / 'next.npy')!r})
        engine = TVL1Engine(engine="triton", nscales=1, warps=1, inner_iterations=6, outer_iterations=2,
                            epsilon=0.05)
        save(batch=engine(prev, next).numpy())
        info["batch"] = engine.iterations.tolist()
        save(first=engine(prev[:1], next[:1]).numpy(), pair=engine(prev[[2, 0]], next[[2, 0]]).numpy())
    """, tmp_path)
    iterations = result["info"]["batch"]
    assert len(set(iterations)) > 1, iterations  # the batch-mates stop at different iterations
    assert np.array_equal(result["first"][0], result["batch"][0])
    assert np.array_equal(result["pair"], result["batch"][[2, 0]])  # another batch, another order


@needs_triton
@pytest.mark.slow
def test_kernels_compile_for_a_gpu_without_fused_multiply_adds():
    """The kernels as a GPU gets them, compiled here for sm_80 without a GPU: they build, and every
    operation rounds as the C kernel's (no fma; IEEE division and square root)."""
    code = textwrap.dedent("""
        import json, re
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from flowkit.flow import triton_kernels as tk
        types = dict(ids_ptr="*i32", changes_ptr="*i64", n_rows="i32", k="i32", h="i32", w="i32", l_t="fp32",
                     theta="fp32", taut="fp32", cap="fp32", scale="fp32", limit="i64", gamma="fp32", eps="fp32")
        counts = {}
        for fn, consts in ((tk._iteration_kernel, {"C": 2, "BLOCK": 256}),
                           (tk._linearize_kernel, {"C": 3, "BLOCK": 256}),
                           (tk._median_kernel, {"C": 2, "KSIZE": 5, "BLOCK": 256})):
            signature = {n: "constexpr" if n in consts else types.get(n, "*fp32") for n in fn.arg_names}
            kernel = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=consts),
                                    target=GPUTarget("cuda", 80, 32), options={"enable_fp_fusion": False})
            ptx = kernel.asm["ptx"]
            counts[fn.__name__] = {op: len(re.findall(pattern, ptx)) for op, pattern in (
                ("fma", r"\\bfma\\."), ("div_rn", r"div\\.rn\\.f32"), ("sqrt_rn", r"sqrt\\.rn\\.f32"),
                ("div_approx", r"div\\.(full|approx)"))}
        # The control: the same kernel with fusion allowed (Triton's default) has fused multiply-adds.
        signature = {n: "constexpr" if n in ("C", "BLOCK") else types.get(n, "*fp32")
                     for n in tk._linearize_kernel.arg_names}
        fused = triton.compile(ASTSource(fn=tk._linearize_kernel, signature=signature,
                                         constexprs={"C": 3, "BLOCK": 256}), target=GPUTarget("cuda", 80, 32))
        counts["fused_control"] = {"fma": len(re.findall(r"\\bfma\\.", fused.asm["ptx"]))}
        print(json.dumps(counts))
    """)
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    control = counts.pop("fused_control")
    assert control["fma"] > 0 and all(c["fma"] == 0 and c["div_approx"] == 0 for c in counts.values()), counts
    assert counts["_iteration_kernel"]["div_rn"] > 0 and counts["_iteration_kernel"]["sqrt_rn"] > 0, counts


@pytest.mark.parametrize("per_iteration", [True, False])
def test_torch_pair_flow_does_not_depend_on_batch_mates(per_iteration):
    """The torch path (in-place per-iteration, and the chunked masked path CUDA runs): bit-identical
    flow for a pair alone and among pairs that converge at other iterations."""
    prev, next = pairs(3)
    engine = TVL1Engine(native=False, per_iteration=per_iteration, nscales=2, warps=2, inner_iterations=6,
                        outer_iterations=3, epsilon=0.05)
    batch = engine(prev, next)
    assert len(set(engine.iterations.tolist())) > 1, engine.iterations
    for i in range(3):
        assert torch.equal(engine(prev[i], next[i])[0], batch[i]), i
    assert torch.equal(engine(prev[[2, 0]], next[[2, 0]]), batch[[2, 0]])
    # Slicing a batch to fit memory is the same thing.
    sliced = TVL1Engine(native=False, per_iteration=per_iteration, max_pairs=2, nscales=2, warps=2,
                        inner_iterations=6, outer_iterations=3, epsilon=0.05)
    assert torch.equal(sliced(prev, next), batch)


def test_engine_selection():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert choose_engine("auto", cpu, False, "bicubic") == "torch"
    assert choose_engine("auto", cuda, False, "bicubic") == ("triton" if triton_available() else "torch")
    assert choose_engine("auto", cuda, True, "bicubic") == "torch"  # compile asks for the torch engine
    assert choose_engine("auto", cuda, False, "bilinear") == "torch"
    assert choose_engine("torch", cuda, False, "bicubic") == "torch"
    with pytest.raises(ValueError, match="one of"):
        choose_engine("cudnn", cuda, False, "bicubic")
    with pytest.raises(ValueError, match="compile"):
        choose_engine("triton", cuda, True, "bicubic")
    with pytest.raises(ValueError, match="bicubic"):
        choose_engine("triton", cuda, False, "bilinear")
    if os.environ.get("TRITON_INTERPRET") != "1":
        with pytest.raises(ValueError, match="CUDA device"):
            TVL1Engine(engine="triton")


@pytest.mark.slow
def test_cpu_flow_never_imports_triton():
    code = ("import sys, numpy as np\nfrom flowkit.flow import TVL1Engine\n"
            "a = np.random.default_rng(0).integers(0, 255, (2, 24, 32), dtype=np.uint8)\n"
            "TVL1Engine(native=False, nscales=1, warps=1, inner_iterations=2, outer_iterations=1)(a, a[::-1])\n"
            "assert 'triton' not in sys.modules, 'triton imported'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@needs_triton
def test_auto_engine_falls_back_to_torch_when_triton_fails(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # only to be allowed to build it on the CPU
    params = dict(nscales=1, warps=1, inner_iterations=6, outer_iterations=1)
    engine = TVL1Engine(engine="triton", **params)
    engine._fallback = True  # as engine="auto" chooses it on CUDA

    def broken(*args, **kwargs):
        raise RuntimeError("PTX too new for this driver")

    monkeypatch.setattr(engine._triton, "linearize", broken)
    prev, next = pairs(2)
    with pytest.warns(RuntimeWarning, match="PTX too new"):
        flow = engine(prev, next)
    assert engine.engine in ("torch", "native")  # on CUDA "torch"; on the CPU the C solver
    assert torch.equal(flow, TVL1Engine(**params)(prev, next))
    explicit = TVL1Engine(engine="triton", **params)  # engine="triton" asked for: its failure is an error
    monkeypatch.setattr(explicit._triton, "linearize", broken)
    with pytest.raises(RuntimeError, match="PTX"):
        explicit(prev, next)


def test_flow_command_engine_option_selects_the_engine(tmp_path):
    from click.testing import CliRunner

    from cli.flowkit_app import main

    pair = synthetic_pair("rotation", *SIZE, magnitude=1.0, seed=2)
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), pair.prev)
    cv2.imwrite(str(tmp_path / "b.png"), pair.next)
    flows = {}
    for engine in ("auto", "torch"):
        result = CliRunner().invoke(main, ["flow", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o",
                                           str(tmp_path / f"{engine}.npy"), "--engine", engine, "--nscales", "1"])
        assert result.exit_code == 0, result.output
        flows[engine] = np.load(tmp_path / f"{engine}.npy")
    # On the CPU both are the C solver (engine="torch" means the torch engine, whose CPU path is it);
    # --engine triton there is a one-line error (tests/test_flow_cli.py).
    assert np.array_equal(flows["auto"], flows["torch"]) and np.abs(flows["auto"]).max() > 0.1


def test_extract_compile_flag_reaches_run_options(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import flowkit.extract
    from cli.flowkit_app import main

    seen = []

    class Stop(Exception):
        pass

    def fake_extract(paths, output, content, run):
        seen.append(run)
        raise Stop

    monkeypatch.setattr(flowkit.extract, "extract", fake_extract)
    (tmp_path / "v.mp4").write_bytes(b"")
    for args, compiled in (([], False), (["--compile"], True)):
        result = CliRunner().invoke(main, ["extract", str(tmp_path), "-o", str(tmp_path / "o.h5"), "--cpu", *args])
        assert len(seen) == (2 if compiled else 1), result.output  # the command got as far as extract()
        assert seen[-1].compile is compiled


# -- memory ------------------------------------------------------------------------------------


def peak_allocated_planes(engine: TVL1Engine, prev: np.ndarray, next: np.ndarray) -> float:
    """The most bytes torch held at once during engine(prev, next), from the profiler's allocation
    records, in float32 planes of the frame size per pair."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        engine(prev, next)
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    n, h, w = prev.shape
    return float(np.cumsum([nbytes for _, nbytes in events]).max()) / (4 * n * h * w)


def test_median_network_liveness():
    """The eager median keeps at most MEDIAN_LIVE_RESULTS results alive (it kept all 202 for 5x5)."""
    for ksize, live in MEDIAN_LIVE_RESULTS.items():
        assert median_peak_planes(ksize) == live
    planes = torch.randn(2, 2, 20, 24)
    from flowkit.flow.median import median_filter_opencv

    assert torch.equal(median_filter_torch(planes, 5), median_filter_opencv(planes, 5))


@pytest.mark.parametrize("engine_name", ["torch", "triton"])
def test_memory_count_matches_the_code(monkeypatch, engine_name):
    """peak_planes (written in docs/performance.md) against what the engine allocates, measured on the
    CPU at a small size: eager torch with the network median that CUDA runs, and the Triton engine's
    buffers with its kernels stubbed out (the interpreter's own copies are not what a GPU holds)."""
    h, w = 48, 64
    made = [synthetic_pair(m, h, w, magnitude=2.0, seed=i) for i, m in enumerate(("rotation", "zoom"))]
    prev, next = np.stack([p.prev for p in made]), np.stack([p.next for p in made])
    params = dict(nscales=5, warps=1, inner_iterations=6, outer_iterations=2)
    if engine_name == "triton":
        if not triton_available():
            pytest.skip("needs the triton package")
        monkeypatch.setenv("TRITON_INTERPRET", "1")
        engine = TVL1Engine(engine="triton", **params)
        for name in ("iterate", "median", "linearize"):
            monkeypatch.setattr(engine._triton, name, lambda *args, **kwargs: None)
    else:
        engine = TVL1Engine(native=False, per_iteration=False, **params)
        engine._median_planes = median_filter_torch  # CUDA's median (the CPU's is cv2.medianBlur)
    measured = peak_allocated_planes(engine, prev, next)
    counted = peak_planes(engine_name, h, w, engine.params)
    assert measured <= counted <= measured * 1.05, (measured, counted)


def test_batch_size_follows_free_memory(monkeypatch):
    params = TVL1Params()
    per_pair = bytes_per_pair("triton", 256, 340, params)
    assert 8e6 < per_pair < 10e6  # 26.5 planes of 340x256 float32 (docs/performance.md)
    assert pairs_that_fit(0, 256, 340, "triton", params) == 1
    assert pairs_that_fit(10 * per_pair, 256, 340, "triton", params) == 8  # 80% of free memory
    assert pairs_that_fit(10 * per_pair, 256, 340, "torch", params) == 2  # eager needs ~3x more
    assert peak_planes("torch", 256, 340, params, compiled=True) < peak_planes("torch", 256, 340, params)
    # The engine asks the device for its free memory: a fake CUDA device with 1 GiB free.
    engine = TVL1Engine(native=False)
    monkeypatch.setattr(engine, "device", torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**30, 2**34))
    engine.engine = "triton"
    assert engine.batch_limit(256, 340) == pairs_that_fit(2**30, 256, 340, "triton", params) == 93
    assert TVL1Engine(native=False, max_pairs=5).batch_limit(256, 340) == 5


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_triton_on_cuda_tracks_the_cpu_solver_and_ignores_batch_mates():
    """On a GPU: close to the CPU solver (the pyramid is torch's CUDA operators), and bit-identical
    alone and in a batch."""
    prev, next = pairs(3)
    params = dict(nscales=2, warps=2, inner_iterations=6, outer_iterations=3, epsilon=0.05)
    engine = TVL1Engine(device="cuda", **params)
    assert engine.engine == "triton"
    a, b = torch.from_numpy(prev).cuda(), torch.from_numpy(next).cuda()
    batch = engine(a, b)
    cpu = TVL1Engine(**params)(prev, next)
    assert float((batch.cpu() - cpu).abs().mean()) < 1e-3
    for i in range(3):
        assert torch.equal(engine(a[i : i + 1], b[i : i + 1])[0], batch[i]), i
