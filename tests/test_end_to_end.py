"""The main job through the real console scripts: synth -> extract -> train -> test -> fuse, and
`flowkit demo` on tiny sizes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from flowkit.store import FlowStore

FAST_TVL1 = ["--nscales", "2", "--warps", "1", "--inner-iterations", "5", "--outer-iterations", "1"]


def _run(*args, cwd):
    result = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args[:2]} failed:\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_synth_extract_train_test_fuse_via_cli(tmp_path):
    _run("flowkit", "synth", "data", "--classes", "3", "--videos-per-class", "3", "--frames", "8",
         "--size", "64x48", "--camera-motion", "pan", cwd=tmp_path)
    _run("flowkit", "extract", "data/videos", "-o", "s.h5", "--size", "64x48", "--warped", "--labels", "data",
         "--workers", "2", *FAST_TVL1, cwd=tmp_path)
    store = FlowStore(tmp_path / "s.h5")
    assert len(store.classes) == 3 and {"rgb", "flow_x", "warp_y"} <= set(store.streams)
    assert len(store.split_videos(1, "train")) + len(store.split_videos(1, "test")) == 9

    scores = []
    for modality in ("rgb", "flow"):
        _run("tsn", "train", "--store", "s.h5", "--modality", modality, "--arch", "tiny", "--epochs", "1",
             "--batch-size", "3", "--workers", "0", "-o", f"runs/{modality}", cwd=tmp_path)
        _run("tsn", "test", "--store", "s.h5", "--checkpoint", f"runs/{modality}/checkpoint.pt",
             "--test-segments", "3", "--workers", "0", "-o", f"{modality}.npz", cwd=tmp_path)
        scores.append(np.load(tmp_path / f"{modality}.npz"))
    fused = _run("tsn", "fuse", "rgb.npz", "flow.npz", "--weights", "1", "1.5", "-o", "fused.npz", cwd=tmp_path)
    assert "top-1" in fused.stdout
    result = np.load(tmp_path / "fused.npz")
    assert np.allclose(result["scores"], scores[0]["scores"] + 1.5 * scores[1]["scores"], atol=1e-5)


@pytest.mark.slow
def test_demo_writes_table_pictures_and_curves(tmp_path):
    from flowkit.demo import DemoConfig, format_table, run_demo

    config = DemoConfig(workdir=tmp_path / "demo", classes=3, videos_per_class=2, frames=6, size=(64, 48),
                        epochs=1, batch_size=3, test_segments=3, workers=0, progress=False,
                        flow_params={"nscales": 2, "warps": 1, "inner_iterations": 5, "outer_iterations": 1})
    results = run_demo(config)
    names = {"rgb", "flow", "warp", "rgb + flow", "flow + warp", "rgb + flow + warp"}
    assert set(results["accuracy"]) == names
    for values in results["accuracy"].values():
        assert 0.0 <= values["top1"] <= 1.0 and 0.0 <= values["mean_class"] <= 1.0
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert saved["accuracy"] == results["accuracy"]
    table = format_table(results)
    assert all(f"| {name} |" in table for name in names)
    png_signature = b"\x89PNG"
    assert (tmp_path / "demo" / "flow.png").read_bytes()[:4] == png_signature
    for modality in ("rgb", "flow", "warp"):
        assert (tmp_path / "demo" / "runs" / modality / "curves.png").read_bytes()[:4] == png_signature


def test_demo_refuses_a_workdir_made_with_other_settings(tmp_path):
    from flowkit.demo import SETTINGS_FILE, DemoConfig, _check_reuse

    _check_reuse(DemoConfig(workdir=tmp_path, camera_motion="pan"), tmp_path)
    assert (tmp_path / SETTINGS_FILE).exists()
    _check_reuse(DemoConfig(workdir=tmp_path, camera_motion="pan", epochs=3), tmp_path)  # training settings may change
    with pytest.raises(ValueError, match="camera_motion"):
        _check_reuse(DemoConfig(workdir=tmp_path, camera_motion="none"), tmp_path)
