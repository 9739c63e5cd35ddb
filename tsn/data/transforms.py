"""Spatial augmentation of TSN snippets, as the paper and tsn-pytorch's Group* transforms.

Every crop is a CropBox: a rectangle in source-frame pixels plus a horizontal-flip flag. The
rectangle is cut out and resized (bilinear) to input_size x input_size; the same box applies
to every record of a video (all segments), as tsn-pytorch transforms a whole image group.

- Training (sample_multiscale_crop): GroupMultiScaleCrop. Crop width and height are each one of
  int(short_side * s) for s in MULTISCALE_SCALES (a 340x256 frame: 256, 224, 192, 168; sizes
  within 3 px of input_size snap to it), their scale indices differ by at most max_distort
  (aspect limit), and the box sits at one of the fixed positions: 4 corners + centre (the
  paper; more_fix_crop adds tsn-pytorch's 8 extra positions). Flipped with probability 1/2.
- Testing: the short side is scaled to input_size * 256 / 224 (256 for 224) and input_size
  crops taken from it: the centre one (centre_crop_box) or 10 (ten_crop_boxes: 4 corners +
  centre, each unflipped then flipped, tsn-pytorch's GroupOverSample order). The scaling is
  folded into the box, so a 340x256 frame is cropped 224x224 with no resize.

A horizontal flip mirrors the columns and negates the x flow: on uint8 quantized flow (levels
q, 0 <-> -B, 255 <-> +B) that is 255 - q, exact under flowkit.quantize's de-quantization; on
de-quantized floats it is -x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsn.recipe import RGB_SCALES

MULTISCALE_SCALES = RGB_SCALES  # 1, .875, .75, .66 (tsn.recipe)
MAX_DISTORT = 1
# Test-time scale: short side resized to input_size * 256 / 224 before cropping.
TEST_SCALE_RATIO = 256 / 224
SNAP_PIXELS = 3


@dataclass(frozen=True)
class CropBox:
    """A crop in source-frame pixels: columns x..x+w, rows y..y+h; flip mirrors it afterwards."""

    x: int
    y: int
    w: int
    h: int
    flip: bool = False

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.x, self.y, self.w, self.h, int(self.flip))


def multiscale_crop_sizes(
    image_w: int, image_h: int, input_size: int, scales=MULTISCALE_SCALES, max_distort: int = MAX_DISTORT
) -> list[tuple[int, int]]:
    """The (crop_w, crop_h) pairs scale jittering draws from: sides int(min(w, h) * s), snapped
    to input_size when within 3 px, with |index(w) - index(h)| <= max_distort."""
    base = min(image_w, image_h)
    sides = [int(base * s) for s in scales]
    sides = [input_size if abs(side - input_size) < SNAP_PIXELS else side for side in sides]
    # A snapped side may exceed a small frame; never crop outside it.
    widths = [min(side, image_w) for side in sides]
    heights = [min(side, image_h) for side in sides]
    return [
        (widths[j], heights[i])
        for i in range(len(sides))
        for j in range(len(sides))
        if abs(i - j) <= max_distort
    ]


def fixed_crop_offsets(image_w: int, image_h: int, crop_w: int, crop_h: int,
                       more_fix_crop: bool = False) -> list[tuple[int, int]]:
    """(x, y) of the fixed crop positions: upper-left, upper-right, lower-left, lower-right,
    centre; with more_fix_crop also the 8 of tsn-pytorch (edge centres and quarter points).
    Positions lie on a grid of steps (image - crop) // 4."""
    ws, hs = (image_w - crop_w) // 4, (image_h - crop_h) // 4
    offsets = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
    if more_fix_crop:
        offsets += [
            (0, 2 * hs), (4 * ws, 2 * hs), (2 * ws, 4 * hs), (2 * ws, 0),
            (ws, hs), (3 * ws, hs), (ws, 3 * hs), (3 * ws, 3 * hs),
        ]
    return offsets


def sample_multiscale_crop(
    image_w: int,
    image_h: int,
    input_size: int,
    rng: np.random.Generator,
    scales=MULTISCALE_SCALES,
    max_distort: int = MAX_DISTORT,
    more_fix_crop: bool = False,
    flip: bool = True,
) -> CropBox:
    """One training crop: a random scale-jittered size at a random fixed position, flipped
    with probability 1/2 when `flip`."""
    sizes = multiscale_crop_sizes(image_w, image_h, input_size, scales, max_distort)
    crop_w, crop_h = sizes[rng.integers(len(sizes))]
    offsets = fixed_crop_offsets(image_w, image_h, crop_w, crop_h, more_fix_crop)
    x, y = offsets[rng.integers(len(offsets))]
    flipped = bool(rng.random() < 0.5) if flip else False
    return CropBox(int(x), int(y), int(crop_w), int(crop_h), flipped)


def eval_crop_side(image_w: int, image_h: int, input_size: int) -> int:
    """Side in source pixels of an input_size crop taken after scaling the short side to
    input_size * 256 / 224 (224 for a 256 short side)."""
    scale_size = int(input_size * TEST_SCALE_RATIO)
    return min(int(round(input_size * min(image_w, image_h) / scale_size)), image_w, image_h)


def centre_crop_box(image_w: int, image_h: int, input_size: int) -> CropBox:
    """The single test crop: centred, unflipped (tsn-pytorch GroupScale + GroupCenterCrop)."""
    side = eval_crop_side(image_w, image_h, input_size)
    return CropBox((image_w - side) // 2, (image_h - side) // 2, side, side)


def ten_crop_boxes(image_w: int, image_h: int, input_size: int) -> list[CropBox]:
    """The 10 test crops: for each of upper-left, upper-right, lower-left, lower-right, centre
    the crop then its mirror (tsn-pytorch GroupOverSample order)."""
    side = eval_crop_side(image_w, image_h, input_size)
    boxes = []
    for x, y in fixed_crop_offsets(image_w, image_h, side, side):
        boxes += [CropBox(x, y, side, side, False), CropBox(x, y, side, side, True)]
    return boxes


def negate_quantized(plane: np.ndarray) -> np.ndarray:
    """Negate uint8 quantized flow in place (q -> 255 - q, i.e. v -> -v in pixels); returns it."""
    return np.subtract(255, plane, out=plane)


def crop_records(records: np.ndarray, box: CropBox, input_size: int, flow_x_channel: int | None = None) -> np.ndarray:
    """Cut `box` out of uint8 records (N, H, W) or (N, H, W, c), resize bilinearly to
    input_size x input_size and apply its flip (negating channel flow_x_channel, if given) ->
    (N, input_size, input_size[, c]) uint8."""
    import cv2

    region = records[:, box.y : box.y + box.h, box.x : box.x + box.w]
    if region.shape[1:3] != (box.h, box.w):
        raise ValueError(f"crop {box} does not fit frames of size {records.shape[2]}x{records.shape[1]}")
    resize = (box.w, box.h) != (input_size, input_size)
    if not resize and not box.flip:
        return np.ascontiguousarray(region)
    out = np.empty((len(records), input_size, input_size) + records.shape[3:], np.uint8)
    for i, record in enumerate(region):
        if resize:
            record = cv2.resize(record, (input_size, input_size), interpolation=cv2.INTER_LINEAR)
        if box.flip:
            record = cv2.flip(record, 1)
        out[i] = record.reshape(out.shape[1:])
    if box.flip and flow_x_channel is not None:
        negate_quantized(out[..., flow_x_channel])
    return out
