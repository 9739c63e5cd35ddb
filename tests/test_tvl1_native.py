"""The fused CPU kernel (flowkit.flow.native, tvl1_cpu.c) against the torch formulas it replaces, and
its build cache and fallback."""

import platform
import warnings

import numpy as np
import pytest
import torch

from flowkit.flow import TVL1Engine, endpoint_error, native, native_build
from flowkit.flow.engine import tvl1_iteration_
from flowkit.flow.native_solver import NativeTVL1
from flowkit.flow.synthetic import MOTIONS, synthetic_pair
from flowkit.flow.remap import centered_gradient
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

SIZE = (72, 96)
CONSTANTS = dict(l_t=0.15 * 0.3, theta=0.3, taut=0.25 / 0.3)

kernel = native.load()
needs_kernel = pytest.mark.skipif(kernel is None, reason="no C compiler: the fused kernel cannot be built")


def random_state(n, c, h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    u, px, py, g = (torch.randn(n, c, h, w, generator=gen) for _ in range(4))
    neg_inv_grad = -torch.rand(n, 1, h, w, generator=gen)
    rho_c = torch.randn(n, 1, h, w, generator=gen)
    return u, px, py, g, neg_inv_grad, rho_c


@needs_kernel
@pytest.mark.parametrize("channels", [2, 3])  # 3: the illumination channel of gamma > 0
def test_kernel_iterations_equal_the_torch_iteration(channels):
    state = random_state(3, channels, 17, 23)
    ours = [t.clone() for t in state]
    expected = [t.clone() for t in state]
    active = np.ones(3, np.uint8)
    counts = np.zeros(3, np.int32)
    kernel.run_block(*ours, active, counts, 4, 0.0, **CONSTANTS)
    for _ in range(4):
        tvl1_iteration_(*expected, **CONSTANTS)
    for a, b in zip(ours[:3], expected[:3]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert counts.tolist() == [4, 4, 4] and active.tolist() == [1, 1, 1]


@needs_kernel
def test_kernel_stops_each_pair_at_its_own_convergence_and_skips_inactive_pairs():
    u, px, py, g, neg_inv_grad, rho_c = random_state(3, 2, 16, 20, seed=1)
    rho_c[1] = 0  # pair 1 starts at a fixed point of the data term: its flow barely moves
    u[1], px[1], py[1] = 0, 0, 0
    frozen = u[2].clone()
    active = np.array([1, 1, 0], np.uint8)
    counts = np.zeros(3, np.int32)
    kernel.run_block(u, px, py, g, neg_inv_grad, rho_c, active, counts, 10, 1e-6, **CONSTANTS)
    assert counts.tolist() == [10, 1, 0]  # pair 1 converged after one iteration; pair 2 was not touched
    assert active.tolist() == [1, 0, 0]
    assert torch.equal(u[2], frozen)


@needs_kernel
@pytest.mark.parametrize("gamma", [0.0, 0.1])
def test_kernel_linearization_equals_grid_sample_path(gamma):
    pair = synthetic_pair("rotation", *SIZE, magnitude=3.0, seed=2)
    i0 = torch.from_numpy(pair.prev).float()[None]
    i1 = torch.from_numpy(pair.next).float()[None]
    flow = torch.from_numpy(pair.flow)[None] * 1.3  # off the truth, and pointing outside the image at borders
    channels = 3 if gamma else 2
    u = torch.cat((flow, torch.full((1, channels - 2, *SIZE), 0.5)), 1)
    engine = TVL1Engine(native=False, gamma=gamma)
    i1x, i1y = centered_gradient(i1)
    expected = engine._linearize(i0, torch.stack((i1, i1x, i1y), 1), u)
    planes = torch.stack((i1, i1x, i1y, torch.zeros_like(i1)), -1)
    ours = (torch.empty_like(u), torch.empty(1, 1, *SIZE), torch.empty(1, 1, *SIZE))
    kernel.linearize(i0, planes, u, gamma, *ours)
    # torch samples at positions normalized to [-1, 1] and back, the kernel at p + u directly: sample
    # values differ in the last bits, so compare |grad I1w|^2 = -1 / neg_inv_grad rather than its
    # reciprocal, which magnifies those bits where the gradient vanishes.
    (g, neg_inv_grad, rho_c), (g_ref, neg_inv_grad_ref, rho_c_ref) = ours, expected
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=2e-3)
    torch.testing.assert_close(rho_c, rho_c_ref, rtol=1e-4, atol=2e-3)
    torch.testing.assert_close(-1 / neg_inv_grad, -1 / neg_inv_grad_ref, rtol=1e-4, atol=2e-3)


def test_torch_path_meets_the_opencv_oracle():
    """The torch iteration (the fallback without a compiler, and the CUDA formula) keeps the oracle rule."""
    pair = synthetic_pair("nonrigid", *SIZE, magnitude=3.0, seed=3)
    from flowkit.flow import compute_flow

    ours = TVL1Engine(native=False)(pair.prev, pair.next)[0]
    reference = compute_flow(pair.prev, pair.next, algo="opencv-tvl1")[0]
    assert endpoint_error(ours, pair.flow, pair.valid) <= 1.10 * endpoint_error(reference, pair.flow, pair.valid) + 0.03


@needs_kernel
def test_fused_engine_matches_torch_engine_and_counts_iterations():
    pairs = [synthetic_pair(MOTIONS[i], *SIZE, magnitude=2.0 + i, seed=10 + i) for i in range(4)]
    prev, next = np.stack([p.prev for p in pairs]), np.stack([p.next for p in pairs])
    fused, plain = TVL1Engine(), TVL1Engine(native=False)
    assert fused._native is not None and plain._native is None
    ours, expected = fused(prev, next), plain(prev, next)
    for i, pair in enumerate(pairs):
        assert endpoint_error(ours[i], expected[i]) < 0.03
        truth = endpoint_error(expected[i], pair.flow, pair.valid)
        assert endpoint_error(ours[i], pair.flow, pair.valid) <= truth * 1.05 + 0.005
    # Same convergence: iteration counts within a few of the torch path's, and well under the cap.
    assert np.abs(fused.iterations - plain.iterations).max() <= 5
    assert (fused.iterations < 4 * 5 * 300).all() and (fused.iterations > 0).all()


@needs_kernel
def test_threads_do_not_change_the_result():
    pairs = [synthetic_pair(MOTIONS[i % 4], *SIZE, magnitude=2.0, seed=20 + i) for i in range(5)]
    prev, next = np.stack([p.prev for p in pairs]), np.stack([p.next for p in pairs])
    one = TVL1Engine(threads=1)(prev, next)
    assert torch.equal(TVL1Engine(threads=3)(prev, next), one)
    with pytest.raises(ValueError, match="threads"):
        TVL1Engine(threads=0)


def test_switch_off_and_missing_compiler_fall_back_to_torch(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWKIT_CACHE_DIR", str(tmp_path))
    native.load.cache_clear()
    try:
        monkeypatch.setenv(native.ENV_SWITCH, "0")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # switched off on purpose: no warning
            assert native.load() is None
        assert TVL1Engine()._native is None
        native.load.cache_clear()
        monkeypatch.setenv(native.ENV_SWITCH, native.RUNTIME)  # as without an installed library
        monkeypatch.setenv("CC", "no-such-compiler-flowkit")
        with pytest.warns(RuntimeWarning, match="no C compiler"):
            assert native.load() is None
        with pytest.raises(ValueError, match="cannot be built"):
            TVL1Engine(native=True)
    finally:
        native.load.cache_clear()


@needs_kernel
def test_build_is_cached_per_source_and_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWKIT_CACHE_DIR", str(tmp_path))
    compiler = native._compiler()
    first = native._build(compiler)
    assert first.parent == tmp_path and first.is_file()
    stamp = first.stat().st_mtime_ns
    assert native._build(compiler) == first and first.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary files left behind


needs_compiler = pytest.mark.skipif(native._compiler() is None, reason="no C compiler to build the library with")


@pytest.fixture(scope="module")
def portable_library(tmp_path_factory):
    """The library as `pip install` builds it (setup.py), in a folder of its own."""
    return native_build.build_installed(native._compiler(), tmp_path_factory.mktemp("installed"))


def _loaded_alone(monkeypatch, folder):
    """native.load() with the installed library taken from `folder`, no compiler anywhere, every
    warning an error."""
    monkeypatch.setattr(native_build, "INSTALL_DIR", folder)
    monkeypatch.setenv("CC", "no-such-compiler-flowkit")
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)
    native.load.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return native.load()
    finally:
        native.load.cache_clear()


@needs_compiler
def test_the_installed_library_is_used_without_a_compiler(monkeypatch, portable_library, tmp_path):
    monkeypatch.setenv("FLOWKIT_CACHE_DIR", str(tmp_path / "cache"))
    loaded = _loaded_alone(monkeypatch, portable_library.parent)
    assert loaded is not None and loaded.path == portable_library
    assert not (tmp_path / "cache").exists()  # nothing compiled at run time


@needs_compiler
def test_the_installed_library_is_portable(portable_library):
    """No -march=native in it (its recorded flags say so), and on x86-64 its entry points are cloned
    per instruction set, the best the CPU has chosen when it loads."""
    data = portable_library.read_bytes()
    assert b"-ffp-contract=off" in data  # the flags are recorded (-frecord-gcc-switches)
    assert b"march=native" not in data and b"mtune=native" not in data
    digest, isa = native_build.library_info(portable_library)
    assert digest == native_build.source_digest()
    if platform.machine() == "x86_64":
        flags = open("/proc/cpuinfo").read()
        assert isa == ("avx512f" if " avx512f" in flags else "avx2" if " avx2" in flags else "default")


@needs_compiler
def test_installed_and_run_time_builds_give_the_same_flow(monkeypatch, portable_library, tmp_path):
    monkeypatch.setenv("FLOWKIT_CACHE_DIR", str(tmp_path))
    pairs = [synthetic_pair(MOTIONS[i], *SIZE, magnitude=2.0, seed=40 + i) for i in range(2)]
    prev, next = np.stack([p.prev for p in pairs]), np.stack([p.next for p in pairs])
    flows = [NativeTVL1(native.NativeKernel(path), threads=1)(prev, next)
             for path in (portable_library, native._build(native._compiler()))]
    np.testing.assert_allclose(flows[0], flows[1], atol=1e-3)  # summation order may differ by vector width


@needs_compiler
def test_a_library_from_another_source_or_none_falls_back_to_a_run_time_build_with_a_warning(
        monkeypatch, portable_library, tmp_path):
    monkeypatch.setenv("FLOWKIT_CACHE_DIR", str(tmp_path / "cache"))
    assert native_build.installed_library(portable_library.parent)[0] == portable_library
    monkeypatch.setattr(native_build, "source_digest", lambda: "0" * 64)  # the C file changed since the install
    path, why = native_build.installed_library(portable_library.parent)
    assert path is None and "another tvl1_cpu.c" in why
    monkeypatch.undo()
    monkeypatch.setenv("FLOWKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(native_build, "INSTALL_DIR", tmp_path / "empty")
    native.load.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="not built at install time"):
            loaded = native.load()
        assert loaded is not None and loaded.path.parent == tmp_path / "cache"
    finally:
        native.load.cache_clear()


@needs_compiler
def test_the_plain_build_without_clones_gives_the_same_flow(portable_library, tmp_path):
    """What aarch64 (and compilers or C libraries that cannot clone) build: one instruction set, no
    dispatch, and the same flow as the cloned library."""
    plain = tmp_path / native_build.LIBRARY_NAME
    native_build.compile_library(native._compiler(), [*native_build.PORTABLE_FLAGS, native_build.NO_DISPATCH], plain)
    assert native_build.library_info(plain)[1] == "fixed"
    pairs = [synthetic_pair(MOTIONS[i], *SIZE, magnitude=2.0, seed=50 + i) for i in range(2)]
    prev, next = np.stack([p.prev for p in pairs]), np.stack([p.next for p in pairs])
    flows = [NativeTVL1(native.NativeKernel(path), threads=1)(prev, next) for path in (portable_library, plain)]
    np.testing.assert_allclose(flows[0], flows[1], atol=1e-3)
