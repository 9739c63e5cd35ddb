"""The command line's two kinds of failure: the user's (flowkit.errors, a full disk) as one line and
exit status 2; any other exception, a bug, with its traceback and a line asking to report it, exit 1."""

import errno
import pickle

import pytest
from click.testing import CliRunner

from cli.flowkit_app import main
from cli.lazy_group import BUG_EXIT_CODE, REPORT_LINE, USER_EXIT_CODE
from flowkit import errors
from flowkit.flow import pair


def run_flow_raising(monkeypatch, exc: BaseException):
    """`flowkit flow a.png b.png -o f.npy` whose library call raises `exc`."""
    def failing(*args, **kwargs):
        raise exc

    monkeypatch.setattr(pair, "flow_between_files", failing)
    return CliRunner().invoke(main, ["flow", "a.png", "b.png", "-o", "f.npy"])


@pytest.mark.parametrize("exc, line", [
    (errors.UserValueError("tau must be positive"), "Error: tau must be positive"),
    (errors.UserFileNotFoundError("no such image file: a.png"), "Error: no such image file: a.png"),
    (errors.UserKeyError("no video named 'x' in s.h5"), "Error: no video named 'x' in s.h5"),  # not quoted
    (OSError(errno.ENOSPC, "No space left on device"), "Error: [Errno 28] No space left on device"),
])
def test_user_and_machine_errors_are_one_line(monkeypatch, exc, line):
    result = run_flow_raising(monkeypatch, exc)
    assert result.exit_code == USER_EXIT_CODE
    assert result.output.splitlines() == [line]


@pytest.mark.parametrize("exc", [ValueError("operands could not be broadcast"), KeyError("flow_x"),
                                 FileNotFoundError(errno.ENOENT, "No such file", "/tmp/internal"),
                                 TypeError("unexpected keyword"), AttributeError("no attribute")])
def test_a_bug_keeps_its_traceback_and_asks_for_a_report(monkeypatch, exc):
    """ValueError, KeyError and OSError raised by the code (not flowkit.errors) are bugs too."""
    result = run_flow_raising(monkeypatch, exc)
    assert result.exit_code == BUG_EXIT_CODE
    lines = result.output.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any("in failing" in line for line in lines)  # where it was raised
    assert lines[-2].startswith(type(exc).__name__) and lines[-1] == REPORT_LINE
    assert not any(line.startswith("Error:") for line in lines)


def test_real_bad_input_is_still_one_line(tmp_path):
    result = CliRunner().invoke(main, ["flow", str(tmp_path / "missing.png"), str(tmp_path / "b.png"), "-o",
                                       str(tmp_path / "f.npy")])
    assert result.exit_code == USER_EXIT_CODE
    assert result.output.splitlines() == [f"Error: no such image file: {tmp_path / 'missing.png'}"]


@pytest.mark.parametrize("kind, builtin", [("UserValueError", ValueError), ("UserFileNotFoundError", FileNotFoundError),
                                           ("UserFileExistsError", FileExistsError),
                                           ("UserIsADirectoryError", IsADirectoryError), ("UserOSError", OSError),
                                           ("UserKeyError", KeyError)])
def test_user_errors_are_the_builtin_type_and_survive_pickling(kind, builtin):
    """Library callers catching ValueError, FileNotFoundError... keep working; Ray and DataLoader
    workers pass them on unchanged."""
    error = getattr(errors, kind)("a message")
    with pytest.raises(builtin):
        raise error
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == "a message"
    assert isinstance(again, errors.UserError)


def test_a_file_that_is_not_a_store_and_an_impossible_output_folder_are_one_line(tmp_path):
    """Errors the OS or h5py raise about the user's paths come out as user errors."""
    garbage = tmp_path / "garbage.h5"
    garbage.write_text("not HDF5")
    result = CliRunner().invoke(main, ["info", str(garbage)])
    assert result.exit_code == USER_EXIT_CODE
    [line] = result.output.splitlines()  # h5py's reason follows, worded by its version
    assert line.startswith(f"Error: {garbage} cannot be opened as a flowkit store: ")
    result = CliRunner().invoke(main, ["synth", str(garbage / "dataset")])
    assert result.exit_code == USER_EXIT_CODE
    assert result.output.splitlines() == [f"Error: cannot create the folder {garbage / 'dataset' / 'videos'}: "
                                          "Not a directory"]
