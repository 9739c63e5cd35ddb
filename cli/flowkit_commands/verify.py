"""`flowkit verify`: check a store's integrity."""

from __future__ import annotations

import sys

import click


@click.command()
@click.argument("store", type=click.Path(dir_okay=False, path_type=str))
@click.option("--sources", type=click.Path(exists=True, file_okay=False, path_type=str), default=None,
              help="Also check each video's source file under this folder against its stored sha256.")
@click.option("--no-decode", is_flag=True, help="Skip decoding every record (tables, offsets and checksums only).")
def verify(store, sources, no_decode):
    """Check STORE: tables and offsets consistent, checksums match, every record decodes.
    Exits with status 1 and lists the problems when there are any."""
    from flowkit.store.inspect import verify as verify_store

    problems = verify_store(store, source_root=sources, decode=not no_decode, progress=True)
    if problems:
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        click.echo(f"Error: {store} has {len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"{store}: ok")
