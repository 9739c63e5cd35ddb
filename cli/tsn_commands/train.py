"""`tsn train`: train one TSN stream (rgb, rgbdiff, flow or warp) from a flowkit store."""

import click

from tsn.choices import ARCHS, CONSENSUS_TYPES, DECODE_MODES, MODALITIES


@click.command("train")
@click.option("--store", required=True, type=click.Path(dir_okay=False), help="Flowkit store (.h5) to train from.")
@click.option("--modality", type=click.Choice(MODALITIES), default="rgb", show_default=True,
              help="Input stream: rgb (spatial), rgbdiff, flow or warp (temporal).")
@click.option("--split", type=int, default=1, show_default=True, help="Split number stored in the store.")
@click.option("--arch", type=click.Choice(ARCHS), default="bninception", show_default=True,
              help="Backbone; 'tiny' is a small CPU-friendly net for demos and tests.")
@click.option("--segments", type=int, default=3, show_default=True, help="Segments (snippets) per video in training.")
@click.option("--consensus", type=click.Choice(CONSENSUS_TYPES), default="avg", show_default=True,
              help="Segmental consensus.")
@click.option("--epochs", type=int, default=None, help="Epochs [default: rgb 80, flow/warp 340, rgbdiff 180].")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Videos per batch per process.")
@click.option("--lr", type=float, default=None, help="Base learning rate [default: rgb 0.001, flow/warp 0.005].")
@click.option("--lr-steps", type=str, default=None,
              help="Comma-separated epochs where lr drops 10x [default: rgb 30,60; flow/warp 190,300].")
@click.option("--weight-decay", type=float, default=5e-4, show_default=True, help="SGD weight decay.")
@click.option("--clip-grad", type=float, default=None, help="Gradient norm clip, 0 = off [default: rgb 40, flow 20].")
@click.option("--dropout", type=float, default=None, help="Dropout before the classifier [default: rgb 0.8, flow 0.7].")
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
@click.option("--resume", is_flag=False, flag_value="auto", default=None,
              help="Continue from a checkpoint; alone, from the output folder's checkpoint.pt.")
@click.option("--eval-every", type=int, default=5, show_default=True, help="Validate every N epochs (and at the end).")
@click.option("--log-every", type=int, default=20, show_default=True, help="Metrics line every N iterations.")
@click.option("--iters-per-epoch", type=int, default=None, help="Cut each epoch after N iterations (smoke runs).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Run folder [default: runs/<store stem>_<modality>].")
def train_command(store, modality, split, arch, segments, consensus, epochs, batch_size, lr, lr_steps, weight_decay,
                  clip_grad, dropout, partial_bn, pretrained, input_size, workers, device, amp, decode, flip, resume,
                  eval_every, log_every, iters_per_epoch, seed, output):
    """Train a TSN stream from STORE; writes checkpoint.pt, metrics.jsonl and curves.png."""
    from tsn.train import TrainConfig, train

    steps = None
    if lr_steps:
        try:
            steps = tuple(int(s) for s in lr_steps.replace(" ", "").split(",") if s)
        except ValueError:
            raise ValueError(f"--lr-steps must be comma-separated epochs, got {lr_steps!r}") from None
    config = TrainConfig(
        store=store, modality=modality, split=split, arch=arch, segments=segments, consensus=consensus, epochs=epochs,
        batch_size=batch_size, lr=lr, lr_steps=steps, weight_decay=weight_decay, clip_grad=clip_grad, dropout=dropout,
        partial_bn=partial_bn, pretrained=pretrained, input_size=input_size, workers=workers, device=device, amp=amp,
        decode=decode, flip=flip, output=output, resume=resume, eval_every=eval_every, log_every=log_every,
        iters_per_epoch=iters_per_epoch, seed=seed,
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
