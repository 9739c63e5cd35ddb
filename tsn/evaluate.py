"""Test a trained TSN stream with the paper's protocol and save per-video class scores.

Each test video gives `test_segments` (default 25) snippets centred in equal segments, each
with 1 centre crop or 10 crops (4 corners + centre, and their flips); snippet logits are
averaged over crops, then combined over segments by the model's consensus. The result is a
score file (.npz) that tsn.fuse combines across modalities:

| key | content |
| --- | --- |
| scores | (V, C) float32 class scores (logits, before softmax, as the reference fuses them) |
| labels | (V,) int64 true class, -1 when unknown |
| videos | (V,) str video names (the store's ids) |
| classes | (C,) str class names |
| modality | str, e.g. "flow" (fused files: "fused") |
| top1, top5, mean_class_accuracy | float fractions over the labelled videos |

plus a confusion-matrix PNG beside it (<scores stem>_confusion.png).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tsn.metrics import confusion_matrix, summarize_labelled

SCORE_KEYS = ("scores", "labels", "videos", "classes", "modality")


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
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, scores=scores, labels=labels, videos=np.array(list(videos), dtype=str),
             classes=np.array(list(classes), dtype=str), modality=np.array(modality), **metrics,
             **{k: np.array(v) for k, v in extra.items()})
    if known.any():
        matrix = confusion_matrix(scores[known].argmax(axis=1), labels[known], len(classes))
        title = f"{modality}: top-1 {metrics['top1']:.3f}, mean class acc. {metrics['mean_class_accuracy']:.3f}"
        plot_confusion_matrix(matrix, list(classes), confusion_path(path), title)
    return metrics


def load_scores(path: str | os.PathLike) -> dict:
    """Read a score file: {'scores', 'labels', 'videos' (list[str]), 'classes' (list[str]),
    'modality' (str), ...}. ValueError if a required key is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no score file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            content = {key: data[key] for key in data.files}
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a score file ({exc})") from None
    missing = [key for key in SCORE_KEYS if key not in content]
    if missing:
        raise ValueError(f"{path} is not a score file: missing {', '.join(missing)}")
    content["videos"] = [str(v) for v in content["videos"]]
    content["classes"] = [str(c) for c in content["classes"]]
    content["modality"] = str(content["modality"])
    return content


def evaluate_checkpoint(store: str | os.PathLike, checkpoint: str | os.PathLike, output: str | os.PathLike,
                    modality: str | None = None, split: int | None = None, test_segments: int = 25, crops: int = 1,
                    batch_size: int = 4, workers: int | None = None, device: str | None = None,
                    amp: bool | None = None, input_size: int | None = None, progress: bool = True) -> dict:
    """Score the test videos of `split` of `store` with the model in `checkpoint`, save the score
    file at `output` (and its confusion PNG) and return {'metrics', 'videos', 'output',
    'confusion', 'modality', 'split'}.

    modality, split and input_size default to the checkpoint's. Raises ValueError when the
    checkpoint was trained for another modality or another class list than the store's, when
    the store lacks the modality's streams or the split has no test videos.
    """
    from flowkit.store import FlowStore
    from tsn.checkpoint import load_checkpoint, model_from_checkpoint
    from tsn.data import TSNDataset, build_loader
    from tsn.runtime import amp_default, cpu_threads_beside_workers, pick_device
    from tsn.train import predict

    saved = load_checkpoint(checkpoint)
    model_config, train_config = saved["model_config"], saved.get("config", {})
    trained_modality = model_config["modality"]
    modality = modality or trained_modality
    if modality != trained_modality:
        raise ValueError(f"checkpoint {checkpoint} was trained on {trained_modality}, not {modality}")
    split = int(train_config.get("split", 1) if split is None else split)
    input_size = int(train_config.get("input_size", 224) if input_size is None else input_size)
    if crops not in (1, 10):
        raise ValueError(f"crops must be 1 or 10, got {crops}")
    if test_segments < 1:
        raise ValueError(f"test segments must be at least 1, got {test_segments}")
    flow_store = FlowStore(store)
    if len(flow_store.classes) != model_config["num_classes"] or list(flow_store.classes) != list(saved["classes"]):
        raise ValueError(f"checkpoint {checkpoint} has {model_config['num_classes']} classes, "
                         f"store {store} has {len(flow_store.classes)}"
                         + ("" if len(flow_store.classes) != model_config["num_classes"] else " with other names"))
    dataset = TSNDataset(flow_store, split=split, subset="test", modality=modality, segments=test_segments,
                         train=False, crops=crops, input_size=input_size)
    run_device = pick_device(device)
    amp = amp_default(run_device) if amp is None else amp
    model = model_from_checkpoint(saved).to(run_device)
    loader = build_loader(dataset, batch_size, shuffle=False, workers=workers)
    with cpu_threads_beside_workers(run_device, loader.num_workers):
        scores, labels = predict(model, loader, run_device, crops=crops, amp=amp, progress=progress)
    metrics = save_scores(output, scores, labels, dataset.names, flow_store.classes, modality,
                          split=split, test_segments=test_segments, crops=crops, checkpoint=str(checkpoint))
    return {"metrics": metrics, "videos": len(dataset), "output": str(output), "confusion": str(confusion_path(output)),
            "modality": modality, "split": split, "skipped": list(dataset.skipped)}


def format_metrics(metrics: dict) -> str:
    """'top-1 87.20%  top-5 97.10%  mean class acc. 86.90%' (or a note when nothing is labelled)."""
    if not metrics:
        return "no labelled videos: accuracy not computed"
    return (f"top-1 {100 * metrics['top1']:.2f}%  top-5 {100 * metrics['top5']:.2f}%  "
            f"mean class acc. {100 * metrics['mean_class_accuracy']:.2f}%")

