"""`flowkit flow`: output file, picture, algorithms, and a one-line error with a non-zero exit for
each kind of bad input."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cli.flowkit_app import main
from flowkit.flow import endpoint_error, native_build
from flowkit.flow.synthetic import synthetic_pair


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    pair = synthetic_pair("rotation", 48, 64, magnitude=2.0, seed=3)
    paths = {}
    for name, image in (("a", pair.prev), ("b", pair.next), ("small", pair.prev[:40, :40])):
        paths[name] = folder / f"{name}.png"
        cv2.imwrite(str(paths[name]), image)
    paths["text"] = folder / "notes.png"
    paths["text"].write_text("not an image")
    return paths, pair


def run(*args):
    return CliRunner().invoke(main, ["flow", *map(str, args)])


@pytest.mark.parametrize("algo", ["tvl1", "opencv-tvl1", "farneback"])
def test_writes_float32_flow_and_picture(images, tmp_path, algo):
    paths, pair = images
    out, viz = tmp_path / "flow.npy", tmp_path / "flow.png"
    result = run(paths["a"], paths["b"], "-o", out, "--viz", viz, "--algo", algo)
    assert result.exit_code == 0, result.output
    flow = np.load(out)
    assert flow.shape == (2, 48, 64) and flow.dtype == np.float32
    assert endpoint_error(flow, pair.flow, pair.valid) < (0.5 if algo == "farneback" else 0.2)
    picture = cv2.imread(str(viz))
    assert picture.shape == (48, 64, 3) and picture.std() > 0


def test_tvl1_parameters_reach_the_solver(images, tmp_path):
    paths, pair = images
    run(paths["a"], paths["b"], "-o", tmp_path / "default.npy")
    result = run(paths["a"], paths["b"], "-o", tmp_path / "coarse.npy", "--nscales", "1", "--warps", "1",
                 "--inner-iterations", "3", "--outer-iterations", "1", "--lambda", "0.05")
    assert result.exit_code == 0, result.output
    default, coarse = np.load(tmp_path / "default.npy"), np.load(tmp_path / "coarse.npy")
    assert endpoint_error(coarse, pair.flow, pair.valid) > 2 * endpoint_error(default, pair.flow, pair.valid)


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.png", "{b}"], "no such image file"),
        (["{a}", "{small}"], "differ in size"),
        (["{text}", "{b}"], "cannot decode"),
        (["{a}", "{b}", "--tau", "-1"], "tau must be a positive number"),
        (["{a}", "{b}", "--tau", "abc"], "--tau must be a number"),
        (["{a}", "{b}", "--nscales", "2.5"], "--nscales must be an integer"),
        (["{a}", "{b}", "--threads", "0"], "--threads must be at least 1"),
        (["{a}", "{b}", "--median-filtering", "4"], "median_filtering"),
        (["{a}", "{b}", "--device", "cuda:7"], "cuda:7"),
        (["{a}", "{b}", "--device", "tpu"], "invalid device"),
        (["{a}", "{b}", "--algo", "farneback", "--warps", "2"], "do not apply"),
        (["{a}", "{b}", "--viz", "{out}/picture.unknown"], "cannot write image"),
        (["{a}", "{b}", "--engine", "triton"], "engine='triton' needs a CUDA device"),
        (["{a}", "{b}", "--algo", "farneback", "--engine", "torch"], "engine applies to tvl1 only"),
    ],
)
def test_bad_input_gives_one_line_error(images, tmp_path, args, message):
    paths, _ = images
    names = {key: str(value) for key, value in paths.items()} | {"out": str(tmp_path)}
    result = run(*[a.format(**names) for a in args], "-o", tmp_path / "flow.npy")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_output_folders_are_created(images, tmp_path):
    paths, _ = images
    output, picture = tmp_path / "new" / "deeper" / "flow.npy", tmp_path / "pictures" / "flow.png"
    result = run(paths["a"], paths["b"], "--algo", "farneback", "-o", output, "--viz", picture)
    assert result.exit_code == 0, result.output
    assert np.load(output).shape == (2, 48, 64) and cv2.imread(str(picture)) is not None
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    result = run(paths["a"], paths["b"], "-o", blocker / "flow.npy")  # fails before computing anything
    assert (result.exit_code == 2
            and result.output.startswith(f"Error: cannot create the folder for {blocker / 'flow.npy'}"))


def test_console_script_end_to_end(images, tmp_path):
    """The installed entry point, as a user runs it: a real process, no traceback on errors."""
    paths, _ = images
    flowkit = [sys.executable, "-c", "from cli.flowkit_app import main; main()", "flow"]
    ok = subprocess.run(flowkit + [str(paths["a"]), str(paths["b"]), "-o", str(tmp_path / "f.npy")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert np.load(tmp_path / "f.npy").shape == (2, 48, 64)
    bad = subprocess.run(flowkit + ["nope.png", str(paths["b"]), "-o", str(tmp_path / "g.npy")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "Error: no such image file: nope.png"


@pytest.mark.skipif(native_build.installed_library()[0] is None, reason="the package's kernel is not built")
def test_the_installed_kernel_needs_no_compiler_nor_torch(images, tmp_path):
    """The kernel built at install time: without any compiler on PATH the command prints its usual line
    only (no warning), builds nothing, and never imports torch."""
    paths, pair = images
    env = {**os.environ, "CC": "no-such-compiler-flowkit", "PATH": "", "FLOWKIT_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("FLOWKIT_NATIVE", None)
    code = ("import atexit, sys; atexit.register(lambda: print('torch', 'torch' in sys.modules, file=sys.stderr)); "
            "from cli.flowkit_app import main; main()")
    done = subprocess.run([sys.executable, "-c", code, "flow", str(paths["a"]), str(paths["b"]), "-o",
                           str(tmp_path / "f.npy")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    summary, torch_line = done.stderr.splitlines()
    assert summary.startswith("flow 64x48 (tvl1) -> ") and torch_line == "torch False"
    assert not (tmp_path / "cache").exists()
    assert endpoint_error(np.load(tmp_path / "f.npy"), pair.flow, pair.valid) < 0.2


def test_without_a_c_compiler_the_command_falls_back_with_one_warning_line(images, tmp_path):
    """A machine with neither the installed kernel (FLOWKIT_NATIVE=runtime stands for an install without
    a compiler) nor a C compiler: the torch iterations run instead of the fused kernel, and the user
    reads one line saying so (no source line, no traceback)."""
    paths, pair = images
    env = {**os.environ, "CC": "no-such-compiler-flowkit", "FLOWKIT_CACHE_DIR": str(tmp_path / "cache"),
           "FLOWKIT_NATIVE": "runtime"}
    flowkit = [sys.executable, "-c", "from cli.flowkit_app import main; main()", "flow"]
    done = subprocess.run(flowkit + [str(paths["a"]), str(paths["b"]), "-o", str(tmp_path / "f.npy")],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    warning, summary = done.stderr.splitlines()  # the warning, then the usual summary line
    assert warning == ("Warning: flowkit: the fused CPU TV-L1 kernel is unavailable (FLOWKIT_NATIVE=runtime asks "
                       "for a build at run time; no C compiler (no-such-compiler-flowkit) on PATH); using the slower "
                       "torch iterations. Set FLOWKIT_NATIVE=0 to silence this.")
    assert summary.startswith("flow 64x48 (tvl1) -> ")
    assert endpoint_error(np.load(tmp_path / "f.npy"), pair.flow, pair.valid) < 0.2


def test_help_states_the_convention():
    result = run("--help")
    assert result.exit_code == 0
    assert "B(p + flow(p)) ~ A(p)" in result.output and "x then y" in result.output
