"""`flowkit demo`: the whole pipeline on a generated dataset."""

from pathlib import Path

import click

from cli.options import SIZE
from flowkit.sizes import format_size
from flowkit.synth.camera import CAMERA_MOTIONS
from tsn.demo import DEMO_FAMILIES, DEMO_MODALITIES, OPTIONAL_MODALITIES, DemoConfig

DEFAULTS = DemoConfig()


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULTS.workdir,
              show_default=True, help="Folder for the dataset, store, runs, scores and pictures (reused if it exists).")
@click.option("--device", default=DEFAULTS.device, show_default=True, help="cpu or cuda[:N] for flow and training.")
@click.option("--family", type=click.Choice(DEMO_FAMILIES), default=DEFAULTS.family, show_default=True,
              help="kind-motion: object kind (hue) x motion, so that only RGB and flow together tell the class; "
                   "motion: classes differ only in motion.")
@click.option("--classes", type=int, default=DEFAULTS.classes, show_default=True,
              help="Classes to generate (kind-motion: 4 or 6; motion: 1-12).")
@click.option("--videos-per-class", type=int, default=DEFAULTS.videos_per_class, show_default=True)
@click.option("--frames", type=int, default=DEFAULTS.frames, show_default=True, help="Frames per video.")
@click.option("--size", type=SIZE, default=format_size(DEFAULTS.size), show_default=True,
              help="Frame size WIDTHxHEIGHT.")
@click.option("--camera-motion", type=click.Choice(CAMERA_MOTIONS), default=DEFAULTS.camera_motion,
              show_default=True, help="Global camera motion added to every video, unrelated to the class.")
@click.option("--epochs", type=int, default=DEFAULTS.epochs, show_default=True, help="Training epochs per stream.")
@click.option("--rgbdiff", is_flag=True,
              help="Also train and test an RGB difference stream (the paper's fourth; the slowest stream to train).")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True)
def demo(workdir, device, family, classes, videos_per_class, frames, size, camera_motion, epochs, rgbdiff, seed):
    """Generate a dataset, extract rgb/flow/warped flow, train and test TSN on each stream (rgb, flow,
    warp; rgbdiff with --rgbdiff), fuse them, and print a table of accuracies (also in WORKDIR/results.md)."""
    from tsn.demo import format_table, run_demo

    modalities = DEMO_MODALITIES + (OPTIONAL_MODALITIES if rgbdiff else ())
    results = run_demo(DemoConfig(workdir=workdir, device=device, family=family, classes=classes,
                                  videos_per_class=videos_per_class, frames=frames, size=size,
                                  camera_motion=camera_motion, epochs=epochs, seed=seed, modalities=modalities))
    click.echo(format_table(results))
    click.echo(f"\nresults: {workdir / 'results.md'}   flow picture: {results['files']['flow_png']}   "
               f"curves: {workdir / 'runs'}/<stream>/curves.png")
