"""`flowkit demo`: the whole pipeline on a generated dataset."""

from pathlib import Path

import click

from cli.options import SIZE


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"), show_default=True,
              help="Folder for the dataset, store, runs, scores and pictures (reused if it exists).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N] for flow and training.")
@click.option("--classes", type=int, default=6, show_default=True, help="Motion classes to generate.")
@click.option("--videos-per-class", type=int, default=24, show_default=True)
@click.option("--frames", type=int, default=24, show_default=True, help="Frames per video.")
@click.option("--size", type=SIZE, default="160x120", show_default=True, help="Frame size WIDTHxHEIGHT.")
@click.option("--camera-motion", type=click.Choice(["none", "pan", "shake"]), default="pan", show_default=True,
              help="Global camera motion added to every video, unrelated to the class.")
@click.option("--epochs", type=int, default=30, show_default=True, help="Training epochs per stream.")
@click.option("--seed", type=int, default=0, show_default=True)
def demo(workdir, device, classes, videos_per_class, frames, size, camera_motion, epochs, seed):
    """Generate a motion dataset, extract rgb/flow/warped flow, train and test TSN on each stream,
    fuse them, and print a table of accuracies (also in WORKDIR/results.md)."""
    from tsn.demo import DemoConfig, format_table, run_demo

    results = run_demo(DemoConfig(workdir=workdir, device=device, classes=classes, videos_per_class=videos_per_class,
                                  frames=frames, size=size, camera_motion=camera_motion, epochs=epochs, seed=seed))
    click.echo(format_table(results))
    click.echo(f"\nresults: {workdir / 'results.md'}   flow picture: {results['files']['flow_png']}   "
               f"curves: {workdir / 'runs'}/<stream>/curves.png")
