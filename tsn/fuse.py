"""Weighted late fusion of per-modality score files (tsn.scores' .npz, written by `tsn test`).

fused = sum_i w_i * scores_i over the files, scores being the per-video class logits each
stream's test produced (the reference fuses scores before softmax). Default weights from the
paper: spatial (rgb) 1, temporal (flow) 1.5; when both flow and warped flow are fused the
temporal weight is split into flow 1 and warp 0.5. A warp stream without flow takes the
temporal 1.5, as does learned flow (a temporal stream); rgbdiff, which the paper does not weight,
takes 1 like rgb.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from flowkit.errors import UserValueError
from tsn.metrics import summarize_labelled
from tsn.scores import load_scores, save_scores

SPATIAL_WEIGHT = 1.0
TEMPORAL_WEIGHT = 1.5
FLOW_WITH_WARP, WARP_WITH_FLOW = 1.0, 0.5


def default_weights(modalities: Sequence[str]) -> list[float]:
    """The paper's fusion weight of each modality in `modalities` (order kept)."""
    both = "flow" in modalities and "warp" in modalities
    table = {
        "rgb": SPATIAL_WEIGHT,
        "rgbdiff": SPATIAL_WEIGHT,
        "flow": FLOW_WITH_WARP if both else TEMPORAL_WEIGHT,
        "warp": WARP_WITH_FLOW if both else TEMPORAL_WEIGHT,
        "learned-flow": TEMPORAL_WEIGHT,
    }
    return [table.get(m, 1.0) for m in modalities]


def fuse_scores(score_sets: Sequence[dict], weights: Sequence[float] | None = None) -> dict:
    """Fuse loaded score files (load_scores dicts) -> {'scores' (V, C) float32, 'labels',
    'videos', 'classes', 'modality' ('fused'), 'modalities', 'weights', 'metrics'}.

    Videos are matched by name, in the first file's order. Raises ValueError when the files
    hold different video sets, different class lists, disagreeing labels, or when the number
    of weights differs from the number of files.
    """
    if len(score_sets) < 1:
        raise UserValueError("give at least one score file to fuse")
    modalities = [s["modality"] for s in score_sets]
    weights = default_weights(modalities) if weights is None else [float(w) for w in weights]
    if len(weights) != len(score_sets):
        raise UserValueError(f"{len(weights)} weights for {len(score_sets)} score files")
    first = score_sets[0]
    videos, classes, labels = list(first["videos"]), list(first["classes"]), np.asarray(first["labels"])
    fused = np.zeros(np.asarray(first["scores"]).shape, np.float64)
    for number, (scores, weight) in enumerate(zip(score_sets, weights), start=1):
        name = scores.get("path", f"file {number}")
        if list(scores["classes"]) != classes:
            raise UserValueError(f"{name} has other classes than {first.get('path', 'file 1')}")
        if len(scores["videos"]) != len(videos) or set(scores["videos"]) != set(videos):
            only_here = sorted(set(scores["videos"]) - set(videos))[:3]
            only_first = sorted(set(videos) - set(scores["videos"]))[:3]
            raise UserValueError(f"{name} has another video list than {first.get('path', 'file 1')} "
                             f"({len(scores['videos'])} vs {len(videos)} videos; e.g. only here {only_here}, "
                             f"only there {only_first})")
        position = {video: i for i, video in enumerate(scores["videos"])}
        order = np.array([position[v] for v in videos], dtype=np.int64)
        if not np.array_equal(np.asarray(scores["labels"])[order], labels):
            raise UserValueError(f"{name} labels the same videos differently than {first.get('path', 'file 1')}")
        fused += weight * np.asarray(scores["scores"], np.float64)[order]
    fused = fused.astype(np.float32)
    metrics = summarize_labelled(fused, labels)
    return {"scores": fused, "labels": labels, "videos": videos, "classes": classes, "modality": "fused",
            "modalities": modalities, "weights": weights, "metrics": metrics}


def fuse_score_files(paths: Sequence[str | os.PathLike], weights: Sequence[float] | None = None,
                     output: str | os.PathLike | None = None) -> dict:
    """Load the score files at `paths`, fuse them (fuse_scores) and, if `output` is given, save
    the fused scores as a score file (modality 'fused', plus `modalities` and `weights`) with its
    confusion PNG. Returns fuse_scores' dict plus per-file metrics under 'inputs'."""
    loaded = []
    for path in paths:
        scores = load_scores(path)
        scores["path"] = str(path)
        loaded.append(scores)
    result = fuse_scores(loaded, weights)
    result["inputs"] = [
        {"path": s["path"], "modality": s["modality"], "weight": w,
         "metrics": summarize_labelled(s["scores"], s["labels"])}
        for s, w in zip(loaded, result["weights"])
    ]
    if output is not None:
        save_scores(output, result["scores"], result["labels"], result["videos"], result["classes"], "fused",
                    modalities=np.array(result["modalities"], dtype=str), weights=np.array(result["weights"]))
    return result
