"""The `tsn` command group. Each subcommand lives in its own module under cli/tsn_commands/."""

from cli.lazy_group import LazyGroup

import click

COMMANDS: dict[str, str] = {
    "train": "cli.tsn_commands.train:train_command",
    "test": "cli.tsn_commands.test:test_command",
    "fuse": "cli.tsn_commands.fuse:fuse_command",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
def main():
    """Temporal Segment Networks trained and evaluated from flowkit stores."""


if __name__ == "__main__":  # python -m cli.tsn_app ..., and torchrun -m cli.tsn_app ...
    main()
