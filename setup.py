"""The build step pyproject.toml cannot express: the fused TV-L1 kernel (flowkit/flow/tvl1_cpu.c) compiled
into the package (flowkit/flow/tvl1_cpu.so, portable) by `pip install .`,
`pip install -e .` and `pip wheel .`; see flowkit/flow/native_build.py. Optional: without a C compiler the
install succeeds and flowkit.flow.native builds the kernel at run time instead (with a warning)."""

import importlib.util
import os
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("native_build", HERE / "flowkit" / "flow" / "native_build.py")
assert _spec is not None and _spec.loader is not None
native_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(native_build)


class BuildKernel(build_ext):
    """Builds the kernel as a plain shared library loaded with ctypes (not a Python extension module)."""

    def get_ext_filename(self, fullname: str) -> str:
        package = fullname.split(".")[:-1]
        return os.path.join(*package, native_build.LIBRARY_NAME)

    def build_extension(self, ext: Extension) -> None:
        from setuptools.errors import CompileError

        target = Path(self.get_ext_fullpath(ext.name))
        configured = getattr(self.compiler, "compiler_so", None) or [None]
        compiler = native_build.find_compiler(os.environ.get("CC"), configured[0], "cc", "gcc", "clang")
        if compiler is None:
            raise CompileError("no C compiler found: flowkit will build its TV-L1 kernel at run time")
        try:
            native_build.build_installed(compiler, target.parent)
        except OSError as exc:
            raise CompileError(str(exc)) from None


setup(
    ext_modules=[Extension("flowkit.flow.tvl1_cpu", sources=["flowkit/flow/tvl1_cpu.c"], optional=True)],
    cmdclass={"build_ext": BuildKernel},
)
