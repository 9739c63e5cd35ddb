"""The scores stage: per-video class scores from a model (predict) and the score files that hold them.

`tsn test` (tsn.evaluate) and validation during training (tsn.train) score videos with
predict(); tsn.evaluate saves them and tsn.fuse reads and combines them. A score file is an
.npz:

| key | content |
| --- | --- |
| scores | (V, C) float32 class scores (logits, before softmax, as the reference fuses them) |
| labels | (V,) int64 true class, -1 when unknown |
| videos | (V,) str video names (the store's ids) |
| classes | (C,) str class names |
| modality | str, e.g. "flow" (fused files: "fused") |
| top1, top5, mean_class_accuracy | float fractions over the labelled videos |

plus a confusion-matrix PNG beside it (<scores stem>_confusion.png). Extra keys (split, crops,
fusion weights, ...) are kept as given.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from pathlib import Path

import numpy as np

from flowkit.errors import UserFileNotFoundError, UserValueError, create_output_folder
from tsn.metrics import confusion_matrix, summarize_labelled

SCORE_KEYS = ("scores", "labels", "videos", "classes", "modality")


def predict(model, loader, device, crops: int = 1, amp: bool = False, progress: bool = False,
            desc: str = "test", skipped: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Video scores of every batch of `loader` in order.

    A batch's clips (B, crops * T, C, H, W), crop-major as tsn.data produces them, give snippet
    logits that are averaged over the crops, then combined over the T snippets by the model's
    consensus (tsn-pytorch's test protocol for avg). `model` is a TSN, or DistributedDataParallel
    around one; amp runs it under bf16 autocast. Returns (scores (N, num_classes) float32 logits,
    labels (N,) int64) of the clips that loaded; when the dataset skips damaged clips, their
    SkippedClip are appended to `skipped` (the loader must not shuffle, so the scores keep the
    dataset's order minus the skipped items)."""
    # torch only here: fusing score files (tsn fuse) needs no torch.
    import torch
    from tqdm import tqdm

    from tsn.checkpoint import unwrap
    from tsn.data import prepare_batch, split_skipped
    from tsn.runtime import autocast

    tsn = unwrap(model)
    tsn.eval()
    scores, labels = [], []
    with torch.no_grad():
        for batch in tqdm(loader, desc=desc, file=sys.stderr, leave=False, disable=not progress, dynamic_ncols=True):
            batch, lost = split_skipped(batch)
            if skipped is not None:
                skipped += lost
            elif lost:
                raise UserValueError(lost[0].reason)
            if batch is None:
                continue
            clips, batch_labels = prepare_batch(batch, device)
            with autocast(device, amp):
                snippet = tsn.snippet_scores(clips).float()
            batch_size, count, classes = snippet.shape
            if count % crops:
                raise UserValueError(f"{count} snippets per clip is not a multiple of {crops} crops")
            per_segment = snippet.view(batch_size, crops, count // crops, classes).mean(dim=1)
            scores.append(tsn.consensus(per_segment).cpu().numpy())
            labels.append(batch_labels.cpu().numpy())
    if not scores:
        return np.zeros((0, tsn.num_classes), np.float32), np.zeros(0, np.int64)
    return np.concatenate(scores).astype(np.float32), np.concatenate(labels).astype(np.int64)


def confusion_path(scores_path: str | os.PathLike) -> Path:
    """Where the confusion-matrix PNG of a score file goes: <stem>_confusion.png beside it."""
    scores_path = Path(scores_path)
    return scores_path.with_name(scores_path.stem + "_confusion.png")


def save_scores(path: str | os.PathLike, scores: np.ndarray, labels: np.ndarray, videos, classes, modality: str,
                **extra) -> dict:
    """Write a score file (see the module docstring) and its confusion matrix PNG; return the
    metrics {'top1', 'top5', 'mean_class_accuracy'} over the videos with a known label."""
    from tsn.plots import plot_confusion_matrix

    scores = np.asarray(scores, np.float32)
    labels = np.asarray(labels, np.int64)
    known = labels >= 0
    metrics = summarize_labelled(scores, labels)
    path = Path(path)
    create_output_folder(path.parent)
    arrays: dict[str, Any] = {**metrics, **{k: np.array(v) for k, v in extra.items()}}
    np.savez(path, scores=scores, labels=labels, videos=np.array(list(videos), dtype=str),
             classes=np.array(list(classes), dtype=str), modality=np.array(modality), **arrays)
    if known.any():
        matrix = confusion_matrix(scores[known].argmax(axis=1), labels[known], len(classes))
        title = f"{modality}: top-1 {metrics['top1']:.3f}, mean class acc. {metrics['mean_class_accuracy']:.3f}"
        plot_confusion_matrix(matrix, list(classes), confusion_path(path), title)
    return metrics


def load_scores(path: str | os.PathLike) -> dict:
    """Read a score file: {'scores', 'labels', 'videos' (list[str]), 'classes' (list[str]),
    'modality' (str), ...}. ValueError if a required key is missing, the shapes disagree or a
    score is NaN or infinite (fusing it would silently turn a video's fused score into NaN)."""
    path = Path(path)
    if not path.is_file():
        raise UserFileNotFoundError(f"no score file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            content = {key: data[key] for key in data.files}
    except (ValueError, OSError) as exc:
        raise UserValueError(f"{path} is not a score file ({exc})") from None
    missing = [key for key in SCORE_KEYS if key not in content]
    if missing:
        raise UserValueError(f"{path} is not a score file: missing {', '.join(missing)}")
    content["videos"] = [str(v) for v in content["videos"]]
    content["classes"] = [str(c) for c in content["classes"]]
    content["modality"] = str(content["modality"])
    scores = np.asarray(content["scores"])
    if scores.ndim != 2 or scores.shape != (len(content["videos"]), len(content["classes"])):
        raise UserValueError(f"{path} is not a score file: scores of shape {scores.shape} for {len(content['videos'])} "
                         f"videos and {len(content['classes'])} classes")
    bad = ~np.isfinite(scores).all(axis=1)
    if bad.any():
        raise UserValueError(f"{path} holds NaN or infinite scores for {int(bad.sum())} of {len(bad)} videos (first: "
                         f"{content['videos'][int(np.argmax(bad))]}): the model that produced them diverged, "
                         "or the file is damaged")
    return content
