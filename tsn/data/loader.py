"""DataLoader construction for TSNDataset: workers, pinning, reproducible seeding, device batches."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info

from tsn.data.device_decode import EncodedBatch, collate_encoded, decode_batch

MAX_DEFAULT_WORKERS = 8
RANK_SEED_STRIDE = 1_000_003


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def default_workers() -> int:
    """Loader workers when not given: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus))


def _find_reseedable(dataset):
    while dataset is not None and not hasattr(dataset, "reseed"):
        dataset = getattr(dataset, "dataset", None)  # through Subset and similar wrappers
    return dataset


def seed_worker(worker_id: int) -> None:
    """worker_init_fn: seed Python, NumPy and the dataset's sampling stream from the worker's
    torch seed (the loader's generator draws a base seed per epoch; worker k gets base + k), so a
    run with the same loader seed sees the same snippets and crops."""
    # No cv2.setNumThreads here: in a worker forked from a parent whose OpenCV thread pool
    # has run, it blocks forever (OpenCV 5 tears the inherited pool down).
    seed = torch.initial_seed()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    info = get_worker_info()
    target = _find_reseedable(info.dataset if info is not None else None)
    if target is not None:
        target.reseed(seed)


def build_loader(
    dataset,
    batch_size: int,
    shuffle: bool | None = None,
    workers: int | None = None,
    seed: int = 0,
    drop_last: bool = False,
    pin_memory: bool | None = None,
    sampler=None,
    prefetch_factor: int | None = None,
) -> DataLoader:
    """A DataLoader over a TSNDataset (or a wrapper of one).

    shuffle defaults to dataset.train (ignored when a sampler, e.g. DistributedSampler, is
    given); workers to default_workers() (0 loads in this process); pin_memory to whether CUDA
    is available. Workers persist across epochs and are seeded by seed_worker from `seed` (plus
    an offset per distributed rank), which also seeds the shuffling. Batches: (clips (B, crops *
    segments, C, s, s) float32, labels (B,) int64), or an EncodedBatch when the dataset decodes
    on the device; prepare_batch turns either into device tensors.
    """
    base = _find_reseedable(dataset)
    train = bool(getattr(base, "train", False))
    shuffle = train if shuffle is None else shuffle
    workers = default_workers() if workers is None else int(workers)
    device_decode = getattr(base, "decode", "cpu") == "device"
    if pin_memory is None:
        pin_memory = torch.cuda.is_available() and not device_decode
    # Under DistributedDataParallel every rank builds the same loader: offset the seed by the
    # rank so ranks draw different snippets and crops (a DistributedSampler shuffles by its own seed).
    seed = int(seed) + RANK_SEED_STRIDE * _rank()
    generator = torch.Generator().manual_seed(seed)
    if workers == 0 and base is not None:
        base.reseed(seed)
    extra = {}
    if workers > 0:
        extra = {"persistent_workers": True, "worker_init_fn": seed_worker}
        if prefetch_factor is not None:
            extra["prefetch_factor"] = prefetch_factor
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        generator=generator,
        collate_fn=collate_encoded if device_decode else None,
        **extra,
    )


def prepare_batch(batch, device, non_blocking: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A loader batch -> (clips float32 (B, crops * segments, C, s, s), labels (B,) int64) on
    `device`, decoding on the device when the batch is an EncodedBatch."""
    if isinstance(batch, EncodedBatch):
        return decode_batch(batch, device)
    clips, labels = batch
    return clips.to(device, non_blocking=non_blocking), labels.to(device, non_blocking=non_blocking)
