"""Backbone registry: name -> a network mapping (N, 3, H, W) images to (N, D) features.

Every backbone is built with 3 input channels (the shape ImageNet weights have) and random
weights; tsn.models.pretrained loads the weight files (`--pretrained`) before TSN adapts the first
convolution to the modality's channel count (cross-modality initialization).

| name | D | weights (`--pretrained`, forms in tsn.models.pretrained) |
| --- | --- | --- |
| bninception | 1024 | tsn-pytorch's or Cadene's BN-Inception file (Caffe input convention folded into conv1) |
| resnet18 / resnet50 | 512 / 2048 | torchvision ImageNet (`imagenet`, a weights name, a file); mmaction2 TSN |
| tiny | 64 | a state dict saved from this backbone |

`tiny` is a 4-layer conv net with batch norm for tests and CPU demos (61k parameters). The
names are tsn.choices.ARCHS (tests check that the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from flowkit.errors import UserValueError


class Backbone(nn.Module):
    """A feature extractor: forward (N, C, H, W) -> (N, feature_dim)."""

    def __init__(self, body: nn.Module, feature_dim: int, method: str = "forward"):
        super().__init__()
        self.body = body
        self.feature_dim = feature_dim
        self.method = method  # which method of `body` returns the pooled features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.body, self.method)(x)


class TinyNet(nn.Module):
    """(N, C, H, W) -> (N, 64): three stride-2 conv-BN-ReLU stages and a global average pool."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            channels = width
        layers += [nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.layers(x)), 1)


def _bninception() -> Backbone:
    from tsn.models.bninception import FEATURE_DIM, BNInception

    net = BNInception()
    del net.fc  # TSN puts its own dropout + classifier on the pooled features
    return Backbone(net, FEATURE_DIM, "features")


def _torchvision_resnet(name: str) -> Callable[[], Backbone]:
    def build() -> Backbone:
        import torchvision

        net = getattr(torchvision.models, name)(weights=None)
        feature_dim = net.fc.in_features
        net.fc = nn.Identity()
        return Backbone(net, feature_dim)

    return build


def _tiny() -> Backbone:
    net = TinyNet()
    return Backbone(net, net.out_channels)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone (3 input channels, random weights), the crop size it is designed
    for, the naming family its weight files use (tsn.models.pretrained) and its torchvision model
    name, if torchvision distributes ImageNet weights for it."""

    build: Callable[[], Backbone]
    input_size: int  # the crop side the architecture was designed for, pixels
    family: str  # "bninception" | "resnet" | "tiny"
    torchvision_name: str | None = None


BACKBONES: dict[str, BackboneSpec] = {
    "bninception": BackboneSpec(_bninception, 224, "bninception"),
    "resnet18": BackboneSpec(_torchvision_resnet("resnet18"), 224, "resnet", "resnet18"),
    "resnet50": BackboneSpec(_torchvision_resnet("resnet50"), 224, "resnet", "resnet50"),
    "tiny": BackboneSpec(_tiny, 112, "tiny"),
}


def build_backbone(name: str) -> Backbone:
    """Backbone `name` with 3 input channels and random weights (tsn.models.pretrained loads
    weight files into it). Raises ValueError for an unknown name."""
    if name not in BACKBONES:
        raise UserValueError(f"unknown architecture {name!r}; choose from {', '.join(BACKBONES)}")
    return BACKBONES[name].build()
