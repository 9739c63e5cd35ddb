"""DataLoader construction for TSNDataset: workers, pinning, reproducible seeding, device batches.

Loader workers start once per loader and persist across epochs (TSNLoader.reseed starts each
epoch's draws without restarting them), from a fork server (WORKER_START_METHOD) rather than by
forking the training process: a worker forked from a trainer holding gigabytes would count them
resident, and OpenCV's thread pool does not survive a fork of a process that has used it.
"""

from __future__ import annotations

import functools
import multiprocessing
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, default_collate

from tsn.data.device_decode import EncodedBatch, collate_encoded, decode_batch
from flowkit.cpus import available_cpus

MAX_DEFAULT_WORKERS = 8
RANK_SEED_STRIDE = 1_000_003
# Workers start from a small server process that has imported what they need, not from the trainer.
WORKER_START_METHOD = "forkserver"
WORKER_PRELOAD = ["torch", "tsn.data.dataset"]
# Errors the user's data causes (a damaged record, a missing file): re-raised from loader workers
# as the one line the worker raised, so the CLI prints one line instead of the worker's traceback.
_ONE_LINE_ERRORS = (ValueError, OSError, KeyError, IndexError)


@dataclass
class SkippedClip:
    """An item TSNDataset(skip_damaged=True) could not load: its position in the dataset and why
    (the damaged record's one-line message)."""

    index: int
    reason: str


@dataclass
class SkippingBatch:
    """A batch of a dataset that skips damaged clips: `batch`, what the collate function made of
    the clips that loaded (None when none did), and `skipped`, the SkippedClip of the others."""

    batch: Any
    skipped: list

    def pin_memory(self) -> "SkippingBatch":
        inner = self.batch
        if isinstance(inner, (list, tuple)):
            inner = [item.pin_memory() for item in inner]
        elif inner is not None:
            inner = inner.pin_memory()
        return SkippingBatch(inner, self.skipped)


def _collate_kept(collate, samples: list) -> SkippingBatch:
    kept = [s for s in samples if not isinstance(s, SkippedClip)]
    return SkippingBatch(collate(kept) if kept else None, [s for s in samples if isinstance(s, SkippedClip)])


def split_skipped(batch) -> tuple[object, list[SkippedClip]]:
    """(the batch to train on, or None when every clip was skipped; the skipped clips) of a loader
    batch, whether or not its dataset skips damaged clips."""
    if isinstance(batch, SkippingBatch):
        return batch.batch, list(batch.skipped)
    return batch, []


def worker_error_line(error: BaseException) -> BaseException:
    """The error a loader worker raised, as one line: DataLoader re-raises a worker's exception
    with a message made of 'Caught X in DataLoader worker process N', the worker's traceback and
    finally 'X: message'. Returns a new error of the same type holding just that message, or
    `error` itself when it is not such a re-raise."""
    text = str(error.args[0]) if error.args else ""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].startswith("Caught ") or "DataLoader worker process" not in lines[0]:
        return error
    head, separator, message = lines[-1].partition(": ")
    if not separator or head.rsplit(".", 1)[-1] != type(error).__name__:
        return error
    try:
        return type(error)(message)
    except Exception:  # an error type that takes other arguments: keep torch's own
        return error


class TSNLoader(DataLoader):
    """A DataLoader whose workers' data errors (_ONE_LINE_ERRORS) reach the caller as the one line
    they were raised with (worker_error_line), from any worker, and whose passes are reseeded
    without restarting its persistent workers (reseed)."""

    order_generator: torch.Generator | None = None  # the shuffling order's, when build_loader shuffles

    def reseed(self, seed: int) -> None:
        """Seed the next pass: the shuffling order and the dataset's snippet and crop draws
        (TSNDataset.reseed, which its copies in the workers follow), `seed` offset by the
        distributed rank so ranks draw differently. A pass depends only on the seed: not on the
        workers, nor on the passes before it."""
        seed = int(seed) + RANK_SEED_STRIDE * _rank()
        if self.order_generator is not None:
            self.order_generator.manual_seed(seed)
        base = _find_reseedable(self.dataset)
        if base is not None:
            base.reseed(seed)

    def __iter__(self):
        iterator = super().__iter__()
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except _ONE_LINE_ERRORS as error:
                one_line = worker_error_line(error)
                if one_line is error:
                    raise
                raise one_line from None
            yield batch


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def default_workers() -> int:
    """Loader workers when not given: the CPUs this process may use, at most 8."""
    return max(1, min(MAX_DEFAULT_WORKERS, available_cpus()))


def _find_reseedable(dataset):
    while dataset is not None and not hasattr(dataset, "reseed"):
        dataset = getattr(dataset, "dataset", None)  # through Subset and similar wrappers
    return dataset


def seed_worker(worker_id: int) -> None:
    """worker_init_fn: seed Python's and NumPy's global generators from the worker's torch seed
    (the loader's generator draws a base seed; worker k gets base + k). The dataset's own draws
    are keyed by its shared seed and the item (TSNDataset.reseed), whatever worker loads it."""
    seed = torch.initial_seed()
    random.seed(seed)
    np.random.seed(seed % 2**32)


def worker_context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context loader workers start from (WORKER_START_METHOD), its server
    preloading WORKER_PRELOAD so that a worker starts without importing torch again. As with
    multiprocessing's spawn: the dataset (and its class) must be importable by the workers, and a
    script that builds a loader with workers runs its work under `if __name__ == "__main__":` (each
    worker imports the main module)."""
    context = multiprocessing.get_context(WORKER_START_METHOD)
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


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
) -> TSNLoader:
    """A DataLoader over a TSNDataset (or a wrapper of one).

    shuffle defaults to dataset.train (ignored when a sampler, e.g. DistributedSampler, is
    given); workers to default_workers() (0 loads in this process); pin_memory to whether CUDA
    is available. Workers start from worker_context() on the first pass and persist across
    passes: build the loader once and call loader.reseed(seed) before each epoch's pass. `seed`
    (plus an offset per distributed rank) seeds the first pass's shuffling and draws. Batches: (clips (B, crops *
    segments, C, s, s) float32, labels (B,) int64), or an EncodedBatch when the dataset decodes
    on the device; prepare_batch turns either into device tensors. When the dataset skips damaged
    clips, each batch is a SkippingBatch (split_skipped separates the two). Errors a worker raises
    about the data reach the caller as one line (TSNLoader).
    """
    base = _find_reseedable(dataset)
    train = bool(getattr(base, "train", False))
    shuffle = train if shuffle is None else shuffle
    workers = default_workers() if workers is None else int(workers)
    device_decode = getattr(base, "decode", "cpu") == "device"
    if pin_memory is None:
        pin_memory = torch.cuda.is_available() and not device_decode
    # The order has its own generator: the loader's draws a worker base seed from its generator
    # when it starts workers, which would shift the first pass's order against the later ones'.
    order_generator = None
    if sampler is None and shuffle:
        order_generator = torch.Generator()
        sampler = RandomSampler(dataset, generator=order_generator)
    extra: dict[str, Any] = {}
    if workers > 0:
        extra = {"persistent_workers": True, "worker_init_fn": seed_worker, "multiprocessing_context": worker_context()}
        if prefetch_factor is not None:
            extra["prefetch_factor"] = prefetch_factor
    collate = collate_encoded if device_decode else default_collate
    if getattr(base, "skip_damaged", False):
        collate = functools.partial(_collate_kept, collate)
    loader = TSNLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=pin_memory,
                       drop_last=drop_last, generator=torch.Generator().manual_seed(int(seed)), collate_fn=collate,
                       **extra)
    loader.order_generator = order_generator
    loader.reseed(seed)
    return loader


def prepare_batch(batch, device, non_blocking: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """A loader batch -> (clips float32 (B, crops * segments, C, s, s), labels (B,) int64) on
    `device`, decoding on the device when the batch is an EncodedBatch."""
    if isinstance(batch, EncodedBatch):
        return decode_batch(batch, device)
    clips, labels = batch
    return clips.to(device, non_blocking=non_blocking), labels.to(device, non_blocking=non_blocking)
