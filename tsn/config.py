"""What a training run is asked to do: TrainConfig, its defaults from the modality's recipe
(tsn.recipe: lr scaled to the global batch, batch_size per process x processes) and its checks
(resolve_config), the learned-flow layers' settings, and the lines a run prints before it starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from flowkit.errors import UserValueError
from tsn.checkpoint import CHECKPOINT_NAME
from tsn.choices import ARCHS, CONSENSUS_TYPES, CROP_POSITIONS, DECODE_MODES, LEARNED_FLOW, MODALITIES
from tsn.models.backbones import BACKBONES
from tsn.recipe import get_recipe, scaled_lr

# TrainConfig fields that set the learned-flow modality's TV-L1 layers.
FLOW_LAYER_OPTIONS = ("flow_scales", "flow_warps", "flow_iterations", "flow_checkpoint", "learn_initial_flow")


@dataclass
class TrainConfig:
    """Everything a training run needs. None means "the default for this modality/arch/device"
    (filled in by resolve_config). Units: lr per sample-averaged loss, epochs over the split's
    training videos, input_size in pixels, clip_grad as a total L2 norm."""

    store: str
    modality: str = "rgb"
    split: int = 1
    arch: str = "bninception"
    segments: int | None = None
    consensus: str = "avg"
    epochs: int | None = None
    batch_size: int = 32
    lr: float | None = None
    lr_steps: tuple[int, ...] | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clip_grad: float | None = None  # 0 disables clipping
    dropout: float | None = None
    partial_bn: bool | None = None  # None: on when starting from pretrained weights
    pretrained: str | None = None
    input_size: int | None = None
    workers: int | None = None  # loader processes; None: CPUs available, at most 8. On a CPU device
    # torch then computes with the cores the workers leave (tsn.runtime.cpu_threads_beside_workers).
    device: str | None = None
    amp: bool | None = None  # bf16 autocast; None: on for CUDA, off for CPU
    decode: str = "cpu"  # "device": JPEG decode on the training device (tsn.data)
    skip_damaged: bool = False  # skip (count, report) clips with a damaged record instead of stopping
    flip: bool = True  # random horizontal flips; off for classes that are mirror images of each other
    crop_positions: int | None = None  # fixed training crop positions, 5 or 13 (tsn.choices.CROP_POSITIONS)
    output: str | None = None  # run folder; None: runs/<store stem>_<modality>
    resume: str | None = None  # a checkpoint path, or "auto" for <output>/checkpoint.pt
    eval_every: int = 5
    log_every: int = 20
    iters_per_epoch: int | None = None  # stop each epoch early (smoke runs, benchmarks)
    seed: int = 0
    progress: bool = True
    # learned-flow only: the TV-L1 layers' budget (None: tsn.models.learned_flow's defaults), activation
    # checkpointing of each warp's layers, and a learned initial flow.
    flow_scales: int | None = None
    flow_warps: int | None = None
    flow_iterations: int | None = None
    flow_checkpoint: bool = False
    learn_initial_flow: bool = False


@dataclass
class ResolvedConfig(TrainConfig):
    """A TrainConfig after resolve_config: the recipe's defaults filled in, so these are set (amp and
    device stay None until the run picks its device)."""

    segments: int = 0
    epochs: int = 0
    lr: float = 0.0
    lr_steps: tuple[int, ...] = ()
    clip_grad: float = 0.0
    dropout: float = 0.0
    partial_bn: bool = False
    input_size: int = 0
    workers: int = 0
    crop_positions: int = 0
    output: str = ""


def default_output(store: str | os.PathLike, modality: str) -> Path:
    """runs/<store file stem>_<modality>, e.g. runs/ucf101_flow."""
    return Path("runs") / f"{Path(store).stem}_{modality}"


def world_size() -> int:
    """Processes of this run: torchrun's WORLD_SIZE, 1 without it."""
    return max(int(os.environ.get("WORLD_SIZE", "1")), 1)


def resolve_config(config: TrainConfig, processes: int | None = None) -> ResolvedConfig:
    """A copy of `config` with every None default filled in from the modality's recipe
    (tsn.recipe; lr scaled to batch_size x `processes`, default world_size()) and the values
    checked (ValueError)."""
    if config.modality not in MODALITIES:
        raise UserValueError(f"unknown modality {config.modality!r}; choose from {', '.join(MODALITIES)}")
    if config.arch not in ARCHS:
        raise UserValueError(f"unknown architecture {config.arch!r}; choose from {', '.join(ARCHS)}")
    if config.consensus not in CONSENSUS_TYPES:
        raise UserValueError(f"unknown consensus {config.consensus!r}; choose from {', '.join(CONSENSUS_TYPES)}")
    if config.decode not in DECODE_MODES:
        raise UserValueError(f"unknown decode mode {config.decode!r}; choose from {', '.join(DECODE_MODES)}")
    recipe = get_recipe(config.modality)
    segments = recipe.segments if config.segments is None else int(config.segments)
    for name, value in (("segments", segments), ("batch_size", config.batch_size), ("eval_every", config.eval_every),
                        ("log_every", config.log_every)):
        if value < 1:
            raise UserValueError(f"{name} must be at least 1, got {value}")
    flow_options = [name for name in FLOW_LAYER_OPTIONS if getattr(config, name) not in (None, False)]
    if flow_options and config.modality != LEARNED_FLOW:
        raise UserValueError(f"{', '.join(flow_options)} apply to --modality {LEARNED_FLOW} only")
    from tsn.data.loader import default_workers

    crop_positions = recipe.crop_positions if config.crop_positions is None else int(config.crop_positions)
    if crop_positions not in CROP_POSITIONS:
        raise UserValueError(f"crop positions must be one of {', '.join(map(str, CROP_POSITIONS))}, "
                             f"got {crop_positions}")
    lr = config.lr
    if lr is None:
        lr, _ = scaled_lr(config.modality, config.batch_size, world_size() if processes is None else processes)
    resolved = replace(
        ResolvedConfig(**{field.name: getattr(config, field.name) for field in fields(TrainConfig)}),
        store=str(config.store),
        segments=segments,
        crop_positions=crop_positions,
        epochs=recipe.epochs if config.epochs is None else int(config.epochs),
        lr=float(lr),
        lr_steps=tuple(int(s) for s in (recipe.lr_steps if config.lr_steps is None else config.lr_steps)),
        clip_grad=recipe.clip_grad if config.clip_grad is None else float(config.clip_grad),
        dropout=recipe.dropout if config.dropout is None else float(config.dropout),
        partial_bn=(config.pretrained is not None) if config.partial_bn is None else bool(config.partial_bn),
        pretrained=str(config.pretrained) if config.pretrained is not None else None,
        input_size=BACKBONES[config.arch].input_size if config.input_size is None else int(config.input_size),
        output=str(default_output(config.store, config.modality) if config.output is None else config.output),
        workers=default_workers() if config.workers is None else int(config.workers),
    )
    if resolved.epochs < 1 or resolved.lr <= 0 or resolved.input_size < 16:
        raise UserValueError(f"need epochs >= 1, lr > 0 and input size >= 16; "
                         f"got {resolved.epochs}, {resolved.lr}, {resolved.input_size}")
    if resolved.resume == "auto":
        resolved = replace(resolved, resume=str(Path(resolved.output) / CHECKPOINT_NAME))
    return resolved


def flow_layer_settings(config: TrainConfig, bound: float) -> dict | None:
    """UnrolledTVL1 arguments for a learned-flow run (None for other modalities): the budget the
    config sets (defaults for the rest) and the store's flow bound in pixels."""
    if config.modality != LEARNED_FLOW:
        return None
    budget = {"scales": config.flow_scales, "warps": config.flow_warps, "iterations": config.flow_iterations}
    settings = {name: int(value) for name, value in budget.items() if value is not None}
    return {**settings, "checkpoint": bool(config.flow_checkpoint),
            "learn_initial_flow": bool(config.learn_initial_flow), "bound": float(bound)}


def start_notes(config: TrainConfig, processes: int) -> list[str]:
    """The lines a run prints before training (config as given, before resolve_config): where
    its lr comes from, e.g. 'lr 0.00025 = 0.001 x 32/128 (...)', and a warning when BN-Inception
    starts from random weights."""
    if config.lr is None:
        notes = [scaled_lr(config.modality, config.batch_size, processes)[1]]
    else:
        notes = [f"lr {float(config.lr):g} (--lr, not scaled with the batch)"]
    if config.arch == "bninception" and config.pretrained is None and not config.resume:
        partial_bn = "on (--partial-bn)" if config.partial_bn else "off"
        notes.append(f"warning: BN-Inception from scratch (no --pretrained): expect the paper's from-scratch "
                     f"accuracy (UCF101 split 1: 48.7% rgb, 81.7% flow); partial BN {partial_bn}. Pass --pretrained "
                     "with tsn-pytorch's or Cadene's BN-Inception file for the recipe's start")
    return notes
