"""Where and how training runs: device choice, bf16 autocast, torchrun's process group, seeding."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from flowkit.errors import UserValueError
from flowkit.cpus import available_cpus


def pick_device(name: str | None = None) -> torch.device:
    """`name` ('cpu', 'cuda', 'cuda:1') as a torch.device; None -> cuda if available, else cpu.
    Raises ValueError when CUDA is asked for and absent."""
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UserValueError(f"bad device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserValueError(f"device {name!r} asked for but CUDA is not available")
    return device


def amp_default(device: torch.device) -> bool:
    """bf16 autocast on by default on CUDA devices with native bf16 (native_bf16); off on CPU, where
    it is usually slower than float32 (measure with benchmarks.train_throughput)."""
    return device.type == "cuda" and native_bf16(device)


NATIVE_BF16_CAPABILITY = (8, 0)  # Ampere: the first CUDA compute capability with bf16 arithmetic in hardware


def native_bf16(device: torch.device) -> bool:
    """Whether CUDA `device` computes bf16 in hardware (compute capability >= 8.0). Older GPUs (V100,
    T4) emulate it, slowly, and some cuDNN kernels refuse it, though torch.cuda.is_bf16_supported()
    (with its default including_emulation=True) says yes there. Asks about the current CUDA device,
    as torch does (the trainer makes its device current)."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.3 has no including_emulation; its answer then is the capability's
        return torch.cuda.get_device_capability(device) >= NATIVE_BF16_CAPABILITY


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast context for `device` when enabled, else a no-op."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@contextlib.contextmanager
def cpu_threads_beside_workers(device: torch.device, workers: int):
    """While training on the CPU with `workers` loader processes, give torch's intra-op pool only
    the cores the workers leave (at least 1), then restore it. Every op's parallel region ends in
    a barrier: when a worker has taken the core one of torch's threads needs, the others wait a
    scheduler time slice for it, so a step with hundreds of small ops slows down many times over
    (docs/performance.md has the measurement)."""
    previous = torch.get_num_threads()
    if device.type == "cpu" and workers > 0:
        torch.set_num_threads(max(1, min(previous, available_cpus() - workers)))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch RNGs (the data pipeline and dropout draw from them)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class DistributedContext:
    """Rank information of this process; world_size 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str | None) -> tuple[DistributedContext, torch.device]:
    """Join torchrun's process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU); each process
    takes cuda:LOCAL_RANK. Returns the context and this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext(), pick_device(device_name)
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank, world_size, local_rank), device


def shutdown_distributed(context: DistributedContext) -> None:
    if context.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
