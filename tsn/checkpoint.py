"""Training checkpoints: plain dicts saved with torch.save, loaded with weights_only=True.

Keys: `model` (TSN state dict), `model_config` (TSN(**model_config) rebuilds it: num_classes,
modality, in_channels, arch, segments, consensus, dropout, partial_bn; learned-flow: `flow`, the TV-L1
layers' settings), `optimizer`,
`lr_scheduler`, `epoch` (epochs completed), `config` (the resolved training configuration as a
dict), `classes` (class names, index = label), `metrics` (the last epoch's metrics).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import cast

import torch
from torch import nn

from flowkit.errors import UserFileNotFoundError, UserValueError, create_output_folder
from tsn.models.tsn import TSN
from tsn.models.weights import load_torch_file

CHECKPOINT_NAME = "checkpoint.pt"
REQUIRED_KEYS = ("model", "model_config", "epoch", "classes")


def unwrap(model: nn.Module) -> TSN:
    """The TSN inside a DistributedDataParallel wrapper (or the model itself)."""
    return cast(TSN, getattr(model, "module", model))


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer, lr_scheduler, epoch: int, config: dict,
                    classes: list[str], metrics: dict | None = None) -> Path:
    """Write the checkpoint dict to `path` atomically (temporary file, then rename). Returns path."""
    path = Path(path)
    tsn = unwrap(model)
    scheduler_state = dict(lr_scheduler.state_dict()) if lr_scheduler is not None else None
    if scheduler_state and isinstance(scheduler_state.get("milestones"), Counter):
        # A plain dict survives every torch's weights_only loader; restored to a Counter on load.
        scheduler_state["milestones"] = dict(scheduler_state["milestones"])
    payload = {
        "model": tsn.state_dict(),
        "model_config": tsn.config(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "lr_scheduler": scheduler_state,
        "epoch": int(epoch),
        "config": dict(config),
        "classes": list(classes),
        "metrics": dict(metrics or {}),
    }
    create_output_folder(path.parent)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by save_checkpoint (CPU tensors). ValueError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UserFileNotFoundError(f"no checkpoint at {path}")
    checkpoint = load_torch_file(path, "TSN checkpoint")
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        raise UserValueError(f"{path} is not a TSN checkpoint (expected keys {', '.join(REQUIRED_KEYS)})")
    scheduler = checkpoint.get("lr_scheduler")
    if isinstance(scheduler, dict) and isinstance(scheduler.get("milestones"), dict):
        scheduler["milestones"] = Counter(scheduler["milestones"])
    return checkpoint


def model_from_checkpoint(checkpoint: dict) -> TSN:
    """The TSN described by `checkpoint['model_config']` with its trained weights (CPU, eval mode)."""
    model = TSN(**checkpoint["model_config"])
    model.load_state_dict(checkpoint["model"])
    return model.eval()
