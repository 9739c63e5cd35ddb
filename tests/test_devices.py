"""flowkit.extract.devices: --gpu / --cpu parsing and GPU checks, with one-line errors."""

import pytest
from click.testing import CliRunner

import flowkit.extract.devices as devices
from cli.flowkit_app import main as flowkit_main
from flowkit.extract.devices import choose_device, parse_gpu_ids, resolve_local_gpus


@pytest.mark.parametrize("spec, ids", [("0", (0,)), ("0,1", (0, 1)), (" 3 , 1 ", (3, 1)), ("all", None), ("ALL", None)])
def test_valid_gpu_ids(spec, ids):
    assert parse_gpu_ids(spec) == ids


@pytest.mark.parametrize(
    "spec, message",
    [
        ("0,0", "distinct"),
        ("1,2,1", "distinct"),
        ("-1", ">= 0"),
        ("0,-2", ">= 0"),
        ("zero", "GPU ids like 0 or 0,1 or all"),
        ("0,,1", "GPU ids like"),
        ("1.5", "GPU ids like"),
        ("", "GPU ids like"),
        ("cuda:0", "GPU ids like"),
    ],
)
def test_bad_gpu_ids_are_one_line_errors(spec, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_gpu_ids(spec)
    assert "\n" not in str(error.value) and str(error.value).startswith("--gpu")


def test_choose_device(monkeypatch):
    monkeypatch.setattr(devices, "local_gpu_count", lambda: 2)
    assert choose_device(None, cpu=True) == ("cpu", ())
    assert choose_device(None, cpu=False) == ("cuda", ())  # every local GPU
    assert choose_device(None, cpu=False, address="auto") == ("cpu", ())  # a cluster's GPUs are not known here
    assert choose_device("1", cpu=False) == ("cuda", (1,))
    assert choose_device("all", cpu=False) == ("cuda", ())
    with pytest.raises(ValueError, match="give --gpu or --cpu, not both"):
        choose_device("0", cpu=True)
    monkeypatch.setattr(devices, "local_gpu_count", lambda: 0)
    assert choose_device(None, cpu=False) == ("cpu", ())


def test_resolve_local_gpus(monkeypatch):
    monkeypatch.setattr(devices, "local_gpu_count", lambda: 2)
    assert resolve_local_gpus(None) == (0, 1)
    assert resolve_local_gpus((1,)) == (1,)
    with pytest.raises(ValueError, match=r"no GPU 2, 5; this machine has 2 \(ids 0\.\.1\)"):
        resolve_local_gpus((2, 1, 5))
    monkeypatch.setattr(devices, "local_gpu_count", lambda: 0)
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        resolve_local_gpus((0,))


def test_extract_command_reports_device_errors_in_one_line(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"")
    for args, message in ((["--gpu", "0", "--cpu"], "Error: give --gpu or --cpu, not both"),
                          (["--gpu", "0,0"], "Error: --gpu ids must be distinct")):
        result = CliRunner().invoke(flowkit_main, ["extract", str(tmp_path), "-o", str(tmp_path / "o.h5"), *args])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == result.output.strip().splitlines()[0] and message in result.output


def test_gpu_count_without_device_files_is_zero(monkeypatch):
    """No /dev/nvidia* and no /dev/kfd on Linux: no GPU, answered without asking torch."""
    import sys
    import types

    asked = []
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: asked.append(1) or True,
                                                                  device_count=lambda: 3))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setattr(devices.sys, "platform", "linux")
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(devices.os.path, "exists", lambda path: False)
    assert devices.local_gpu_count() == 0 and not asked
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    assert devices.local_gpu_count() == 3 and asked  # device files present: torch decides
