"""Test a trained TSN stream with the paper's protocol and save per-video class scores.

Each test video gives `test_segments` (default 25) snippets centred in equal segments, each
with 1 centre crop or 10 crops (4 corners + centre, and their flips); snippet logits are
averaged over crops, then combined over segments by the model's consensus. The result is a
score file (.npz, tsn.scores) that tsn.fuse combines across modalities, with a confusion-matrix
PNG beside it.
"""

from __future__ import annotations

import os

from flowkit.errors import UserValueError
from tsn.scores import confusion_path, predict, save_scores


def evaluate_checkpoint(store: str | os.PathLike, checkpoint: str | os.PathLike, output: str | os.PathLike,
                        modality: str | None = None, split: int | None = None, test_segments: int = 25,
                        crops: int = 1, batch_size: int = 4, workers: int | None = None, device: str | None = None,
                        amp: bool | None = None, input_size: int | None = None, progress: bool = True,
                        skip_damaged: bool = False) -> dict:
    """Score the test videos of `split` of `store` with the model in `checkpoint`, save the score
    file at `output` (and its confusion PNG) and return {'metrics', 'videos', 'output',
    'confusion', 'modality', 'split', 'skipped', 'skipped_damaged'}. crops: 1 or 10 test crops
    per snippet.

    modality, split and input_size default to the checkpoint's. Raises ValueError when the
    checkpoint was trained for another modality or another class list than the store's, when
    the store lacks the modality's streams or the split has no test videos, and (unless
    skip_damaged) for a damaged record. With skip_damaged, videos with a damaged record are left
    out of the score file and their reasons listed under 'skipped_damaged'.
    """
    from flowkit.store import open_store
    from tsn.checkpoint import load_checkpoint, model_from_checkpoint
    from tsn.data import TestCrops, TSNDataset, build_loader
    from tsn.data.presets import DEFAULT_INPUT_SIZE
    from tsn.runtime import amp_default, cpu_threads_beside_workers, pick_device

    saved = load_checkpoint(checkpoint)
    model_config, train_config = saved["model_config"], saved.get("config", {})
    trained_modality = model_config["modality"]
    modality = modality or trained_modality
    if modality != trained_modality:
        raise UserValueError(f"checkpoint {checkpoint} was trained on {trained_modality}, not {modality}")
    split = int(train_config.get("split", 1) if split is None else split)
    input_size = int(train_config.get("input_size", DEFAULT_INPUT_SIZE) if input_size is None else input_size)
    preset = TestCrops(input_size, crops)
    if test_segments < 1:
        raise UserValueError(f"test segments must be at least 1, got {test_segments}")
    flow_store = open_store(store)
    if len(flow_store.classes) != model_config["num_classes"] or list(flow_store.classes) != list(saved["classes"]):
        raise UserValueError(f"checkpoint {checkpoint} has {model_config['num_classes']} classes, "
                         f"store {store} has {len(flow_store.classes)}"
                         + ("" if len(flow_store.classes) != model_config["num_classes"] else " with other names"))
    dataset = TSNDataset(flow_store, split=split, subset="test", modality=modality, segments=test_segments,
                         preset=preset, skip_damaged=skip_damaged)
    run_device = pick_device(device)
    amp = amp_default(run_device) if amp is None else amp
    model = model_from_checkpoint(saved).to(run_device)
    loader = build_loader(dataset, batch_size, shuffle=False, workers=workers)
    damaged: list = []
    with cpu_threads_beside_workers(run_device, loader.num_workers):
        scores, labels = predict(model, loader, run_device, crops=preset.crops, amp=amp, progress=progress,
                                 skipped=damaged)
    left_out = {clip.index for clip in damaged}
    names = [name for i, name in enumerate(dataset.names) if i not in left_out]
    metrics = save_scores(output, scores, labels, names, flow_store.classes, modality,
                          split=split, test_segments=test_segments, crops=preset.crops, checkpoint=str(checkpoint))
    return {"metrics": metrics, "videos": len(names), "output": str(output),
            "confusion": str(confusion_path(output)), "modality": modality, "split": split,
            "skipped": list(dataset.skipped), "skipped_damaged": [clip.reason for clip in damaged]}
