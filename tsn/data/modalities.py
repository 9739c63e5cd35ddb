"""What each TSN input modality reads from a store and how it becomes network input.

| modality | streams read        | snippet (records) | record channels | network channels |
| -------- | ------------------- | ----------------- | --------------- | ---------------- |
| rgb      | rgb                 | 1 frame           | 3 (R, G, B)     | 3                |
| rgbdiff  | rgb                 | 6 frames          | 3               | 15 = 5 diffs x 3 |
| flow     | flow_x, flow_y      | 5 flow pairs      | 2 (x, y)        | 10 = 5 x (x, y)  |
| warp     | warp_x, warp_y      | 5 flow pairs      | 2 (x, y)        | 10 = 5 x (x, y)  |
| learned-flow | rgb             | 6 frames          | 3               | 18 = 6 x 3 (RGB); 10 after the flow layers |

Channel order and normalization of the network input (per snippet, (C, H, W) float32):
- rgb: R, G, B scaled to [0, 1], then (v - IMAGENET_MEAN) / IMAGENET_STD (torchvision's ImageNet
  convention, so torchvision weights apply as they are).
- rgbdiff: frames f_0..f_5 scaled to [0, 1]; channels are d_1..d_5 with d_t = f_t - f_{t-1} in
  [-1, 1], each R, G, B, divided by RGBDIFF_STD = 2 * mean(IMAGENET_STD) (the scale tsn-pytorch's
  RGBDiff normalization gives its differences), mean 0. Like tsn-pytorch (new_length 5, one
  extra frame to difference), 6 consecutive frames give 5 differences.
- flow / warp: the uint8 records are de-quantized with the store's bound B (pixels, dense_flow
  convention, flowkit.quantize.dequantize_flow) and divided by B, so values lie in [-1, 1]
  (+-1 = +-B pixels). Channels interleave x and y per pair, x_1, y_1, ..., x_5, y_5, as
  tsn-pytorch stacks flow_x / flow_y images. Resizing a crop does not rescale the flow values
  (as in the reference implementations).
- learned-flow: the 6 consecutive frames f_0..f_5 of the 5 flow pairs, R, G, B each, scaled to
  [0, 1] (no mean / std: tsn.models.learned_flow turns them into gray and computes the 5 flows
  inside the network, then normalizes those as flow / warp above). A horizontal flip only mirrors
  the frames; the flow computed from them is mirrored with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowkit.errors import UserValueError
from flowkit.quantize import dequantize_flow
from flowkit.store import format as fmt

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RGBDIFF_STD = 2.0 * sum(IMAGENET_STD) / 3.0
FLOW_SNIPPET = 5
RGBDIFF_DIFFS = 5


@dataclass(frozen=True)
class Modality:
    """How one modality reads and stacks records.

    streams: store streams read per record, stacked as the record's channels (rgb: one stream
    with 3 channels; flow: x then y). snippet_length: consecutive records per snippet (L).
    record_channels: channels of one record (c). channels: network input channels per snippet.
    flow_x_channel: index within a record of the channel a horizontal flip negates, or None.
    """

    name: str
    streams: tuple[str, ...]
    snippet_length: int
    record_channels: int
    channels: int
    flow_x_channel: int | None = None

    @property
    def is_flow(self) -> bool:
        return self.flow_x_channel is not None

    @property
    def record_stream(self) -> str:
        """The stream whose record count bounds the snippet indices."""
        return self.streams[0]

    def caffe_input_map(self) -> tuple[float, float]:
        """(scale, offset) with x_caffe = scale * x + offset: what tsn-pytorch and the Caffe TSN feed
        BN-Inception for this modality (flow: quantized q - 128; rgbdiff: differences of 0..255
        frames), as a function of this module's network input x. Lets Caffe-convention first-layer
        kernels take our input (tsn.models.pretrained); rgb instead folds per channel
        (tsn.models.bninception.fold_caffe_input_convention)."""
        if self.is_flow:  # x = (q - 127.5) / 127.5 (dequantized / bound), so q - 128 = 127.5 x - 0.5
            return 127.5, -0.5
        if self.name == "rgbdiff":  # x = difference / 255 / RGBDIFF_STD
            return 255.0 * RGBDIFF_STD, 0.0
        raise ValueError(f"{self.name}: Caffe's RGB input convention is folded per channel, not mapped")

    def to_input(self, snippets, bound: float):
        """Cropped records -> normalized network input.

        snippets: torch tensor (N, L, c, H, W), uint8 or float in uint8 units (0..255; flow as
        quantized levels), horizontal flips already applied. bound: the store's flow
        quantization bound in pixels (used by flow/warp). Returns float32 (N, channels, H, W).
        """
        import torch

        n, length, c, h, w = snippets.shape
        if length != self.snippet_length or c != self.record_channels:
            raise ValueError(
                f"{self.name} expects snippets of {self.snippet_length} records x {self.record_channels} channels, "
                f"got {length} x {c}"
            )
        if self.is_flow:
            flow = dequantize_flow(snippets, bound) / bound
            return flow.reshape(n, self.channels, h, w).contiguous()
        frames = snippets.float() / 255.0
        if self.name == "learned-flow":
            return frames.reshape(n, self.channels, h, w).contiguous()
        if self.name == "rgbdiff":
            diffs = (frames[:, 1:] - frames[:, :-1]) / RGBDIFF_STD
            return diffs.reshape(n, self.channels, h, w).contiguous()
        mean = torch.tensor(IMAGENET_MEAN, dtype=frames.dtype, device=frames.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=frames.dtype, device=frames.device).view(1, 3, 1, 1)
        return ((frames[:, 0] - mean) / std).contiguous()


MODALITIES: dict[str, Modality] = {
    "rgb": Modality("rgb", (fmt.RGB,), 1, 3, 3),
    "rgbdiff": Modality("rgbdiff", (fmt.RGB,), RGBDIFF_DIFFS + 1, 3, 3 * RGBDIFF_DIFFS),
    "flow": Modality("flow", (fmt.FLOW_X, fmt.FLOW_Y), FLOW_SNIPPET, 2, 2 * FLOW_SNIPPET, flow_x_channel=0),
    "warp": Modality("warp", (fmt.WARP_X, fmt.WARP_Y), FLOW_SNIPPET, 2, 2 * FLOW_SNIPPET, flow_x_channel=0),
    "learned-flow": Modality("learned-flow", (fmt.RGB,), FLOW_SNIPPET + 1, 3, 3 * (FLOW_SNIPPET + 1)),
}


def get_modality(name: str) -> Modality:
    """The Modality called `name` (rgb, rgbdiff, flow, warp, learned-flow); ValueError for others."""
    try:
        return MODALITIES[name]
    except KeyError:
        raise UserValueError(f"unknown modality {name!r}; expected one of {', '.join(MODALITIES)}") from None


def input_channels(name: str) -> int:
    """Input channels per snippet for modality `name` (rgb 3, rgbdiff 15, flow/warp 10, learned-flow 18)."""
    return get_modality(name).channels
