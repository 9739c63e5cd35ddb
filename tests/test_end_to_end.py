"""The main job through the real console scripts: synth -> extract -> train -> test -> fuse
(`flowkit demo` as a library call: tests/test_tsn_demo.py)."""

import subprocess

import numpy as np
import pytest

from flowkit.store import FlowStore
from tsn.metrics import top_k_accuracy

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
    result = np.load(tmp_path / "fused.npz")
    # Every file scores the store's test videos, in order, with the store's labels.
    test_videos = store.split_videos(1, "test")
    names = [store.videos[i].name for i in test_videos]
    labels = [store.videos[i].label for i in test_videos]
    for modality, saved in zip(("rgb", "flow", "fused"), (*scores, result)):
        assert saved["videos"].tolist() == names and saved["labels"].tolist() == labels
        assert str(saved["modality"]) == modality and saved["scores"].shape == (len(names), 3)
    assert result["weights"].tolist() == [1.0, 1.5] and result["modalities"].tolist() == ["rgb", "flow"]
    assert np.allclose(result["scores"], scores[0]["scores"] + 1.5 * scores[1]["scores"], atol=1e-5)
    top1 = top_k_accuracy(result["scores"], result["labels"], 1)
    assert float(result["top1"]) == pytest.approx(top1)
    assert f"fused: top-1 {100 * top1:.2f}%" in fused.stdout
