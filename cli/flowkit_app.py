"""The `flowkit` command group. Each subcommand lives in its own module under cli/flowkit_commands/."""

from cli.lazy_group import LazyGroup

import click

COMMANDS = {
    "flow": "cli.flowkit_commands.flow:flow",
    "synth": "cli.flowkit_commands.synth:synth",
    "demo": "cli.flowkit_commands.demo:demo",
    "extract": "cli.flowkit_commands.extract:extract",
    "info": "cli.flowkit_commands.info:info",
    "verify": "cli.flowkit_commands.verify:verify",
    "set-labels": "cli.flowkit_commands.labels:set_labels",
    "show": "cli.flowkit_commands.show:show",
    "import-rawframes": "cli.flowkit_commands.rawframes:import_rawframes",
    "export-rawframes": "cli.flowkit_commands.rawframes:export_rawframes",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(package_name="flowkit")
def main():
    """Optical flow extraction for two-stream action recognition."""


if __name__ == "__main__":  # python -m cli.flowkit_app ...
    main()
