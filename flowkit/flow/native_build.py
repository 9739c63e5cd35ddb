"""Compiling the fused TV-L1 kernel (tvl1_cpu.c) into a shared library: the portable build made when the
package is installed (setup.py runs `build_installed`), and the machine-specific one flowkit.flow.native
makes at run time when the installed one is missing.

The installed library (tvl1_cpu.so, next to the source) is built for any CPU of its architecture: no
-march; on x86-64 the kernel's two entry points are cloned per instruction set (target_clones: AVX-512,
AVX2, baseline) and the loader picks the best one the CPU has, so one build serves every node of a
cluster. Where the compiler or the C library cannot clone (musl, old compilers) it is built plain. The
library holds the SHA-256 of the source it was built from (`tvl1_source_sha256()`): one built from
another tvl1_cpu.c (an editable install whose C file changed since) is not loaded; and its flags
(`-frecord-gcc-switches`, section .GCC.command.line).

Standard library only: setup.py loads this file by path, before the package's dependencies exist.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("tvl1_cpu.c")
LIBRARY_NAME = "tvl1_cpu.so"  # the installed library
INSTALL_DIR = SOURCE.parent  # where the installed library lives: next to the source
# No FMA contraction: products are rounded as torch rounds them. -fno-math-errno lets sqrtf vectorize.
COMMON_FLAGS = ("-O3", "-ffp-contract=off", "-fno-math-errno", "-fopenmp-simd", "-shared", "-fPIC")
PORTABLE_FLAGS = (*COMMON_FLAGS, "-frecord-gcc-switches")
NATIVE_FLAGS = (*COMMON_FLAGS, "-march=native")  # the run-time build: this machine's CPU only
NO_DISPATCH = "-DFLOWKIT_NO_DISPATCH"  # tvl1_cpu.c: no target_clones
COMPILE_TIMEOUT_S = 120


def find_compiler(*names: str | None) -> str | None:
    """The first of `names` found on PATH (None and empty names skipped); without names, $CC (else cc)."""
    for name in names or (os.environ.get("CC") or "cc",):
        if name:
            found = shutil.which(name)
            if found:
                return found
    return None


def source_digest() -> str:
    """SHA-256 (hex) of tvl1_cpu.c."""
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()


def compile_library(compiler: str, flags: tuple[str, ...] | list[str], target: Path) -> None:
    """Compile tvl1_cpu.c with `flags` into `target` (through a temporary name, then renamed, so a
    process loading it never sees a half-written file). OSError with the compiler's first line on failure."""
    scratch = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    command = [compiler, *flags, "-o", str(scratch), str(SOURCE)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        scratch.unlink(missing_ok=True)
        raise OSError(f"{compiler} failed to run: {exc}") from None
    if done.returncode != 0:
        scratch.unlink(missing_ok=True)
        detail = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise OSError(f"{compiler} could not build {SOURCE.name}: {detail}")
    os.replace(scratch, target)


def build_installed(compiler: str, folder: Path) -> Path:
    """The portable library (module docstring) built into `folder`; returns its path. Tries the build with
    instruction-set clones first, then a plain one. OSError when none compiles."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / LIBRARY_NAME
    stamp = f'-DFLOWKIT_SOURCE_SHA256="{source_digest()}"'
    attempts = ([*PORTABLE_FLAGS, stamp], [*PORTABLE_FLAGS, stamp, NO_DISPATCH],
                [*COMMON_FLAGS, stamp, NO_DISPATCH])  # the last for compilers that cannot record their flags
    for flags in attempts[:-1]:
        try:
            compile_library(compiler, flags, target)
            return target
        except OSError:
            pass
    compile_library(compiler, attempts[-1], target)
    return target


def library_info(path: Path) -> tuple[str, str]:
    """(SHA-256 of the source it was built from, instruction set its entry points run with here) of a
    built library; ("", "") for a library without them. OSError when it does not load."""
    lib = ctypes.CDLL(str(path))
    values = []
    for name in ("tvl1_source_sha256", "tvl1_isa"):
        try:
            fn = getattr(lib, name)
        except AttributeError:
            return "", ""
        fn.restype = ctypes.c_char_p
        values.append(fn().decode())
    return values[0], values[1]


def installed_library(folder: Path | None = None) -> tuple[Path | None, str]:
    """(path of the installed library, "") when it exists, loads and was built from this tvl1_cpu.c,
    else (None, why not)."""
    path = (folder if folder is not None else INSTALL_DIR) / LIBRARY_NAME
    if not path.is_file():
        return None, "the package was installed without it"
    try:
        digest, _ = library_info(path)
    except OSError as exc:
        return None, f"the installed one does not load: {exc}"
    if digest != source_digest():
        return None, "the installed one was built from another tvl1_cpu.c (rebuild: pip install -e .)"
    return path, ""


if __name__ == "__main__":  # python flowkit/flow/native_build.py: build the installed library in place
    compiler = find_compiler()
    if compiler is None:
        sys.exit("no C compiler on PATH (set CC)")
    print(build_installed(compiler, SOURCE.parent))
