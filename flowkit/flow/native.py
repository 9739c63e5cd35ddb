"""The fused CPU kernel of the TV-L1 inner iterations (tvl1_cpu.c), loaded with ctypes.

Eager torch runs an iteration as a score of separate passes over memory; the C kernel makes one, so
the memory-bound iteration runs several times faster on CPU. The library is built when the package
is installed (setup.py, flowkit.flow.native_build: portable, the instruction set chosen when it is
loaded), so no machine needs a compiler to run it. When the installed library is missing (installed
without a compiler, or a source checkout never built), it is compiled at run time with the machine's
C compiler (`$CC`, else `cc`) for this CPU (-march=native), with one warning, and kept in the cache
folder (`$FLOWKIT_CACHE_DIR`, else `$XDG_CACHE_HOME/flowkit`, else `~/.cache/flowkit`) under a name
that hashes the source, the flags, the compiler and the CPU's features. Without either, or with
`FLOWKIT_NATIVE=0`, `load()` returns None and the engine runs its torch iteration (same results up
to rounding), with one warning saying why. `FLOWKIT_NATIVE=runtime` skips the installed library and
builds for this CPU (to compare the two). Calls release the GIL, so threads run pairs in parallel.
Buffers are numpy arrays (or CPU torch tensors, read through numpy without a copy): this module does
not import torch, so a CPU process can solve flow without paying its import.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import tempfile
import warnings
from pathlib import Path

import numpy as np

from flowkit.flow import native_build
from flowkit.flow.native_build import SOURCE

FLAGS = (*native_build.NATIVE_FLAGS, native_build.NO_DISPATCH)  # the run-time build's
ENV_SWITCH = "FLOWKIT_NATIVE"  # "0" turns the kernel off; "runtime" builds it for this CPU, ignoring the installed one
RUNTIME = "runtime"
_FLOAT_P = ctypes.POINTER(ctypes.c_float)


def cache_dir() -> Path:
    """Where compiled kernels are kept: $FLOWKIT_CACHE_DIR, $XDG_CACHE_HOME/flowkit or ~/.cache/flowkit."""
    if os.environ.get("FLOWKIT_CACHE_DIR"):
        return Path(os.environ["FLOWKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flowkit"


def _cpu_features() -> str:
    """The CPU's feature flags (the library is built with -march=native, so a cache shared between
    machines must not hand one CPU's build to another)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor()


def _library_name(compiler: str) -> str:
    stat = os.stat(compiler)
    key = hashlib.sha256()
    compiler_id = f"{compiler} {stat.st_size} {stat.st_mtime_ns}"
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), compiler_id.encode(), _cpu_features().encode(),
                 platform.machine().encode()):
        key.update(part)
        key.update(b"\0")
    return f"tvl1_cpu-{key.hexdigest()[:20]}.so"


def _build(compiler: str) -> Path:
    """The library compiled for this machine, from the cache or compiled now. OSError on failure."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="flowkit-native-"))  # private to this process
    target = folder / _library_name(compiler)
    if not target.is_file():
        native_build.compile_library(compiler, FLAGS, target)
    return target


class NativeKernel:
    """ctypes binding of tvl1_cpu.c: the linearization of a warp and blocks of in-place iterations."""

    def __init__(self, path: Path):
        self.path = path
        lib = ctypes.CDLL(str(path))
        fn = lib.tvl1_iterate_block
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int] * 4 + [_FLOAT_P] * 6 + [ctypes.c_float] * 3 + [
            ctypes.c_double, ctypes.c_int, ctypes.POINTER(ctypes.c_ubyte), ctypes.POINTER(ctypes.c_int)]
        self._fn = fn
        linearize = lib.tvl1_linearize
        linearize.restype = ctypes.c_int
        linearize.argtypes = [ctypes.c_int] * 4 + [_FLOAT_P] * 3 + [ctypes.c_float] + [_FLOAT_P] * 3
        self._linearize = linearize

    def linearize(self, i0, planes, u, gamma: float, g, neg_inv_grad, rho_c) -> None:
        """The linearization of TV-L1's data term around u in one pass, for every pair of the batch, into
        g (N, C, H, W), neg_inv_grad and rho_c (N, 1, H, W). i0: (N, H, W) float32; planes: (N, H, W, 4) =
        I1, dI1/dx, dI1/dy and an unused plane, interleaved; u: (N, C, H, W). Bicubic warping, zero
        outside. All C-contiguous float32 (numpy, or CPU tensors)."""
        i0, planes, u, g, neg_inv_grad, rho_c = _buffers(i0, planes, u, g, neg_inv_grad, rho_c)
        n, c, h, w = u.shape
        status = self._linearize(n, c, h, w, _ptr(i0), _ptr(planes), _ptr(u), gamma, _ptr(g), _ptr(neg_inv_grad),
                                 _ptr(rho_c))
        if status != 0:
            raise MemoryError("the native TV-L1 kernel could not allocate its row buffer")

    def run_block(self, u, px, py, g, neg_inv_grad, rho_c, active: np.ndarray, done: np.ndarray, iterations: int,
                  scaled_epsilon: float, l_t: float, theta: float, taut: float) -> None:
        """Iterate every pair of the batch in place, at most `iterations` times.

        u, px, py, g: C-contiguous float32 (N, C, H, W) (numpy, or CPU tensors); neg_inv_grad, rho_c:
        (N, 1, H, W). active: (N,)
        uint8 numpy, set to 0 for the pairs that converge; done: (N,) int32 numpy, iterations run per
        pair (incremented). A pair stops after the first iteration whose summed squared flow change is
        <= scaled_epsilon. The call releases the GIL: threads may run different batches at once.
        """
        u, px, py, g, neg_inv_grad, rho_c = _buffers(u, px, py, g, neg_inv_grad, rho_c)
        n, c, h, w = u.shape
        status = self._fn(n, c, h, w, _ptr(u), _ptr(px), _ptr(py), _ptr(g), _ptr(neg_inv_grad), _ptr(rho_c),
                          l_t, theta, taut, scaled_epsilon, iterations,
                          active.ctypes.data_as(ctypes.POINTER(ctypes.c_ubyte)),
                          done.ctypes.data_as(ctypes.POINTER(ctypes.c_int)))
        if status != 0:
            raise MemoryError("the native TV-L1 kernel could not allocate its row buffer")


def _buffers(*arrays) -> list[np.ndarray]:
    """The arrays as numpy views of the same memory (a CPU tensor converts without a copy); ValueError
    unless each is C-contiguous float32, since the kernel writes through raw pointers."""
    views = []
    for a in arrays:
        try:
            view = np.asarray(a)  # a CUDA tensor raises here
        except (TypeError, RuntimeError):
            view = None
        if view is None or view.dtype != np.float32 or not view.flags.c_contiguous:
            raise ValueError("the native TV-L1 kernel needs C-contiguous float32 CPU arrays")
        views.append(view)
    return views


def _ptr(a: np.ndarray):
    """A float pointer to the first element of a C-contiguous float32 array."""
    return a.ctypes.data_as(_FLOAT_P)


def _compiler() -> str | None:
    return native_build.find_compiler()


@functools.lru_cache(maxsize=1)
def load() -> NativeKernel | None:
    """The kernel: the installed library, else one built at run time (warned, cached), else None (warned)."""
    switch = os.environ.get(ENV_SWITCH, "1")
    if switch == "0":
        return None
    if switch == RUNTIME:
        installed, missing = None, f"{ENV_SWITCH}={RUNTIME} asks for a build at run time"
    else:
        installed, missing = native_build.installed_library()
    if installed is not None:
        return NativeKernel(installed)
    compiler = _compiler()
    if compiler is None:
        reason = f"{missing}; no C compiler ({os.environ.get('CC') or 'cc'}) on PATH"
    else:
        try:
            kernel = NativeKernel(_build(compiler))
        except OSError as exc:
            reason = f"{missing}; {exc}"
        else:
            if switch != RUNTIME:
                warnings.warn(f"flowkit: the fused CPU TV-L1 kernel was not built at install time ({missing}); "
                              f"compiled it for this machine with {os.path.basename(compiler)}. Reinstall with a C "
                              f"compiler (pip install .) to build it once for every machine.", RuntimeWarning,
                              stacklevel=2)
            return kernel
    warnings.warn(f"flowkit: the fused CPU TV-L1 kernel is unavailable ({reason}); using the slower torch "
                  f"iterations. Set {ENV_SWITCH}=0 to silence this.", RuntimeWarning, stacklevel=2)
    return None
