"""BN-Inception (Inception v2 with batch normalization, Ioffe & Szegedy 2015), the backbone of TSN.

The layer structure follows the Caffe prototxt TSN was trained with (as transcribed in
yjxiong/tsn-pytorch's tf_model_zoo/bninception): every convolution has a bias and is followed by
BatchNorm (eps 1e-5) and ReLU; pooling rounds up (Caffe's ceil mode); blocks 3c and 4e downsample
with stride-2 3x3 convolutions beside a max-pool branch; 5b's pool branch is a max pool. At a
224x224 input the last feature map is 7x7x1024; the global average pool here is adaptive so small
inputs (tests, CPU demos) work too, and equals Caffe's 7x7 average pool at 224.

Converted checkpoints (read by tsn.models.pretrained) use the flat Caffe layer names, e.g.
`conv1_7x7_s2.weight`, `conv1_7x7_s2.bias`, `conv1_7x7_s2_bn.weight`, `conv1_7x7_s2_bn.bias`,
`conv1_7x7_s2_bn.running_mean`, `conv1_7x7_s2_bn.running_var`, `inception_3a_double_3x3_1.weight`,
`inception_3a_double_3x3_1_bn.running_var`, ..., `fc.weight` (1000, 1024), `fc.bias` - the 416 keys
of tsn-pytorch's `bn_inception-9f5701afb96c8044.pth` (layer ids of its tf_model_zoo
bninception/bn_inception.yaml; BN tensors shaped (1, C) there, (C,) in Cadene's port, whose
classifier is `last_linear`). The state dict of this module itself nests them:
`conv1_7x7_s2.conv.weight`, `conv1_7x7_s2.bn.running_mean`, `inception_3a.double_3x3_1.conv.weight`.
Those weights expect BGR pixels in 0..255 minus the mean [104, 117, 128] (Caffe convention);
`fold_caffe_input_convention` rewrites the first convolution so the net takes tsn.data's RGB
input (ImageNet mean/std normalized) instead.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

FEATURE_DIM = 1024
BN_EPS = 1e-5
CAFFE_MEAN_BGR = (104.0, 117.0, 128.0)


class ConvBNReLU(nn.Sequential):
    """Caffe's conv (with bias) -> BN -> ReLU unit; children `conv`, `bn`, `relu`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=True)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.relu = nn.ReLU(inplace=True)


class InceptionBlock(nn.Module):
    """One BN-Inception block: up to four parallel branches concatenated on channels.

    Branches (Caffe suffixes): `1x1`; `3x3_reduce` -> `3x3`; `double_3x3_reduce` -> `double_3x3_1`
    -> `double_3x3_2`; a pool, then `pool_proj` unless the block downsamples (stride 2), where the
    pool output is concatenated as is and there is no 1x1 branch.
    """

    def __init__(self, in_channels: int, c1x1: int, c3x3_reduce: int, c3x3: int, cdouble_reduce: int, cdouble: int,
                 pool: str, pool_proj: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        units: dict[str, nn.Module] = {}
        if c1x1:
            units["1x1"] = ConvBNReLU(in_channels, c1x1, 1)
        units["3x3_reduce"] = ConvBNReLU(in_channels, c3x3_reduce, 1)
        units["3x3"] = ConvBNReLU(c3x3_reduce, c3x3, 3, stride, 1)
        units["double_3x3_reduce"] = ConvBNReLU(in_channels, cdouble_reduce, 1)
        units["double_3x3_1"] = ConvBNReLU(cdouble_reduce, cdouble, 3, 1, 1)
        units["double_3x3_2"] = ConvBNReLU(cdouble, cdouble, 3, stride, 1)
        if pool_proj:
            units["pool_proj"] = ConvBNReLU(in_channels, pool_proj, 1)
        # Names like "1x1" are the Caffe suffixes; registered by name so checkpoints map one to one.
        for name, unit in units.items():
            self.add_module(name, unit)
        if stride == 1:
            self.pool = (nn.AvgPool2d(3, 1, 1, ceil_mode=True) if pool == "avg"
                         else nn.MaxPool2d(3, 1, 1, ceil_mode=True))
        else:
            self.pool = nn.MaxPool2d(3, stride, ceil_mode=True)
        self.out_channels = c1x1 + c3x3 + cdouble + (pool_proj if pool_proj else in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        units = dict(self.named_children())
        outputs = []
        if "1x1" in units:
            outputs.append(units["1x1"](x))
        outputs.append(units["3x3"](units["3x3_reduce"](x)))
        outputs.append(units["double_3x3_2"](units["double_3x3_1"](units["double_3x3_reduce"](x))))
        pooled = self.pool(x)
        outputs.append(units["pool_proj"](pooled) if "pool_proj" in units else pooled)
        return torch.cat(outputs, dim=1)


# (name, c1x1, c3x3_reduce, c3x3, cdouble_reduce, cdouble, pool, pool_proj, stride) from the prototxt.
BLOCKS: tuple[tuple[Any, ...], ...] = (
    ("inception_3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("inception_3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("inception_3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("inception_4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("inception_4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("inception_4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("inception_4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("inception_4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("inception_5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("inception_5b", 352, 192, 320, 192, 224, "max", 128, 1),
)


class BNInception(nn.Module):
    """BN-Inception: (N, in_channels, H, W) float -> (N, num_classes) logits.

    `features(x)` gives the (N, 1024) globally pooled features; `fc` is the ImageNet classifier
    (TSN replaces it with dropout + a new linear layer).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        self.conv1_7x7_s2 = ConvBNReLU(in_channels, 64, 7, 2, 3)
        self.pool1_3x3_s2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2_3x3_reduce = ConvBNReLU(64, 64, 1)
        self.conv2_3x3 = ConvBNReLU(64, 192, 3, 1, 1)
        self.pool2_3x3_s2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        channels = 192
        for name, *widths in BLOCKS:
            block = InceptionBlock(channels, *widths)
            self.add_module(name, block)
            channels = block.out_channels
        assert channels == FEATURE_DIM
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 1024) globally averaged features of inception_5b."""
        x = self.pool1_3x3_s2(self.conv1_7x7_s2(x))
        x = self.pool2_3x3_s2(self.conv2_3x3(self.conv2_3x3_reduce(x)))
        for name, *_ in BLOCKS:
            x = self.get_submodule(name)(x)
        return torch.flatten(self.global_pool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


_CAFFE_KEY = re.compile(r"^(?P<layer>[A-Za-z0-9_]+?)(?P<bn>_bn)?\."
                        r"(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)$")
_STEM_LAYERS = ("conv1_7x7_s2", "conv2_3x3_reduce", "conv2_3x3")


def caffe_key_to_module_key(key: str) -> str:
    """Map a converted-checkpoint key (`inception_3a_1x1_bn.running_mean`) to this module's state
    dict key (`inception_3a.1x1.bn.running_mean`). Raises KeyError for names BN-Inception lacks."""
    if key.startswith("fc."):
        return key
    match = _CAFFE_KEY.match(key)
    if not match:
        raise KeyError(f"not a BN-Inception checkpoint key: {key!r}")
    layer, part = match["layer"], "bn" if match["bn"] else "conv"
    if layer in _STEM_LAYERS:
        return f"{layer}.{part}.{match['param']}"
    block = layer[:12]  # "inception_3a"
    if block in dict((b[0], b) for b in BLOCKS) and layer[12:13] == "_":
        return f"{block}.{layer[13:]}.{part}.{match['param']}"
    raise KeyError(f"not a BN-Inception checkpoint key: {key!r}")


@torch.no_grad()
def fold_caffe_input_convention(model: BNInception, mean=None, std=None) -> None:
    """Rewrite conv1 of a model holding Caffe weights (input x_caffe: B, G, R in 0..255 minus
    CAFFE_MEAN_BGR) so that it takes x = (rgb / 255 - mean) / std (R, G, B; tsn.data's rgb
    input, ImageNet mean/std by default) and computes the same conv1 output away from the
    border: x_caffe[bgr c] = 255 std[c] x[c] + 255 mean[c] - caffe_mean[c], so the kernels are
    reordered and scaled by 255 std and the offsets move into the bias. Zero padding differs at
    the one-pixel frame of the image (it pads 0 in x instead of in x_caffe)."""
    if mean is None or std is None:
        from tsn.data.modalities import IMAGENET_MEAN, IMAGENET_STD

        mean, std = IMAGENET_MEAN, IMAGENET_STD
    conv = model.conv1_7x7_s2.conv
    if conv.in_channels != 3:
        raise ValueError("fold the Caffe input convention before changing the input channels")
    rgb_weight = conv.weight.flip(1)  # Caffe's input channels are B, G, R
    scale = 255.0 * torch.tensor(std, dtype=rgb_weight.dtype)
    caffe_mean_rgb = torch.tensor(CAFFE_MEAN_BGR[::-1], dtype=rgb_weight.dtype)
    offset = 255.0 * torch.tensor(mean, dtype=rgb_weight.dtype) - caffe_mean_rgb
    assert conv.bias is not None  # ConvBNReLU's convolution has one
    conv.bias.add_((rgb_weight.sum(dim=(2, 3)) * offset).sum(dim=1))
    conv.weight.copy_(rgb_weight * scale.view(1, 3, 1, 1))
