"""RAFT optical flow (Teed and Deng, ECCV 2020) from torchvision (`raft_small`, `raft_large`), as a
flow function of flowkit.flow.functions' contract: prev, next (N, H, W) gray frames (uint8, or float
in [0, 1]) -> float32 (N, 2, H, W) numpy flow in pixels, x then y, prev -> next.

Convention: torchvision's RAFT returns the flow from its first image to its second, image1(p) ~
image2(p + flow(p)); prev is given as image1 and next as image2, so the result is flowkit's
next(p + flow(p)) ~ prev(p) with no sign change (RaftFlow.__call__; tests/test_raft.py checks the
order, channels and crop with a stub model).

Frames are gray (what extraction gives every algorithm, so that flow carries no colour), repeated
over RGB's three channels and mapped to [-1, 1] as torchvision's OpticalFlow preset does. RAFT needs
sides divisible by 8 and of at least 128 px: frames are padded at the right and bottom by repeating
the border, and the flow cropped back. Pairs run in batches of `batch` on the chosen device.

Weights are never fetched implicitly: `weights="torchvision"` loads torchvision's published weights
through its cache (torch.hub's checkpoints folder; downloaded there only on this explicit request),
any other value is a file holding a state dict (torch.save(model.state_dict())), loaded with
torch.load(weights_only=True). Without them: one line naming the file and where to put it.
torch and torchvision are imported only when a RAFT is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from flowkit.errors import UserValueError

RAFT_MODELS = ("small", "large")
# torchvision's default weights of each model (Raft_*_Weights.DEFAULT): enum member, file, address.
TORCHVISION_WEIGHTS = {
    "small": ("Raft_Small_Weights", "C_T_V2", "raft_small_C_T_V2-01064c6d.pth"),
    "large": ("Raft_Large_Weights", "C_T_SKHT_V2", "raft_large_C_T_SKHT_V2-ff5fadd5.pth"),
}
DOWNLOAD_ROOT = "https://download.pytorch.org/models/"
TORCHVISION = "torchvision"  # the weights value asking for torchvision's published weights
RAFT_DEFAULTS = {"model": "small", "weights": None, "updates": 12, "batch": 8}
SIDE_MULTIPLE = 8  # RAFT's feature maps are 1/8 of the frame
MIN_SIDE = 128  # its correlation pyramid halves those maps 3 times, from at least 16 cells


def raft_params(params: dict) -> dict:
    """RAFT's full settings: RAFT_DEFAULTS updated with `params` and checked. model: 'small' or
    'large'; weights: 'torchvision', a file, or None (then building the model fails with a line
    saying what to pass); updates: recurrent refinements (torchvision's num_flow_updates); batch:
    pairs per forward pass. ValueError for other names or bad values."""
    unknown = sorted(set(params) - set(RAFT_DEFAULTS))
    if unknown:
        raise UserValueError(f"raft does not take {', '.join(unknown)}; it takes {', '.join(RAFT_DEFAULTS)}")
    settings = {**RAFT_DEFAULTS, **params}
    if settings["model"] not in RAFT_MODELS:
        raise UserValueError(f"raft model must be one of {', '.join(RAFT_MODELS)}, got {settings['model']!r}")
    for name in ("updates", "batch"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserValueError(f"raft {name} must be an integer >= 1, got {value!r}")
    if settings["weights"] is not None and not isinstance(settings["weights"], str):
        raise UserValueError(f"raft weights must be 'torchvision' or a file name, got {settings['weights']!r}")
    return settings


def torchvision_cache_file(model: str) -> Path:
    """Where torchvision keeps `model`'s default weights: torch.hub's checkpoints folder
    ($TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub), as torch.hub.get_dir
    computes it, without importing torch."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(torch_home) / "hub" / "checkpoints" / TORCHVISION_WEIGHTS[model][2]


def missing_weights_message(model: str) -> str:
    """One line: which file RAFT `model` needs and where to put it."""
    file = TORCHVISION_WEIGHTS[model][2]
    return (f"raft_{model} needs weights: put {file} ({DOWNLOAD_ROOT}{file}) in {torchvision_cache_file(model).parent} "
            f"and pass --flow-weights torchvision, or pass --flow-weights FILE (a state dict)")


def check_weights(params: dict) -> None:
    """ValueError (one line) when RAFT's weights cannot be found, before any frame is read; the
    'torchvision' weights may still be downloaded when absent from the cache (explicit request)."""
    settings = raft_params(params)
    weights = settings["weights"]
    if weights is None:
        raise UserValueError(missing_weights_message(settings["model"]))
    if weights != TORCHVISION and not Path(weights).is_file():
        raise UserValueError(f"raft weights file {weights} not found; {missing_weights_message(settings['model'])}")


def load_state_dict(model: str, weights: str | None) -> dict:
    """The state dict of RAFT `model` from `weights` ('torchvision' or a file). ValueError with one
    line when they are missing (or torchvision's cannot be downloaded: offline)."""
    import torch

    check_weights({"model": model, "weights": weights})
    if weights == TORCHVISION:
        from torchvision.models import optical_flow

        enum, member, _ = TORCHVISION_WEIGHTS[model]
        try:
            return getattr(getattr(optical_flow, enum), member).get_state_dict(progress=False)
        except (OSError, RuntimeError) as exc:  # urllib's URLError is an OSError
            raise UserValueError(f"could not get torchvision's weights ({type(exc).__name__}); "
                             f"{missing_weights_message(model)}") from None
    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged or foreign file: one line
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise UserValueError(f"cannot read raft weights {weights}: {reason}") from None
    if not isinstance(state, dict):
        raise UserValueError(f"raft weights {weights} hold a {type(state).__name__}, not a state dict")
    return state


def build_model(model: str, weights: str | None, device: str = "cpu"):
    """torchvision's RAFT `model` ('small' or 'large') with `weights`, in eval mode on `device`."""
    from torchvision.models.optical_flow import raft_large, raft_small

    net = (raft_small if model == "small" else raft_large)(weights=None, progress=False)
    try:
        net.load_state_dict(load_state_dict(model, weights))
    except RuntimeError as exc:  # keys or shapes of another model
        raise UserValueError(f"raft weights {weights} do not fit raft_{model}: {str(exc).splitlines()[0]}") from None
    return net.eval().to(device)


def raft_padding(height: int, width: int) -> tuple[int, int]:
    """Rows and columns to add at the bottom and right so both sides divide by SIDE_MULTIPLE and
    reach MIN_SIDE."""
    rows, columns = (max(MIN_SIDE, side + -side % SIDE_MULTIPLE) - side for side in (height, width))
    return rows, columns


@dataclass
class RaftFlow:
    """A RAFT flow function (module docstring). net: a torchvision RAFT in eval mode on `device`;
    updates: its num_flow_updates; batch: pairs per forward pass."""

    net: Callable  # (image1, image2, num_flow_updates=) -> list of (N, 2, H, W) flows, the last the final
    device: str = "cpu"
    updates: int = 12
    batch: int = 8

    @classmethod
    def from_params(cls, params: dict, device: str = "cpu") -> "RaftFlow":
        """Build from raft_params' settings on `device`; ValueError (one line) without weights."""
        settings = raft_params(params)
        net = build_model(settings["model"], settings["weights"], device)
        return cls(net, device, settings["updates"], settings["batch"])

    def __call__(self, prev, next) -> np.ndarray:
        """prev, next: (N, H, W) or (H, W) gray, uint8 or float in [0, 1] (numpy or tensors) ->
        (N, 2, H, W) float32 numpy flow in pixels, x then y, next(p + flow(p)) ~ prev(p)."""
        import torch

        a, b = (_unit_gray(x) for x in (prev, next))
        if a.shape != b.shape:
            raise ValueError(f"prev and next frames differ in shape: {a.shape} vs {b.shape}")
        height, width = a.shape[1:]
        pad_h, pad_w = raft_padding(height, width)
        out = np.empty((a.shape[0], 2, height, width), np.float32)
        with torch.inference_mode():
            for start in range(0, a.shape[0], self.batch):
                images = []
                for frames in (a, b):
                    x = torch.from_numpy(frames[start:start + self.batch]).to(self.device)[:, None] * 2 - 1
                    if pad_h or pad_w:
                        x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
                    images.append(x.expand(-1, 3, -1, -1).contiguous())
                # image1 = prev, image2 = next: RAFT's flow maps image1 to image2, as flowkit's (no sign change)
                flow = self.net(images[0], images[1], num_flow_updates=self.updates)[-1]
                out[start:start + self.batch] = flow[:, :, :height, :width].float().cpu().numpy()
        return out


def _unit_gray(frames) -> np.ndarray:
    """Gray frames (H, W), (N, H, W) or (N, 1, H, W), uint8 or float in [0, 1] -> float32 (N, H, W) in [0, 1]."""
    from flowkit.flow.functions import host_array
    from flowkit.flow.native_solver import gray_planes

    x = gray_planes(host_array(frames))
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    return np.ascontiguousarray(x, dtype=np.float32)
