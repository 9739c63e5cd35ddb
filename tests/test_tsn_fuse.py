"""Late fusion of score files (tsn.fuse): the paper's weights, videos matched by name, refusals."""

import numpy as np
import pytest

from tsn.fuse import default_weights, fuse_score_files
from tsn.scores import load_scores, save_scores

CLASSES = ["a", "b", "c"]
VIDEOS = ["v1", "v2", "v3", "v4"]
LABELS = np.array([0, 1, 2, 1])


def _score_file(path, modality, scores, videos=VIDEOS, labels=LABELS, classes=CLASSES):
    save_scores(path, np.asarray(scores, np.float32), labels, videos, classes, modality)
    return path


def test_fuse_weights_scores_and_aligns_videos_by_name(tmp_path):
    rgb = np.array([[2, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], np.float32)  # 2 of 4 right
    flow = np.array([[0, 1, 0], [0, 2, 0], [0, 0, 1], [0, 2, 0]], np.float32)  # 3 of 4 right
    a = _score_file(tmp_path / "rgb.npz", "rgb", rgb)
    order = [2, 0, 3, 1]  # the flow file lists the same videos in another order
    b = _score_file(tmp_path / "flow.npz", "flow", flow[order], [VIDEOS[i] for i in order], LABELS[order])
    fused = fuse_score_files([a, b], output=tmp_path / "fused.npz")
    assert fused["weights"] == [1.0, 1.5]  # the paper's spatial : temporal
    np.testing.assert_allclose(fused["scores"], rgb + 1.5 * flow)
    assert fused["metrics"]["top1"] == 1.0 and fused["inputs"][0]["metrics"]["top1"] == 0.5
    saved = load_scores(tmp_path / "fused.npz")
    assert saved["modality"] == "fused" and saved["videos"] == VIDEOS
    custom = fuse_score_files([a, b], weights=[3, 0.5])
    np.testing.assert_allclose(custom["scores"], 3 * rgb + 0.5 * flow)


def test_default_fusion_weights_split_the_temporal_weight_between_flow_and_warp():
    assert default_weights(["rgb", "flow"]) == [1.0, 1.5]
    assert default_weights(["rgb", "flow", "warp"]) == [1.0, 1.0, 0.5]
    assert default_weights(["warp", "rgb"]) == [1.5, 1.0]


def test_fuse_refuses_files_that_do_not_match(tmp_path):
    scores = np.eye(4, 3, dtype=np.float32)
    a = _score_file(tmp_path / "a.npz", "rgb", scores)
    other_videos = _score_file(tmp_path / "b.npz", "flow", scores, videos=["v1", "v2", "v3", "v9"])
    with pytest.raises(ValueError, match="another video list"):
        fuse_score_files([a, other_videos])
    fewer = _score_file(tmp_path / "c.npz", "flow", scores[:3], videos=VIDEOS[:3], labels=LABELS[:3])
    with pytest.raises(ValueError, match="another video list"):
        fuse_score_files([a, fewer])
    other_classes = _score_file(tmp_path / "d.npz", "flow", scores, classes=["a", "b", "x"])
    with pytest.raises(ValueError, match="other classes"):
        fuse_score_files([a, other_classes])
    relabelled = _score_file(tmp_path / "e.npz", "flow", scores, labels=np.array([0, 1, 2, 2]))
    with pytest.raises(ValueError, match="labels"):
        fuse_score_files([a, relabelled])
    with pytest.raises(ValueError, match="2 weights for 1"):
        fuse_score_files([a], weights=[1, 2])
