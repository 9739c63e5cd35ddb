"""`flowkit info`: what a store holds."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("store", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def info(store, as_json):
    """Summarize STORE: videos, classes, frames, streams, size on disk, extraction parameters."""
    from flowkit.store.inspect import format_summary, summarize

    summary = summarize(store)
    click.echo(json.dumps(summary) if as_json else format_summary(summary))
