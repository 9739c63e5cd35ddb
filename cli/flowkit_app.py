"""The `flowkit` command group. Each subcommand lives in its own module under cli/flowkit_commands/."""

from cli.lazy_group import LazyGroup

import click

COMMANDS = {
    "flow": "cli.flowkit_commands.flow:flow",
    "synth": "cli.flowkit_commands.synth:synth",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(package_name="flowkit")
def main():
    """Optical flow extraction for two-stream action recognition."""
