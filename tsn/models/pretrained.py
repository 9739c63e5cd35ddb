"""Pretrained weights in the forms they are distributed, mapped onto our backbones by name.

`--pretrained` takes a file, or a name resolved in torch's hub cache (`$TORCH_HOME/hub/checkpoints`):
`imagenet` (the torchvision backbone's DEFAULT ImageNet weights; for bninception one of the two
BN-Inception files below, placed there by hand) or a torchvision weights name (`IMAGENET1K_V1`,
`ResNet50_Weights.IMAGENET1K_V2`). A torchvision file missing from the cache is downloaded (the
name is the user's explicit request); offline that fails with one line naming the file and folder.

Forms, recognized by their keys (classifier; input the weights expect):
- tsn-pytorch's BN-Inception `bn_inception-9f5701afb96c8044.pth`: Caffe layer ids
  `conv1_7x7_s2.weight`, `conv1_7x7_s2_bn.running_var`, ..., every BN tensor shaped (1, C)
  (`fc.*`, 1000 classes; Caffe: BGR 0..255 minus [104, 117, 128]).
- Cadene pretrainedmodels' BN-Inception `bn_inception-52deb4733.pth`: the same ids, BN tensors (C,)
  (`last_linear.*`; Caffe, its settings say input_space BGR, input_range [0, 255], mean
  [104, 117, 128], std 1).
- BN-Inception with this package's module names, `conv1_7x7_s2.conv.weight` (`fc.*`; taken to be
  converted Caffe weights).
- torchvision ResNet, `resnet50-11ad3fa6.pth`: `conv1.weight`, `bn1.running_mean`,
  `layer1.0.downsample.0.weight` (`fc.*`; RGB with ImageNet mean/std, tsn.data's input).
- mmaction2 TSN checkpoint `{'state_dict', 'meta'}`: `backbone.conv1.conv.weight`,
  `backbone.layer1.0.conv1.bn.weight`, `backbone.layer1.0.downsample.conv.weight`
  (`cls_head.fc_cls.*`; RGB 0..255 minus [123.675, 116.28, 103.53] over [58.395, 57.12, 57.375],
  which is ImageNet mean/std; flow (q - 128) / 128, about tsn.data's flow input).
- a flowkit TSN checkpoint (`tsn train` output), `model`: `backbone.body.*` (`fc.*`; tsn.data's).

Caffe-convention weights get their input convention folded into conv1
(tsn.models.bninception.fold_caffe_input_convention). Every backbone tensor must be in the file with
its shape (num_batches_tracked counters may be absent) and every tensor of the file must have a
place, else ValueError naming them: never a silent partial load. The file's classifier is used when
its class count is the model's, else the classifier is re-initialized.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from flowkit.errors import UserFileNotFoundError, UserOSError, UserValueError
from tsn.models.weights import load_torch_file

if TYPE_CHECKING:  # backbones imports this module
    from tsn.models.backbones import Backbone

CACHE_SUBDIR = "checkpoints"
IMAGENET = "imagenet"
# The BN-Inception ImageNet files TSN codebases use (neither is in torchvision's weights API).
BNINCEPTION_FILES = {
    "bn_inception-9f5701afb96c8044.pth": "tsn-pytorch",
    "bn_inception-52deb4733.pth": "Cadene pretrainedmodels",
}
_BATCH_COUNTER = "num_batches_tracked"
_MMACTION_RESNET = re.compile(
    r"^(?P<block>layer\d+\.\d+\.)(?P<unit>conv\d+|downsample)\.(?P<part>conv|bn)\.(?P<param>.+)$")


@dataclass
class PretrainedWeights:
    """A weights file read and renamed for one backbone.

    backbone: {backbone body state-dict key: tensor}. classifier: {'weight': (classes, D),
    'bias': (classes,)} or empty. caffe_input: the weights expect Caffe's BGR 0..255 minus mean
    input (fold it into conv1 before use). tensors: tensors in the file; ignored: file keys
    deliberately unused (normalization constants of mmaction2's data preprocessor); notes: what
    the conversion did (for the report line).
    """

    source: str
    form: str
    backbone: dict[str, torch.Tensor]
    classifier: dict[str, torch.Tensor] = field(default_factory=dict)
    caffe_input: bool = False
    tensors: int = 0
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def classifier_classes(self) -> int | None:
        weight = self.classifier.get("weight")
        return None if weight is None else int(weight.shape[0])


def hub_checkpoint_dir() -> Path:
    """torch's hub cache of weight files: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/...)."""
    return Path(torch.hub.get_dir()) / CACHE_SUBDIR


def _torchvision_weights(torchvision_name: str, name: str):
    """The torchvision weights enum member `name` means for model `torchvision_name` (ValueError)."""
    import torchvision

    family = torchvision.models.get_model_weights(torchvision_name)
    if name.lower() == IMAGENET or name == "DEFAULT":
        return family.DEFAULT
    member = name.split(".", 1)[1] if name.startswith(family.__name__ + ".") else name
    try:
        return family[member]
    except KeyError:
        choices = ", ".join([IMAGENET] + [w.name for w in family])
        raise UserValueError(f"--pretrained {name!r}: not a file, nor weights of {torchvision_name} "
                             f"({choices})") from None


def _download(url: str, target: Path, check_hash: bool) -> None:
    """Fetch url to target (torch.hub's downloader: temporary file, then rename); OSError of one line."""
    hash_prefix = None
    if check_hash:
        match = torch.hub.HASH_REGEX.search(target.name)
        hash_prefix = match.group(1) if match else None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), hash_prefix, progress=True)
    except Exception as exc:  # URLError, HTTPError, timeouts, hash mismatch: all mean "place it by hand"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:100]
        raise UserOSError(f"cannot download {url} ({reason}); place that file at {target}") from None


def resolve_pretrained(spec: str | os.PathLike, arch: str) -> Path:
    """The weights file `spec` names for backbone `arch`: an existing file as is, else a weights
    name looked up in (and for torchvision, downloaded to) the hub cache. Raises ValueError for a
    name the backbone has no weights for, FileNotFoundError / OSError naming the file to place."""
    from tsn.models.backbones import BACKBONES

    path = Path(spec)
    if path.is_file():
        return path
    text = str(spec)
    looks_like_path = os.sep in text or text.endswith((".pth", ".pt", ".tar", ".ckpt"))
    spec_arch = BACKBONES.get(arch)
    if looks_like_path or spec_arch is None:
        raise UserFileNotFoundError(f"no pretrained weights file at {spec}")
    cache = hub_checkpoint_dir()
    if spec_arch.torchvision_name:
        weights = _torchvision_weights(spec_arch.torchvision_name, text)
        target = cache / os.path.basename(weights.url)
        if not target.is_file():
            _download(weights.url, target, check_hash=True)
        return target
    if arch == "bninception" and text.lower() == IMAGENET:
        for name in BNINCEPTION_FILES:
            if (cache / name).is_file():
                return cache / name
        names = " or ".join(f"{name} ({origin})" for name, origin in BNINCEPTION_FILES.items())
        raise UserFileNotFoundError(
            f"no BN-Inception ImageNet weights in {cache}: place {names} there, or pass the file's path")
    raise UserValueError(f"--pretrained {text!r}: no such file, and {arch} has no weights by that name")


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: a state dict, or one under 'state_dict' / 'model' (mmaction2,
    flowkit checkpoints), with DataParallel's 'module.' prefixes removed."""
    state = load_torch_file(path, "weights file")
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserValueError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def _bninception_form(state: dict[str, torch.Tensor], source: str) -> PretrainedWeights:
    from tsn.models.bninception import caffe_key_to_module_key

    if "conv1_7x7_s2.conv.weight" in state:
        backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
        classifier = {k[3:]: v for k, v in state.items() if k.startswith("fc.")}
        return PretrainedWeights(source, "BN-Inception (module names)", backbone, classifier, caffe_input=True)
    classifier_prefix = "last_linear." if any(k.startswith("last_linear.") for k in state) else "fc."
    backbone, classifier, squeezed = {}, {}, 0
    for key, value in state.items():
        if key.startswith(classifier_prefix):
            classifier[key[len(classifier_prefix):]] = value
            continue
        try:
            name = caffe_key_to_module_key(key)
        except KeyError as exc:
            raise UserValueError(f"{source}: {exc.args[0]}") from None
        if value.ndim == 2 and value.shape[0] == 1 and ".bn." in name:
            value, squeezed = value.reshape(-1), squeezed + 1  # Caffe's (1, C) BN blobs
        backbone[name] = value
    if "bias" in classifier and classifier["bias"].ndim == 2:
        classifier["bias"] = classifier["bias"].reshape(-1)
    form = "Cadene pretrainedmodels BN-Inception" if classifier_prefix == "last_linear." else (
        "tsn-pytorch BN-Inception" if squeezed else "BN-Inception (Caffe layer names)")
    weights = PretrainedWeights(source, form, backbone, classifier, caffe_input=True)
    if squeezed:
        weights.notes.append(f"{squeezed} BN tensors (1, C) squeezed")
    return weights


def _resnet_form(state: dict[str, torch.Tensor], source: str) -> PretrainedWeights:
    if not any(k.startswith("backbone.") for k in state):
        backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
        classifier = {k[3:]: v for k, v in state.items() if k.startswith("fc.")}
        return PretrainedWeights(source, "torchvision ResNet", backbone, classifier)
    backbone, classifier, ignored = {}, {}, []
    for key, value in state.items():
        if key.startswith("cls_head.fc_cls."):
            classifier[key.removeprefix("cls_head.fc_cls.")] = value
        elif key.startswith("data_preprocessor."):
            ignored.append(key)  # the input mean/std, ImageNet's: tsn.data normalizes the same way
        elif key.startswith("backbone."):
            backbone[mmaction_resnet_key(key.removeprefix("backbone."))] = value
        else:
            backbone[key] = value  # left for the unexpected-tensor check to name
    return PretrainedWeights(source, "mmaction2 ResNet checkpoint", backbone, classifier, ignored=ignored)


def mmaction_resnet_key(key: str) -> str:
    """mmaction2 ResNet backbone key -> torchvision ResNet key: conv1.conv.weight -> conv1.weight,
    conv1.bn.X -> bn1.X, layer1.0.conv2.bn.X -> layer1.0.bn2.X, layer1.0.downsample.conv.weight ->
    layer1.0.downsample.0.weight, layer1.0.downsample.bn.X -> layer1.0.downsample.1.X. Others are
    returned unchanged."""
    if key.startswith("conv1.conv."):
        return "conv1." + key.removeprefix("conv1.conv.")
    if key.startswith("conv1.bn."):
        return "bn1." + key.removeprefix("conv1.bn.")
    match = _MMACTION_RESNET.match(key)
    if not match:
        return key
    block, unit, part, param = match["block"], match["unit"], match["part"], match["param"]
    if unit == "downsample":
        return f"{block}downsample.{0 if part == 'conv' else 1}.{param}"
    return f"{block}{unit if part == 'conv' else unit.replace('conv', 'bn')}.{param}"


def read_pretrained(path: str | os.PathLike, arch: str) -> PretrainedWeights:
    """Read a weights file (resolve_pretrained's result) and rename its tensors for backbone
    `arch`'s body. Raises ValueError for a file that is none of the forms in the module docstring."""
    from tsn.models.backbones import BACKBONES

    source = str(path)
    state = _read_state(Path(path))
    total = len(state)
    if any(k.startswith("backbone.body.") for k in state):  # a flowkit TSN checkpoint
        backbone = {k.removeprefix("backbone.body."): v for k, v in state.items() if k.startswith("backbone.")}
        classifier = {k[3:]: v for k, v in state.items() if k.startswith("fc.")}
        ignored = [k for k in state if not k.startswith(("backbone.", "fc."))]
        weights = PretrainedWeights(source, "flowkit TSN checkpoint", backbone, classifier, ignored=ignored)
    elif BACKBONES[arch].family == "bninception":
        weights = _bninception_form(state, source)
    elif BACKBONES[arch].family == "resnet":
        weights = _resnet_form(state, source)
    else:
        weights = PretrainedWeights(source, f"{arch} state dict", state)
    weights.tensors = total
    return weights


def _first_conv_key(body: nn.Module) -> str:
    from tsn.models.tsn import first_conv

    return first_conv(body)[0] + ".weight"


def _some(keys: list[str], shown: int = 4) -> str:
    return ", ".join(keys[:shown]) + (", ..." if len(keys) > shown else "")


def check_and_load(body: nn.Module, weights: PretrainedWeights) -> int:
    """Copy weights.backbone into `body` after checking that it fills every tensor with the right
    shape and brings nothing else (ValueError naming the tensors). Returns tensors copied."""
    own = body.state_dict()
    unexpected = sorted(k for k in weights.backbone if k not in own)
    missing = sorted(k for k in own if k not in weights.backbone and not k.endswith(_BATCH_COUNTER))
    if missing or unexpected:
        parts = [f"{len(missing)} backbone tensors missing ({_some(missing)})"] if missing else []
        parts += [f"{len(unexpected)} unexpected ({_some(unexpected)})"] if unexpected else []
        raise UserValueError(f"{weights.source} ({weights.form}): {'; '.join(parts)}; refusing a partial load")
    wrong = [k for k, v in weights.backbone.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        key, more = wrong[0], f" ({len(wrong)} such tensors)" if len(wrong) > 1 else ""
        raise UserValueError(f"{weights.source} ({weights.form}): tensor {key} has shape "
                         f"{tuple(weights.backbone[key].shape)}, the model expects {tuple(own[key].shape)}{more}")
    body.load_state_dict(weights.backbone, strict=False)
    return len(weights.backbone)


def load_backbone_weights(backbone: Backbone, weights: PretrainedWeights, in_channels: int,
                          caffe_input_map: tuple[float, float] | None = None) -> int:
    """Load `weights` into backbone.body (built with 3 input channels) for a net of `in_channels`
    inputs, in the order the conventions need. RGB weights are loaded; for a 3-channel net a
    Caffe input convention is folded into conv1; for other nets conv1 is averaged over the RGB
    channels and replicated to in_channels (cross-modality init), Caffe kernels then taking our
    input through caffe_input_map = (scale, offset), x_caffe = scale * x + offset
    (tsn.data.modalities.Modality.caffe_input_map). Weights whose first conv already takes
    in_channels (an mmaction2 or flowkit flow model) are loaded after reshaping conv1. Returns the
    tensors copied; ValueError when they do not fit."""
    from tsn.models.bninception import BNInception, fold_caffe_input_convention
    from tsn.models.tsn import cross_modality_init

    body = backbone.body
    key = _first_conv_key(body)
    kernel = weights.backbone.get(key)
    file_channels = kernel.shape[1] if kernel is not None and kernel.ndim == 4 else 3
    if file_channels not in (3, in_channels):
        raise UserValueError(f"{weights.source}: first convolution {key} takes {file_channels} input channels; "
                         f"this model needs 3 (RGB weights, cross-modality init) or {in_channels}")
    if file_channels != 3:
        if weights.caffe_input:
            raise UserValueError(
                f"{weights.source}: Caffe-convention weights with {file_channels} input channels are not supported")
        cross_modality_init(backbone, in_channels)
        return check_and_load(body, weights)
    copied = check_and_load(body, weights)
    if in_channels == 3:
        if weights.caffe_input:
            assert isinstance(body, BNInception)  # the only backbone of Caffe-convention files
            fold_caffe_input_convention(body)
            weights.notes.append("Caffe BGR 0..255 input folded into conv1")
        return copied
    conv = cross_modality_init(backbone, in_channels)
    weights.notes.append(f"conv1 averaged over RGB for {in_channels} input channels")
    if weights.caffe_input:
        if caffe_input_map is None:
            raise UserValueError(f"{weights.source}: Caffe-convention weights need the input map of the "
                             f"{in_channels}-channel net's modality")
        scale, offset = caffe_input_map
        with torch.no_grad():  # w * (scale x + offset) + b = (scale w) * x + (b + offset * sum w), away from the border
            assert conv.bias is not None  # a Caffe-convention conv1 has one
            conv.bias.add_(offset * conv.weight.sum(dim=(1, 2, 3)))
            conv.weight.mul_(scale)
        weights.notes[-1] += f", Caffe input x_caffe = {scale:g} x {offset:+g} folded in"
    return copied


def report_line(weights: PretrainedWeights, copied: int, classifier_loaded: bool, num_classes: int) -> str:
    """One line saying what a load did, e.g. `loaded 414/416 tensors from bn_inception.pth
    (tsn-pytorch BN-Inception; 276 BN tensors (1, C) squeezed); classifier re-initialized for 101
    classes (the file's has 1000)`."""
    details = "; ".join([weights.form] + weights.notes)
    if weights.ignored:
        details += f"; ignored {', '.join(weights.ignored)}"
    line = f"loaded {copied}/{weights.tensors} tensors from {weights.source} ({details}); "
    file_classes = weights.classifier_classes
    if classifier_loaded:
        return line + f"classifier loaded ({num_classes} classes)"
    suffix = f" (the file's has {file_classes})" if file_classes is not None else " (the file has none)"
    return line + f"classifier re-initialized for {num_classes} classes{suffix}"
