"""The training recipe of each modality, taken from one reference, and the learning-rate scaling rule.

Every modality follows yjxiong/tsn-pytorch's README training commands (BN-Inception, ImageNet
pretrained, global batch 128 on one DataParallel process), the one reference that trains all four
of our modalities with one code path and an epoch schedule; docs/recipes.md sets it beside the
paper's Caffe solvers and mmaction2's configs. tsn.data.presets.train_crops builds the training
crops from a recipe's scales and crop positions.

| modality | lr @ batch 128 | lr steps (epochs) | epochs | grad clip | dropout | segments | crop scales | positions |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
| rgb | 0.001 | 30, 60 | 80 | 20 | 0.8 | 3 | 1, .875, .75, .66 | 13 |
| flow, warp, learned-flow | 0.001 | 190, 300 | 340 | 20 | 0.7 | 3 | 1, .875, .75 | 13 |
| rgbdiff | 0.001 | 80, 160 | 180 | 40 | 0.8 | 7 | 1, .875, .75 | 13 |

Crop positions: 13 as tsn-pytorch's GroupMultiScaleCrop (more_fix_crop) and the Caffe prototxts
(`more_fix_crop: true`), where the paper's text describes 5 (4 corners + centre). The temporal
streams drop the 0.66 scale (tsn-pytorch's get_augmentation, Caffe's flow `scale_ratios`).

The lr scales linearly with the global batch (batch per process x processes) against the
reference batch: 32 videos on one process train at 0.001 x 32/128 = 0.00025, the reference's
per-video step size.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowkit.errors import UserValueError
from tsn.choices import CROP_POSITIONS, MODALITIES

REFERENCE = "tsn-pytorch"
RGB_SCALES = (1.0, 0.875, 0.75, 0.66)
TEMPORAL_SCALES = RGB_SCALES[:3]


@dataclass(frozen=True)
class Recipe:
    """One modality's reference settings. lr is the base lr at reference_batch videos per step
    (global); lr_steps are epochs where lr drops 10x; clip_grad bounds the total gradient L2 norm;
    dropout precedes the classifier; segments are the training snippets per video; scales are the
    training crop sides as fractions of the short side, crop_positions the fixed positions (5 or
    13) a crop takes."""

    lr: float
    lr_steps: tuple[int, ...]
    epochs: int
    clip_grad: float
    dropout: float
    segments: int = 3
    scales: tuple[float, ...] = TEMPORAL_SCALES
    crop_positions: int = max(CROP_POSITIONS)  # tsn-pytorch's more_fix_crop
    reference_batch: int = 128
    reference: str = REFERENCE


RECIPES: dict[str, Recipe] = {
    "rgb": Recipe(lr=0.001, lr_steps=(30, 60), epochs=80, clip_grad=20.0, dropout=0.8, scales=RGB_SCALES),
    "rgbdiff": Recipe(lr=0.001, lr_steps=(80, 160), epochs=180, clip_grad=40.0, dropout=0.8, segments=7),
    "flow": Recipe(lr=0.001, lr_steps=(190, 300), epochs=340, clip_grad=20.0, dropout=0.7),
    # tsn-pytorch has no warped flow; the paper trains it as flow.
    "warp": Recipe(lr=0.001, lr_steps=(190, 300), epochs=340, clip_grad=20.0, dropout=0.7),
    # Ours (no reference trains flow end to end): a temporal stream, so flow's recipe.
    "learned-flow": Recipe(lr=0.001, lr_steps=(190, 300), epochs=340, clip_grad=20.0, dropout=0.7),
}


def get_recipe(modality: str) -> Recipe:
    """The Recipe of `modality`; ValueError for an unknown one."""
    try:
        return RECIPES[modality]
    except KeyError:
        raise UserValueError(f"unknown modality {modality!r}; choose from {', '.join(RECIPES)}") from None


def scaled_lr(modality: str, batch_size: int, world_size: int = 1) -> tuple[float, str]:
    """(lr, explanation) for `batch_size` videos per process on `world_size` processes: the
    recipe's lr x global batch / reference batch, e.g. (0.00025, 'lr 0.00025 = 0.001 x 32/128')."""
    recipe = get_recipe(modality)
    global_batch = batch_size * world_size
    lr = recipe.lr * global_batch / recipe.reference_batch
    text = f"lr {lr:g} = {recipe.lr:g} x {global_batch}/{recipe.reference_batch}"
    if world_size > 1:
        text += f" (batch {batch_size} x {world_size} processes)"
    return lr, text + f" ({recipe.reference}'s {modality} recipe; --lr overrides)"


def defaults_help(field: str) -> str:
    """The recipes' values of `field` for a --help text, modalities sharing a value grouped:
    'rgb 80; rgbdiff 180; flow/warp 340 (tsn-pytorch)'; lr_steps are joined with commas."""
    groups: dict[str, list[str]] = {}
    for modality in MODALITIES:
        value = getattr(RECIPES[modality], field)
        text = ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}"
        groups.setdefault(text, []).append(modality)
    named = ["all" if len(names) == len(MODALITIES) else "/".join(names) for names in groups.values()]
    return "; ".join(f"{name} {text}" for name, text in zip(named, groups)) + f" ({REFERENCE})"
