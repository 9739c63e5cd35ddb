"""`tsn test`: score a split's test videos with a trained stream (25 segments, 1 or 10 crops)."""

import click

from tsn.choices import TEST_CROPS


@click.command("test")
@click.option("--store", required=True, type=click.Path(dir_okay=False), help="Flowkit store (.h5).")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="checkpoint.pt from `tsn train`.")
@click.option("--modality", default=None, help="Must match the checkpoint's [default: the checkpoint's].")
@click.option("--split", type=int, default=None, help="Split number [default: the checkpoint's].")
@click.option("--test-segments", type=int, default=25, show_default=True, help="Snippets per video.")
@click.option("--crops", type=click.Choice([str(n) for n in TEST_CROPS]), default="1", show_default=True,
              help="1 centre crop, or 10 (corners + centre, and flips).")
@click.option("--batch-size", type=int, default=4, show_default=True, help="Videos per batch.")
@click.option("--input-size", type=int, default=None, help="Crop side [default: the checkpoint's].")
@click.option("--workers", type=int, default=None, help="Data loader workers.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 [default: cuda if available].")
@click.option("--skip-damaged", is_flag=True,
              help="Leave out videos with a damaged store record (listed) instead of stopping.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="scores.npz", show_default=True,
              help="Score file (.npz); the confusion matrix PNG goes beside it.")
def test_command(store, checkpoint, modality, split, test_segments, crops, batch_size, input_size, workers, device,
                 skip_damaged, output):
    """Per-video class scores, top-1/top-5/mean class accuracy and a confusion matrix."""
    from tsn.evaluate import evaluate_checkpoint
    from tsn.metrics import format_metrics

    result = evaluate_checkpoint(store, checkpoint, output, modality=modality, split=split,
                                 test_segments=test_segments, crops=int(crops), batch_size=batch_size,
                                 workers=workers, device=device, input_size=input_size, skip_damaged=skip_damaged)
    click.echo(f"{result['modality']} split {result['split']}, {result['videos']} videos: "
               f"{format_metrics(result['metrics'])}")
    click.echo(f"scores: {result['output']}  confusion matrix: {result['confusion']}")
    for reason in result["skipped_damaged"]:
        click.echo(f"skipped: {reason}", err=True)
