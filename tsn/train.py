"""Train one TSN stream from a flowkit store: train_one_epoch(), evaluate(), train(config).

The recipe is tsn.recipe's (tsn-pytorch's README commands for every modality; docs/recipes.md
compares the references): SGD with momentum 0.9 and weight decay 5e-4 over tsn-pytorch's parameter
groups, lr divided by 10 at the step epochs, gradient-norm clipping, cross-entropy on the segmental
consensus, the recipe's training crops (tsn.data.presets.train_crops), validation on the split's
test videos (training segment count, centre crop) every few epochs. The lr is the recipe's per 128
videos, scaled to the global batch (batch_size per process x processes): one process at batch 32
trains at 0.001 x 32/128, `torchrun --nproc-per-node 4 -m cli.tsn_app train ... --batch-size 32` at
0.001; an explicit lr is used as given.

A run folder holds checkpoint.pt (rewritten every epoch; `resume` continues from it),
metrics.jsonl (one line per `log_every` iterations and per epoch) and curves.png. Under torchrun
(WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel, each process reads its
DistributedSampler shard, and only rank 0 evaluates and writes.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from flowkit.errors import UserValueError
from tsn.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from tsn.config import ResolvedConfig, TrainConfig, flow_layer_settings, resolve_config, start_notes, world_size
from tsn.metrics import summarize_labelled
from tsn.models.tsn import TSN
from tsn.runtime import (DistributedContext, amp_default, autocast, cpu_threads_beside_workers, init_distributed,
                         seed_everything, shutdown_distributed)
from tsn.scores import predict

LR_DECAY = 0.1
METRICS_NAME = "metrics.jsonl"
CURVES_NAME = "curves.png"
SKIPPED_NAME = "skipped_damaged.txt"
def build_optimizer(model: TSN,
                    config: ResolvedConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.MultiStepLR]:
    """SGD over model.optim_policies() (group lr = lr x lr_mult, decay = weight_decay x decay_mult)
    and the step schedule dividing every group's lr by 10 at each of config.lr_steps epochs."""
    groups = [
        {"params": g["params"], "name": g["name"], "lr": config.lr * g["lr_mult"],
         "weight_decay": config.weight_decay * g["decay_mult"]}
        for g in model.optim_policies()
    ]
    optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(config.lr_steps), gamma=LR_DECAY)
    return optimizer, scheduler


def base_lr(optimizer: torch.optim.Optimizer) -> float:
    """Current lr of the groups with multiplier 1 (what the schedule reports as 'the' lr)."""
    for group in optimizer.param_groups:
        if group.get("name") == "normal_weight":
            return float(group["lr"])
    return float(optimizer.param_groups[0]["lr"])


class MetricsLog:
    """Appends JSON lines to <run>/metrics.jsonl (rank 0 only; other ranks drop records)."""

    def __init__(self, path: Path | None):
        self.path = path

    def write(self, record: dict) -> None:
        if self.path is None:
            return
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _all_reduce_sum(values: list[float], context: DistributedContext, device: torch.device) -> list[float]:
    if not context.enabled:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, device: torch.device, epoch: int,
                    config: ResolvedConfig, log: MetricsLog,
                    context: DistributedContext = DistributedContext()) -> dict:
    """One pass over `loader` (at most config.iters_per_epoch batches): forward under autocast,
    cross-entropy on the consensus, backward, gradient clipping, SGD step. Every config.log_every
    iterations appends an 'iter' record (window-averaged loss and accuracy, lr, clips/s; a clip
    is one training video of `segments` snippets). Returns {'loss', 'accuracy', 'clips',
    'seconds', 'clips_per_s'} summed over all processes, and 'skipped', this process's list of
    SkippedClip (clips with a damaged record, when the dataset skips them)."""
    from tqdm import tqdm

    from tsn.data import prepare_batch, split_skipped

    model.train()
    criterion = nn.CrossEntropyLoss()
    total = len(loader) if config.iters_per_epoch is None else min(len(loader), config.iters_per_epoch)
    bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{config.epochs}", file=sys.stderr, leave=False,
               disable=not (config.progress and context.is_main), dynamic_ncols=True)
    sums = {"loss": 0.0, "correct": 0.0, "clips": 0.0}
    window = {"loss": 0.0, "correct": 0.0, "clips": 0.0, "start": time.perf_counter()}
    start = time.perf_counter()
    skipped = []
    try:  # the bar is cleared even when a damaged record stops the epoch
        for iteration, batch in enumerate(loader):
            if iteration >= total:
                break
            batch, lost = split_skipped(batch)
            skipped += lost
            if batch is None:  # every clip of the batch was damaged
                bar.update(1)
                continue
            clips, labels = prepare_batch(batch, device)
            with autocast(device, bool(config.amp)):
                logits = model(clips)
                loss = criterion(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_grad:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            optimizer.step()
            count = labels.numel()
            batch_loss = loss.item() * count
            correct = (logits.argmax(dim=1) == labels).sum().item()
            for bucket in (sums, window):
                bucket["loss"] += batch_loss
                bucket["correct"] += correct
                bucket["clips"] += count
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / sums['clips']:.3f}", acc=f"{sums['correct'] / sums['clips']:.2f}")
            if (iteration + 1) % config.log_every == 0:
                elapsed = time.perf_counter() - window["start"]
                log.write({"kind": "iter", "epoch": epoch + 1, "iteration": iteration + 1,
                           "progress": epoch + (iteration + 1) / total,
                           "loss": window["loss"] / max(window["clips"], 1),
                           "accuracy": window["correct"] / max(window["clips"], 1),
                           "lr": base_lr(optimizer),
                           "clips_per_s": window["clips"] * context.world_size / max(elapsed, 1e-9)})
                window = {"loss": 0.0, "correct": 0.0, "clips": 0.0, "start": time.perf_counter()}
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    loss_sum, correct_sum, seen = _all_reduce_sum([sums["loss"], sums["correct"], sums["clips"]], context, device)
    seen = max(seen, 1.0)
    return {"loss": loss_sum / seen, "accuracy": correct_sum / seen, "clips": int(seen), "seconds": seconds,
            "clips_per_s": seen / max(seconds, 1e-9), "skipped": skipped}


def evaluate(model: nn.Module, loader, device: torch.device, amp: bool = False, progress: bool = False,
             skipped: list | None = None) -> dict:
    """Validation metrics over `loader` (1 crop): {'loss', 'top1', 'top5', 'mean_class_accuracy'}
    with accuracies as fractions. Videos with label -1 are left out; clips skipped as damaged are
    appended to `skipped` (see tsn.scores.predict)."""
    scores, labels = predict(model, loader, device, crops=1, amp=amp, progress=progress, desc="val", skipped=skipped)
    known = labels >= 0
    if not known.any():
        return {}
    loss = float(nn.functional.cross_entropy(torch.from_numpy(scores[known]), torch.from_numpy(labels[known])))
    return {"loss": loss, **summarize_labelled(scores, labels)}


def _check_resume(checkpoint: dict, model: TSN, classes: list[str], path: str) -> None:
    expected = model.config()
    saved = checkpoint["model_config"]
    for key in ("modality", "arch", "num_classes", "in_channels", "segments", "consensus", "flow"):
        if _model_setting(saved.get(key)) != _model_setting(expected.get(key)):
            raise UserValueError(f"checkpoint {path} has {key}={saved.get(key)!r}, this run has {expected.get(key)!r}")
    if list(checkpoint["classes"]) != list(classes):
        raise UserValueError(f"checkpoint {path} was trained on other classes than the store's")


def _model_setting(value):
    """A model_config value as resuming compares it: activation checkpointing changes the memory a
    step takes, not the model, so a run may resume with it switched."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "checkpoint"}
    return value


def train(config: TrainConfig) -> dict:
    """Train (or resume) a TSN stream as `config` says. Returns {'run_dir', 'checkpoint',
    'epochs', 'metrics' (last epoch record), 'rank' (this process's distributed rank),
    'skipped_damaged' (clips skipped over the run, this process; 0 unless config.skip_damaged)}.
    Raises ValueError / OSError for bad input (store without the modality's streams, split without
    videos, incompatible checkpoint) and, unless config.skip_damaged, DamagedRecordError (naming
    the store, video, stream and frame) for the first damaged record read. With skip_damaged the
    clip is left out of its batch, counted in the epoch record (`skipped_damaged`) and its reason
    appended to <run>/skipped_damaged.txt."""
    from flowkit.store import open_store
    from tsn.data import TestCrops, TSNDataset, build_loader, input_channels, train_crops

    notes = start_notes(config, world_size())
    config = resolve_config(config)
    context, device = init_distributed(config.device)
    amp = amp_default(device) if config.amp is None else bool(config.amp)
    config = replace(config, amp=amp, device=str(device))
    threads = contextlib.ExitStack()
    try:
        threads.enter_context(cpu_threads_beside_workers(device, config.workers))
        store = open_store(config.store)
        crops = train_crops(config.modality, config.input_size, config.flip, config.crop_positions)
        train_set = TSNDataset(store, split=config.split, subset="train", modality=config.modality,
                               segments=config.segments, preset=crops, decode=config.decode, seed=config.seed,
                               skip_damaged=config.skip_damaged)
        val_set = None
        if store.split_videos(config.split, "test"):
            val_set = TSNDataset(store, split=config.split, subset="test", modality=config.modality,
                                 segments=config.segments, preset=TestCrops(config.input_size, crops=1),
                                 decode=config.decode, seed=config.seed, skip_damaged=config.skip_damaged)
        classes = list(store.classes)
        labels = np.asarray(train_set.labels)
        if labels.min() < 0 or labels.max() >= len(classes):
            raise UserValueError(f"split {config.split} of {config.store} has training videos without a valid label")

        seed_everything(config.seed)
        # A resumed run takes every weight from its checkpoint: the pretrained file is not read again.
        pretrained = None if config.resume else config.pretrained
        model = TSN(len(classes), config.modality, input_channels(config.modality), config.arch, config.segments,
                    config.consensus, config.dropout, config.partial_bn, pretrained,
                    flow=flow_layer_settings(config, store.bound)).to(device)
        if model.pretrained_report:
            notes.insert(0, f"pretrained: {model.pretrained_report}")
        optimizer, scheduler = build_optimizer(model, config)
        start_epoch = 0
        if config.resume:
            checkpoint = load_checkpoint(config.resume)
            _check_resume(checkpoint, model, classes, config.resume)
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["lr_scheduler"])
            start_epoch = int(checkpoint["epoch"])

        if context.is_main:  # after every check of the input: a user's error stays the only line printed
            for note in notes:
                print(note, file=sys.stderr)
        run_dir = Path(config.output)
        log = MetricsLog(run_dir / METRICS_NAME if context.is_main else None)
        if context.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            if not config.resume:
                (run_dir / METRICS_NAME).unlink(missing_ok=True)
                (run_dir / SKIPPED_NAME).unlink(missing_ok=True)
            (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")

        net: nn.Module = model
        if context.enabled:
            net = nn.parallel.DistributedDataParallel(model,
                                                      device_ids=[device.index] if device.type == "cuda" else None)

        last = {}
        skipped_total = 0
        for epoch in range(start_epoch, config.epochs):
            # Seeding per epoch makes a resumed run draw the same snippets, crops and dropout
            # masks as an uninterrupted one.
            seed_everything(config.seed * 100003 + epoch)
            sampler: torch.utils.data.Sampler | None = None
            if context.enabled:
                from torch.utils.data.distributed import DistributedSampler

                sampler = DistributedSampler(train_set, context.world_size, context.rank, shuffle=True,
                                             seed=config.seed)
                sampler.set_epoch(epoch)
            loader = build_loader(train_set, config.batch_size, shuffle=True, workers=config.workers,
                                  seed=config.seed * 100003 + epoch, drop_last=False, sampler=sampler)
            stats = train_one_epoch(net, loader, optimizer, device, epoch, config, log, context)
            del loader
            lr_used = base_lr(optimizer)
            scheduler.step()
            record = {"kind": "epoch", "epoch": epoch + 1, "train_loss": stats["loss"],
                      "train_accuracy": stats["accuracy"], "lr": lr_used, "clips_per_s": stats["clips_per_s"],
                      "seconds": stats["seconds"]}
            skipped = stats["skipped"]
            due = (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs
            if context.is_main and val_set is not None and due:
                val_loader = build_loader(val_set, config.batch_size, shuffle=False, workers=config.workers,
                                          seed=config.seed)
                val = evaluate(model, val_loader, device, amp, progress=config.progress, skipped=skipped)
                record.update({f"val_{k}": v for k, v in val.items()})
            if config.skip_damaged:
                record["skipped_damaged"] = len(skipped)
                skipped_total += len(skipped)
            if context.is_main:
                _report_skipped(skipped, epoch, run_dir)
                log.write(record)
                save_checkpoint(run_dir / CHECKPOINT_NAME, model, optimizer, scheduler, epoch + 1, asdict(config),
                                classes, record)
                _plot(log, run_dir)
                print(_epoch_line(record), file=sys.stderr)
            if context.enabled:
                import torch.distributed as dist

                dist.barrier()
            last = record
        return {"run_dir": str(run_dir), "checkpoint": str(run_dir / CHECKPOINT_NAME), "epochs": config.epochs,
                "metrics": last, "rank": context.rank, "skipped_damaged": skipped_total}
    finally:
        threads.close()
        shutdown_distributed(context)


def _report_skipped(skipped: list, epoch: int, run_dir: Path) -> None:
    """Append the reasons of the clips skipped as damaged in `epoch` to <run>/skipped_damaged.txt
    and say how many on stderr (one line)."""
    if not skipped:
        return
    path = run_dir / SKIPPED_NAME
    with open(path, "a") as handle:
        handle.writelines(f"epoch {epoch + 1}: {clip.reason}\n" for clip in skipped)
    print(f"epoch {epoch + 1}: skipped {len(skipped)} clip(s) with a damaged record (listed in {path})",
          file=sys.stderr)


def _plot(log: MetricsLog, run_dir: Path) -> None:
    from tsn.plots import plot_training_curves

    plot_training_curves(log.read(), run_dir / CURVES_NAME)


def _epoch_line(record: dict) -> str:
    text = (f"epoch {record['epoch']}: loss {record['train_loss']:.4f} acc {record['train_accuracy']:.3f} "
            f"lr {record['lr']:.2g} {record['clips_per_s']:.1f} clips/s")
    if "val_top1" in record:
        text += (f" | val loss {record['val_loss']:.4f} top-1 {record['val_top1']:.3f} "
                 f"mean class acc. {record['val_mean_class_accuracy']:.3f}")
    return text
