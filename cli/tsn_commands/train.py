"""`tsn train`: train one TSN stream (rgb, rgbdiff, flow or warp) from a flowkit store."""

import click

from flowkit.errors import UserValueError
from tsn.choices import (ARCHS, CONSENSUS_TYPES, CROP_POSITIONS, DECODE_MODES, LEARNED_FLOW_ITERATIONS,
                         LEARNED_FLOW_SCALES, LEARNED_FLOW_WARPS, MODALITIES)
from tsn.recipe import RECIPES, defaults_help

_BATCH = 32
_ONE_PROCESS_LR = RECIPES["rgb"].lr * _BATCH / RECIPES["rgb"].reference_batch


@click.command("train")
@click.option("--store", required=True, type=click.Path(dir_okay=False), help="Flowkit store (.h5) to train from.")
@click.option("--modality", type=click.Choice(MODALITIES), default="rgb", show_default=True,
              help="Input stream: rgb (spatial), rgbdiff, flow, warp or learned-flow (temporal; TV-L1 layers "
                   "trained with the net on the store's RGB frames).")
@click.option("--split", type=int, default=1, show_default=True, help="Split number stored in the store.")
@click.option("--arch", type=click.Choice(ARCHS), default="bninception", show_default=True,
              help="Backbone; 'tiny' is a small CPU-friendly net for demos and tests.")
@click.option("--segments", type=int, default=None,
              help=f"Segments (snippets) per video in training [default: {defaults_help('segments')}].")
@click.option("--consensus", type=click.Choice(CONSENSUS_TYPES), default="avg", show_default=True,
              help="Segmental consensus; temporal learns position-dependent weights (order-aware).")
@click.option("--epochs", type=int, default=None, help=f"Epochs [default: {defaults_help('epochs')}].")
@click.option("--batch-size", type=int, default=_BATCH, show_default=True, help="Videos per batch per process.")
@click.option("--lr", type=float, default=None,
              help=f"Base learning rate, used as given [default: the recipe's {defaults_help('lr')} per "
                   f"{RECIPES['rgb'].reference_batch} videos, scaled to batch size x processes: "
                   f"{_ONE_PROCESS_LR:g} at {_BATCH} on one process].")
@click.option("--lr-steps", type=str, default=None,
              help=f"Comma-separated epochs where lr drops 10x [default: {defaults_help('lr_steps')}].")
@click.option("--weight-decay", type=float, default=5e-4, show_default=True, help="SGD weight decay.")
@click.option("--clip-grad", type=float, default=None,
              help=f"Gradient norm clip, 0 = off [default: {defaults_help('clip_grad')}].")
@click.option("--dropout", type=float, default=None,
              help=f"Dropout before the classifier [default: {defaults_help('dropout')}].")
@click.option("--crop-positions", type=click.Choice([str(n) for n in CROP_POSITIONS]), default=None,
              help=f"Fixed positions of the training crops: the paper's 5 (corners, centre) or 13 "
                   f"[default: {defaults_help('crop_positions')}; scales rgb 1-.66, others 1-.75].")
@click.option("--partial-bn/--no-partial-bn", default=None,
              help="Freeze all BN layers but the first [default: on with --pretrained, off from scratch].")
@click.option("--pretrained", default=None,
              help="Weights file (tsn-pytorch / Cadene BN-Inception, torchvision, mmaction2 TSN checkpoint) or "
                   "'imagenet' / a torchvision weights name, looked up in $TORCH_HOME/hub/checkpoints.")
@click.option("--input-size", type=int, default=None, help="Crop side in pixels [default: 224; tiny 112].")
@click.option("--workers", type=int, default=None, help="Data loader workers [default: CPUs, at most 8].")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 [default: cuda if available].")
@click.option("--amp/--no-amp", default=None, help="bf16 autocast [default: on for CUDA, off on CPU].")
@click.option("--decode", type=click.Choice(DECODE_MODES), default="cpu", show_default=True,
              help="Where JPEG records are decoded: loader workers, or the training device in batches.")
@click.option("--flip/--no-flip", default=True, show_default=True,
              help="Random horizontal flips (x flow negated); turn off when classes are mirror images (left vs right).")
@click.option("--skip-damaged", is_flag=True,
              help="Skip clips with a damaged store record (counted, listed in the run folder) instead of stopping.")
@click.option("--resume", is_flag=False, flag_value="auto", default=None,
              help="Continue from a checkpoint; alone, from the output folder's checkpoint.pt.")
@click.option("--eval-every", type=int, default=5, show_default=True, help="Validate every N epochs (and at the end).")
@click.option("--log-every", type=int, default=20, show_default=True, help="Metrics line every N iterations.")
@click.option("--iters-per-epoch", type=int, default=None, help="Cut each epoch after N iterations (smoke runs).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Run folder [default: runs/<store stem>_<modality>].")
@click.option("--flow-scales", type=click.IntRange(min=1), default=None,
              help=f"learned-flow: TV-L1 pyramid scales [default: {LEARNED_FLOW_SCALES}].")
@click.option("--flow-warps", type=click.IntRange(min=1), default=None,
              help=f"learned-flow: warps per scale [default: {LEARNED_FLOW_WARPS}].")
@click.option("--flow-iterations", type=click.IntRange(min=1), default=None,
              help=f"learned-flow: TV-L1 iterations (layers) per warp [default: {LEARNED_FLOW_ITERATIONS}].")
@click.option("--flow-checkpoint", is_flag=True,
              help="learned-flow: recompute the TV-L1 layers in the backward pass (less memory, more compute).")
@click.option("--learn-initial-flow", is_flag=True, help="learned-flow: also learn a coarse initial flow.")
def train_command(store, modality, split, arch, segments, consensus, epochs, batch_size, lr, lr_steps, weight_decay,
                  clip_grad, dropout, crop_positions, partial_bn, pretrained, input_size, workers, device, amp, decode,
                  flip, skip_damaged, resume, eval_every, log_every, iters_per_epoch, seed, output, flow_scales,
                  flow_warps, flow_iterations, flow_checkpoint, learn_initial_flow):
    """Train a TSN stream from STORE; writes checkpoint.pt, metrics.jsonl and curves.png.

    Defaults follow one reference per modality, tsn-pytorch's README training commands
    (docs/recipes.md compares it with the paper's Caffe solvers and mmaction2)."""
    from tsn.config import TrainConfig
    from tsn.train import train

    steps = None
    if lr_steps:
        try:
            steps = tuple(int(s) for s in lr_steps.replace(" ", "").split(",") if s)
        except ValueError:
            raise UserValueError(f"--lr-steps must be comma-separated epochs, got {lr_steps!r}") from None
    config = TrainConfig(
        store=store, modality=modality, split=split, arch=arch, segments=segments, consensus=consensus, epochs=epochs,
        batch_size=batch_size, lr=lr, lr_steps=steps, weight_decay=weight_decay, clip_grad=clip_grad, dropout=dropout,
        partial_bn=partial_bn, pretrained=pretrained, input_size=input_size, workers=workers, device=device, amp=amp,
        decode=decode, flip=flip, skip_damaged=skip_damaged, output=output, resume=resume, eval_every=eval_every,
        log_every=log_every, iters_per_epoch=iters_per_epoch, seed=seed,
        crop_positions=None if crop_positions is None else int(crop_positions), flow_scales=flow_scales,
        flow_warps=flow_warps, flow_iterations=flow_iterations, flow_checkpoint=flow_checkpoint,
        learn_initial_flow=learn_initial_flow,
    )
    result = train(config)
    if result["rank"] != 0:  # under torchrun only rank 0 reports
        return
    metrics = result["metrics"]
    if metrics:
        line = f"trained {result['epochs']} epochs: train acc. {metrics['train_accuracy']:.3f}"
        if "val_top1" in metrics:
            line += f", val top-1 {metrics['val_top1']:.3f}"
        click.echo(line)
    click.echo(f"checkpoint: {result['checkpoint']}")
    if result.get("skipped_damaged"):
        click.echo(f"skipped {result['skipped_damaged']} clip(s) with a damaged record over the run (listed in "
                   f"{result['run_dir']}/skipped_damaged.txt); `flowkit verify {store}` lists them all", err=True)
