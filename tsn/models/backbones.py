"""Backbone registry: name -> a network mapping (N, 3, H, W) images to (N, D) features.

Every backbone is built with 3 input channels (the shape ImageNet weights have) and loads its
pretrained weights, if a local file is given, before TSN adapts the first convolution to the
modality's channel count (cross-modality initialization). Nothing is ever downloaded.

| name | D | weights file (`--pretrained PATH`) |
| --- | --- | --- |
| bninception | 1024 | converted Caffe BN-Inception state dict (tsn.models.bninception; conv1 rewritten for RGB input) |
| resnet18 / resnet50 | 512 / 2048 | torchvision state dict (`resnet18-*.pth`) |
| tiny | 64 | a state dict saved from this backbone |

`tiny` is a 4-layer conv net with batch norm for tests and CPU demos (61k parameters). The
names are tsn.choices.ARCHS (tests check that the two agree).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


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


def _load_state_dict(module: nn.Module, path: str | os.PathLike, what: str, skip_prefix: str | None = None) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a {what} state dict, got {type(state).__name__}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if skip_prefix:
        state = {k: v for k, v in state.items() if not k.startswith(skip_prefix)}
    own = module.state_dict()
    wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{path}: shape mismatch for {wrong[:3]} (not a {what} checkpoint?)")
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys
               if not k.endswith("num_batches_tracked") and not (skip_prefix and k.startswith(skip_prefix))]
    if missing or result.unexpected_keys:
        raise ValueError(f"{path}: not a {what} state dict "
                         f"(missing {missing[:3]}, unexpected {result.unexpected_keys[:3]})")


def _bninception(pretrained: str | None) -> Backbone:
    from tsn.models.bninception import FEATURE_DIM, BNInception, fold_caffe_input_convention, load_bninception_weights

    net = BNInception()
    if pretrained:
        load_bninception_weights(net, pretrained)
        # Caffe weights expect BGR 0..255 minus a mean; tsn.data feeds ImageNet-normalized RGB.
        fold_caffe_input_convention(net)
    del net.fc  # TSN puts its own dropout + classifier on the pooled features
    return Backbone(net, FEATURE_DIM, "features")


def _torchvision_resnet(name: str) -> Callable[[str | None], Backbone]:
    def build(pretrained: str | None) -> Backbone:
        import torchvision

        net = getattr(torchvision.models, name)(weights=None)
        if pretrained:
            _load_state_dict(net, pretrained, f"torchvision {name}", skip_prefix="fc.")
        feature_dim = net.fc.in_features
        net.fc = nn.Identity()
        return Backbone(net, feature_dim)

    return build


def _tiny(pretrained: str | None) -> Backbone:
    net = TinyNet()
    if pretrained:
        _load_state_dict(net, pretrained, "tiny")
    return Backbone(net, net.out_channels)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone, and the crop size it is designed for."""

    build: Callable[[str | None], Backbone]
    input_size: int  # the crop side the architecture was designed for, pixels


BACKBONES: dict[str, BackboneSpec] = {
    "bninception": BackboneSpec(_bninception, 224),
    "resnet18": BackboneSpec(_torchvision_resnet("resnet18"), 224),
    "resnet50": BackboneSpec(_torchvision_resnet("resnet50"), 224),
    "tiny": BackboneSpec(_tiny, 112),
}


def build_backbone(name: str, pretrained: str | os.PathLike | None = None) -> Backbone:
    """Backbone `name` with 3 input channels, weights from the local file `pretrained` if given.

    Raises ValueError for an unknown name or a weights file that does not fit the architecture,
    OSError if the file cannot be read.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(BACKBONES)}")
    if pretrained is not None and not os.path.isfile(pretrained):
        raise FileNotFoundError(f"no pretrained weights file at {pretrained}")
    return BACKBONES[name].build(str(pretrained) if pretrained is not None else None)
