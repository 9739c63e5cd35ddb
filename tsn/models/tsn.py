"""The Temporal Segment Network: one backbone scores every snippet, a consensus joins the segments.

Shapes: the input is (B, T, C, H, W) float - B videos, T snippets each (segments, or segments x
crops at test time), C channels (3 rgb, 10 flow/warp = 5 x/y pairs, rgbdiff as tsn.data builds it,
18 learned-flow = 6 RGB frames that the TV-L1 layers of tsn.models.learned_flow turn into 10 flow
channels before the backbone).
`snippet_scores` gives (B, T, num_classes) logits, `forward` their consensus (B, num_classes).

Good practices of the paper (Wang et al. 2016) and its reference code (yjxiong/tsn-pytorch):
- cross-modality initialization: a non-RGB net starts from the RGB weights, its first convolution's
  kernels averaged over the RGB channels and replicated over the new input channels;
- partial BN: every BatchNorm except the first keeps its statistics and affine parameters frozen
  (eval mode, requires_grad False), also across model.train() calls;
- a high dropout before the new classifier (0.8 spatial, 0.7 temporal), classifier initialized
  N(0, 0.001), bias 0;
- parameter groups (`optim_policies`) with the reference's learning-rate and weight-decay multipliers.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from flowkit.errors import UserValueError
from tsn.choices import CONSENSUS_TYPES, LEARNED_FLOW, MODALITIES, TEMPORAL_MODALITIES
from tsn.models.backbones import build_backbone
from tsn.models.consensus import SegmentConsensus
from tsn.models.learned_flow import UnrolledTVL1
from tsn.models.pretrained import load_backbone_weights, read_pretrained, report_line, resolve_pretrained
from tsn.recipe import get_recipe

# Learning-rate multiplier of the learned-flow TV-L1 layers' parameters (tau, lambda, theta, kernels).
# Measured (docs/results.md): x1 moves them (lambda 0.15 -> 0.06..0.31 in 20 epochs); x30 made the
# iteration diverge (NaN loss within 4 epochs).
FLOW_LAYERS_LR_MULT = 1

CLASSIFIER_INIT_STD = 0.001


def first_conv(module: nn.Module) -> tuple[str, nn.Conv2d]:
    """(qualified name, layer) of the first nn.Conv2d in `module`'s registration order."""
    for name, layer in module.named_modules():
        if isinstance(layer, nn.Conv2d):
            return name, layer
    raise ValueError(f"{type(module).__name__} has no Conv2d layer")


def cross_modality_init(module: nn.Module, in_channels: int) -> nn.Conv2d:
    """Replace `module`'s first convolution by one taking `in_channels` inputs whose kernels are the
    old kernels averaged over their input channels and replicated: new weight[:, c] = mean_k
    old weight[:, k] for every c. Bias, stride, padding are kept. Returns the new layer."""
    name, old = first_conv(module)
    # (torch types the layer's sizes as tuple[int, ...] and the constructor's as pairs)
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,  # type: ignore[arg-type]
                    old.dilation, old.groups, bias=old.bias is not None,  # type: ignore[arg-type]
                    padding_mode=old.padding_mode)
    with torch.no_grad():
        mean = old.weight.mean(dim=1, keepdim=True)
        new.weight.copy_(mean.expand(-1, in_channels, -1, -1))
        if old.bias is not None and new.bias is not None:
            new.bias.copy_(old.bias)
    parent_name, _, attr = name.rpartition(".")
    setattr(module.get_submodule(parent_name) if parent_name else module, attr, new)
    return new


class TSN(nn.Module):
    """Temporal Segment Network over a registered backbone (tsn.models.backbones).

    num_classes: classifier outputs. modality: one of MODALITIES. in_channels: input channels C of
    a snippet. arch: backbone name. segments: K, the training snippets per video (sizes weighted
    consensus). consensus: avg | max | weighted | temporal. dropout: before the classifier, None
    for the modality's recipe (tsn.recipe). partial_bn: freeze all BN layers but the first.
    pretrained: a weights file or name in any form tsn.models.pretrained reads (RGB weights are
    loaded before cross-modality initialization; a classifier of num_classes is kept, others
    re-initialized); `pretrained_report` then says what was loaded. flow: the learned-flow
    modality's UnrolledTVL1 arguments (None: its defaults); other modalities take None.
    """

    def __init__(self, num_classes: int, modality: str = "rgb", in_channels: int = 3, arch: str = "bninception",
                 segments: int = 3, consensus: str = "avg", dropout: float | None = None, partial_bn: bool = True,
                 pretrained: str | os.PathLike | None = None, flow: dict | None = None):
        super().__init__()
        if modality not in MODALITIES:
            raise UserValueError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
        if num_classes < 1:
            raise UserValueError(f"num_classes must be positive, got {num_classes}")
        self.modality = modality
        self.in_channels = in_channels
        self.arch = arch
        self.segments = segments
        if consensus not in CONSENSUS_TYPES:
            raise UserValueError(f"unknown consensus {consensus!r}; choose from {', '.join(CONSENSUS_TYPES)}")
        # The learned-flow layers turn the snippet's frames into the flow modality's input.
        self.flow_layers = None
        backbone_channels, backbone_modality = in_channels, modality
        if modality == LEARNED_FLOW:
            self.flow_layers = UnrolledTVL1(**(flow or {}))
            backbone_channels, backbone_modality = 2 * (in_channels // 3 - 1), "flow"  # (x, y) per frame pair
        elif flow is not None:
            raise UserValueError(f"flow layer settings apply to the {LEARNED_FLOW} modality, not {modality}")
        self.backbone = build_backbone(arch)
        weights = None
        if pretrained is not None:
            weights = read_pretrained(resolve_pretrained(pretrained, arch), arch)
            caffe_map = None
            if weights.caffe_input and backbone_channels != 3:
                from tsn.data.modalities import get_modality

                caffe_map = get_modality(backbone_modality).caffe_input_map()
            copied = load_backbone_weights(self.backbone, weights, backbone_channels, caffe_map)
        elif backbone_channels != 3:
            cross_modality_init(self.backbone, backbone_channels)
        self.dropout = nn.Dropout(get_recipe(modality).dropout if dropout is None else dropout)
        self.fc = nn.Linear(self.backbone.feature_dim, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, CLASSIFIER_INIT_STD)
        nn.init.zeros_(self.fc.bias)
        # What loading `pretrained` did, one line (tsn.models.pretrained.report_line); None without.
        self.pretrained_report: str | None = None
        if weights is not None:
            classifier = weights.classifier
            fits = (set(classifier) == {"weight", "bias"} and classifier["weight"].shape == self.fc.weight.shape
                    and classifier["bias"].shape == self.fc.bias.shape)
            if fits:
                self.fc.load_state_dict(classifier)
            self.pretrained_report = report_line(weights, copied + (2 if fits else 0), fits, num_classes)
        self.consensus = SegmentConsensus(consensus, segments, num_classes)
        self.partial_bn = partial_bn
        self.train()

    def config(self) -> dict:
        """The constructor arguments (without `pretrained`): TSN(**model.config()) rebuilds the
        architecture a state dict of this model loads into. `flow` only for learned-flow."""
        config = {"num_classes": self.num_classes, "modality": self.modality, "in_channels": self.in_channels,
                  "arch": self.arch, "segments": self.segments, "consensus": self.consensus.kind,
                  "dropout": self.dropout.p, "partial_bn": self.partial_bn}
        if self.flow_layers is not None:
            config["flow"] = self.flow_layers.config()
        return config

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def batch_norms(self) -> list[nn.modules.batchnorm._BatchNorm]:
        """The backbone's BatchNorm layers in registration order (the first is never frozen)."""
        return [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def frozen_batch_norms(self) -> list[nn.modules.batchnorm._BatchNorm]:
        """The BatchNorm layers partial BN freezes: all but the first, or none when it is off."""
        return self.batch_norms()[1:] if self.partial_bn else []

    def train(self, mode: bool = True) -> "TSN":
        """Set training mode, then put the frozen BN layers back in eval mode: their running
        statistics do not update and their affine parameters get no gradient."""
        super().train(mode)
        for bn in self.frozen_batch_norms():
            bn.eval()
            for parameter in bn.parameters():
                parameter.requires_grad_(False)
        return self

    def snippet_scores(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, T, num_classes) logits of each snippet."""
        if clips.ndim != 5 or clips.shape[2] != self.in_channels:
            raise ValueError(f"expected input (B, T, {self.in_channels}, H, W), got {tuple(clips.shape)}")
        batch, snippets = clips.shape[:2]
        inputs = clips.flatten(0, 1)
        if self.flow_layers is not None:
            inputs = self.flow_layers(inputs)
        features = self.backbone(inputs)
        return self.fc(self.dropout(features)).view(batch, snippets, -1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, num_classes) consensus logits (cross-entropy goes on these)."""
        return self.consensus(self.snippet_scores(clips))

    def optim_policies(self) -> list[dict]:
        """SGD parameter groups as tsn-pytorch's get_optim_policies: each has `params`, `name`,
        `lr_mult` and `decay_mult` (multipliers of the base lr and weight decay).

        first conv weight: lr x5 for flow/warp, x1 otherwise; first conv bias: lr x10 flow / x2,
        no decay; other conv and linear weights x1; their biases lr x2, no decay; trainable BN
        parameters (the first BN under partial BN), the weighted / temporal consensus weights and
        the learned-flow TV-L1 layers (lr x FLOW_LAYERS_LR_MULT): no decay. Frozen BN parameters are
        left out.
        """
        flow = self.modality in TEMPORAL_MODALITIES  # their first convolution learns faster (tsn-pytorch's 'Flow')
        groups: dict[str, tuple[list[torch.Tensor], float, float]] = {
            "first_conv_weight": ([], 5 if flow else 1, 1),
            "first_conv_bias": ([], 10 if flow else 2, 0),
            "normal_weight": ([], 1, 1),
            "normal_bias": ([], 2, 0),
            "bn": ([], 1, 0),
            "consensus": ([], 1, 0),
            "flow_layers": ([], FLOW_LAYERS_LR_MULT, 0),
        }
        frozen = {id(p) for bn in self.frozen_batch_norms() for p in bn.parameters()}
        seen_conv = False
        for module in self.modules():
            own = list(module.parameters(recurse=False))
            if not own:
                continue
            if isinstance(module, nn.Conv2d):
                prefix = "normal" if seen_conv else "first_conv"
                seen_conv = True
                groups[f"{prefix}_weight"][0].append(module.weight)
                if module.bias is not None:
                    groups[f"{prefix}_bias"][0].append(module.bias)
            elif isinstance(module, nn.Linear):
                groups["normal_weight"][0].append(module.weight)
                if module.bias is not None:
                    groups["normal_bias"][0].append(module.bias)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                groups["bn"][0].extend(p for p in own if id(p) not in frozen)
            elif isinstance(module, SegmentConsensus):
                groups["consensus"][0].extend(own)
            elif isinstance(module, UnrolledTVL1):
                groups["flow_layers"][0].extend(own)
            else:
                raise ValueError(f"no learning policy for parameters of {type(module).__name__}")
        return [{"params": params, "name": name, "lr_mult": lr_mult, "decay_mult": decay_mult}
                for name, (params, lr_mult, decay_mult) in groups.items() if params]
