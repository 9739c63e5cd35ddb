"""`flowkit show`: a picture of one frame of a stored video."""

from __future__ import annotations

import click


@click.command()
@click.argument("store", type=click.Path(dir_okay=False, path_type=str))
@click.argument("video")
@click.option("--frame", type=click.IntRange(min=0), default=None, help="Frame index (default: the middle frame).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default="show.png", show_default=True,
              help="PNG file to write.")
def show(store, video, frame, output):
    """Write the RGB frame, the flow and the warped flow of VIDEO (a name, or an index in the
    videos table) at --frame side by side as colour-wheel images."""
    from flowkit.store.show import render_show

    click.echo(render_show(store, video, output, frame=frame))
