"""The `tsn` command group. Each subcommand lives in its own module under cli/tsn_commands/."""

from cli.lazy_group import LazyGroup

import click

COMMANDS: dict[str, str] = {}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
def main():
    """Temporal Segment Networks trained and evaluated from flowkit stores."""
