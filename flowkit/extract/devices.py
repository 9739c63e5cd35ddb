"""Choosing where flow runs: parsing `--gpu` / `--cpu` and checking the GPUs exist."""

from __future__ import annotations

import glob
import os
import sys

from flowkit.errors import UserValueError


def parse_gpu_ids(spec: str) -> tuple[int, ...] | None:
    """'0' -> (0,), '0,1' -> (0, 1), 'all' -> None (every GPU). ValueError for anything else."""
    spec = spec.strip().lower()
    if spec == "all":
        return None
    try:
        ids = tuple(int(part) for part in spec.split(","))
    except ValueError:
        raise UserValueError(f"--gpu takes GPU ids like 0 or 0,1 or all, got {spec!r}") from None
    if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise UserValueError(f"--gpu ids must be distinct and >= 0, got {spec!r}")
    return ids


def choose_device(gpu: str | None, cpu: bool, address: str | None = None) -> tuple[str, tuple[int, ...]]:
    """('cuda', GPU ids) or ('cpu', ()) from the --gpu text (or None) and the --cpu flag; ids () mean
    every GPU. Without either flag: every local GPU if there is one (with no Ray `address`; a
    cluster's GPUs are not known here), else the CPU. ValueError for both flags or bad ids."""
    if gpu is not None and cpu:
        raise UserValueError("give --gpu or --cpu, not both")
    if cpu:
        return "cpu", ()
    if gpu is None:
        return ("cuda", ()) if address is None and local_gpu_count() > 0 else ("cpu", ())
    return "cuda", parse_gpu_ids(gpu) or ()


def local_gpu_count() -> int:
    """CUDA devices torch sees on this machine (0 without CUDA). On Linux, a machine without GPU
    device files (NVIDIA's /dev/nvidia0, ...; ROCm's /dev/kfd) has none, which is known without
    importing torch (seconds a CPU run would otherwise pay just to ask)."""
    if sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*") and not os.path.exists("/dev/kfd"):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_local_gpus(ids: tuple[int, ...] | None) -> tuple[int, ...]:
    """Check GPU ids against this machine's devices; None means all of them.
    Raises ValueError (one line) when there is no GPU or an id does not exist."""
    count = local_gpu_count()
    if count == 0:
        raise UserValueError("--gpu: no CUDA GPU is visible on this machine (use --cpu)")
    if ids is None:
        return tuple(range(count))
    unknown = [i for i in ids if i >= count]
    if unknown:
        raise UserValueError(f"--gpu: no GPU {', '.join(map(str, unknown))}; this machine has "
                             f"{count} (ids 0..{count - 1})")
    return ids
