"""Crop presets: the spatial augmentation recipe of a dataset, built once by the caller and passed in.

As torchvision's classification references build `presets.ClassificationPresetTrain/Eval` in the
training script and hand them to the dataset, `tsn train`, `tsn test` and the demo build a
TrainCrops or TestCrops and give it to tsn.data.TSNDataset, which asks it for each video's crop
boxes (tsn.data.transforms.CropBox, source-frame pixels plus a flip flag). The device decode
path (tsn.data.device_decode) crops and resizes those same boxes to the preset's input_size.

`train_crops` builds the training crops of a modality's recipe (tsn.recipe: tsn-pytorch's 13
fixed positions rather than the paper's 5; no 0.66 scale for the temporal streams).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from flowkit.errors import UserValueError
from tsn.choices import CROP_POSITIONS, TEST_CROPS
from tsn.data import transforms as T

DEFAULT_INPUT_SIZE = 224  # pixels, the crop side of BN-Inception and ResNets


def _check_size(input_size: int) -> None:
    if int(input_size) < 1:
        raise UserValueError(f"input size must be at least 1 pixel, got {input_size}")


@dataclass(frozen=True)
class TrainCrops:
    """Training crops: one random multi-scale fixed-position crop per clip (tsn-pytorch's
    GroupMultiScaleCrop), flipped with probability 1/2 when `flip`, resized to input_size.

    input_size: side of the square network input, pixels. scales: crop sides as fractions of
    the frame's short side. max_distort: most steps between the width's and height's scale
    index (aspect limit). more_fix_crop: 13 fixed positions (tsn-pytorch) instead of the
    paper's 5 (4 corners + centre). flip: random horizontal flips (x flow negated); off for
    classes that are mirror images of each other.
    """

    input_size: int = DEFAULT_INPUT_SIZE
    scales: tuple[float, ...] = T.MULTISCALE_SCALES
    max_distort: int = T.MAX_DISTORT
    more_fix_crop: bool = False
    flip: bool = True

    train: ClassVar[bool] = True  # random snippets too (tsn.data.sampling)
    crops: ClassVar[int] = 1  # crops per snippet
    __test__: ClassVar[bool] = False  # not a pytest test class

    def __post_init__(self):
        _check_size(self.input_size)
        if not self.scales or min(self.scales) <= 0:
            raise UserValueError(f"scales must be positive fractions of the short side, got {self.scales}")
        if self.max_distort < 0:
            raise UserValueError(f"max_distort must be >= 0, got {self.max_distort}")
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))

    def boxes(self, image_w: int, image_h: int, rng: np.random.Generator) -> list[T.CropBox]:
        """[one random CropBox] for frames of image_w x image_h pixels."""
        return [T.sample_multiscale_crop(image_w, image_h, self.input_size, rng, self.scales, self.max_distort,
                                         self.more_fix_crop, self.flip)]


@dataclass(frozen=True)
class TestCrops:
    """Test crops: the short side scaled to input_size * 256 / 224, then the centre crop
    (crops=1) or 4 corners + centre and their mirrors (crops=10, tsn-pytorch's GroupOverSample
    order). Deterministic."""

    input_size: int = DEFAULT_INPUT_SIZE
    crops: int = 1

    train: ClassVar[bool] = False  # centred snippets (tsn.data.sampling)
    __test__: ClassVar[bool] = False  # not a pytest test class

    def __post_init__(self):
        _check_size(self.input_size)
        if self.crops not in TEST_CROPS:
            raise UserValueError(f"crops must be one of {', '.join(map(str, TEST_CROPS))}, got {self.crops}")

    def boxes(self, image_w: int, image_h: int, rng: np.random.Generator | None = None) -> list[T.CropBox]:
        """The `crops` CropBoxes for frames of image_w x image_h pixels (rng unused)."""
        if self.crops == 10:
            return T.ten_crop_boxes(image_w, image_h, self.input_size)
        return [T.centre_crop_box(image_w, image_h, self.input_size)]


def train_crops(modality: str, input_size: int = DEFAULT_INPUT_SIZE, flip: bool = True,
                crop_positions: int | None = None) -> TrainCrops:
    """The TrainCrops of `modality`'s recipe (tsn.recipe): its scales, and its crop positions
    unless `crop_positions` (5 or 13) is given. ValueError for an unknown modality or count."""
    from tsn.recipe import get_recipe

    recipe = get_recipe(modality)
    positions = recipe.crop_positions if crop_positions is None else int(crop_positions)
    if positions not in CROP_POSITIONS:
        raise UserValueError(f"crop positions must be one of {', '.join(map(str, CROP_POSITIONS))}, got {positions}")
    # more_fix_crop: tsn-pytorch's 13 positions, the larger of CROP_POSITIONS
    return TrainCrops(input_size, scales=recipe.scales, more_fix_crop=positions == max(CROP_POSITIONS), flip=flip)
