"""One source per choice (tsn.choices): every registry holds exactly the names the CLI offers, and
the module (with the `tsn` commands' startup and score fusion) stays free of torch."""

import subprocess
import sys

import click

from cli.tsn_commands import test as test_module
from cli.tsn_commands.train import train_command
from tsn import choices
from tsn.data.modalities import MODALITIES as MODALITY_TABLE
from tsn.fuse import default_weights
from tsn.models.backbones import BACKBONES
from tsn.recipe import RECIPES


def _cli_choices(command, name):
    option = next(p for p in command.params if p.name == name)
    assert isinstance(option.type, click.Choice)
    return tuple(option.type.choices)


def test_registries_hold_exactly_the_listed_names():
    assert tuple(BACKBONES) == choices.ARCHS
    assert tuple(MODALITY_TABLE) == choices.MODALITIES
    assert tuple(RECIPES) == choices.MODALITIES
    assert tuple(m for m in choices.MODALITIES if MODALITY_TABLE[m].is_flow) == choices.FLOW_MODALITIES
    assert len(default_weights(list(choices.MODALITIES))) == len(choices.MODALITIES)


def test_the_cli_offers_the_listed_names():
    assert _cli_choices(train_command, "modality") == choices.MODALITIES
    assert _cli_choices(train_command, "arch") == choices.ARCHS
    assert _cli_choices(train_command, "consensus") == choices.CONSENSUS_TYPES
    assert _cli_choices(train_command, "decode") == choices.DECODE_MODES
    assert _cli_choices(train_command, "crop_positions") == tuple(str(n) for n in choices.CROP_POSITIONS)
    assert _cli_choices(test_module.test_command, "crops") == tuple(str(n) for n in choices.TEST_CROPS)


def test_choices_the_tsn_commands_and_fusion_import_without_torch():
    # `tsn --help` builds every option list at startup, and `tsn fuse` only adds numbers up.
    code = ("import sys, tsn.choices, cli.tsn_app, cli.tsn_commands.train, cli.tsn_commands.test, "
            "cli.tsn_commands.fuse, tsn.fuse, tsn.scores, tsn.recipe; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
