"""Reading torch files (pretrained weights, checkpoints): torch.load with weights_only=True, and a
one-line ValueError naming the file for anything that cannot be loaded. A file holding
pickled Python objects is refused as such: torch's own message would suggest weights_only=False,
which would run whatever code the file carries."""

from __future__ import annotations

import os
import pickle

import torch

from flowkit.errors import UserValueError


def load_torch_file(path: str | os.PathLike, what: str):
    """The content of a torch.save file, loaded with weights_only=True on the CPU. ValueError (one
    line, naming `path` and `what` it should have been) when it cannot be."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or "global" in str(exc):
            raise UserValueError(f"{path} is not a {what}: it holds Python objects besides tensors "
                             "(refused: loading them could run code)") from None
        raise UserValueError(f"{path} is not a {what} (not a file written by torch.save)") from None
    except Exception as exc:  # zip, pickle and storage errors come in many types; all mean "not a weights file"
        raise UserValueError(f"{path} is not a {what} ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[0].split(". ")[0][:160] if lines else type(error).__name__
