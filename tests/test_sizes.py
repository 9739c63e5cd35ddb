"""flowkit.sizes: WIDTHxHEIGHT parsing and (width, height) checking, the one place sizes are read."""

import numpy as np
import pytest
from click.testing import CliRunner

from cli.flowkit_app import main as flowkit_main
from flowkit.sizes import MAX_SIDE, TSN_SIZE, check_size, format_size, parse_size


def test_parse_size():
    assert parse_size("340x256") == (340, 256)
    assert parse_size(" 96X72 ") == (96, 72)
    for bad in ("340", "340x", "x256", "0x10", "-3x4", "3.5x4", "abc", f"{MAX_SIDE + 1}x10"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_parse_size_errors_are_one_line_and_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"^size must look like WIDTHxHEIGHT, e\.g\. 340x256, got '340'$"):
        parse_size("340")
    with pytest.raises(ValueError, match=r"^size must be at least 1x1 pixels, got 0x10$"):
        parse_size("0x10")
    with pytest.raises(ValueError, match=rf"at most {MAX_SIDE} pixels, got 20000x10$"):
        parse_size("20000x10")


def test_format_size_round_trips_and_tsn_size_is_tsns():
    assert TSN_SIZE == (340, 256)
    assert format_size(TSN_SIZE) == "340x256"
    assert parse_size(format_size((97, 31))) == (97, 31)


def test_check_size_takes_pairs_of_whole_numbers():
    assert check_size((64, 48)) == (64, 48)
    assert check_size([64.0, np.int64(48)]) == (64, 48)
    assert all(type(side) is int for side in check_size(np.array([64, 48])))
    for bad in ((64.5, 48), (64,), (1, 2, 3), "64x48", None, ("64", 48)):
        with pytest.raises(ValueError, match="size must be"):
            check_size(bad)
    with pytest.raises(ValueError, match="at least 16x16 pixels, got 15x40"):
        check_size((15, 40), minimum=16)
    assert check_size((16, 16), minimum=16) == (16, 16)


def test_commands_show_and_use_the_tsn_size_default():
    for command in ("extract", "synth"):
        result = CliRunner().invoke(flowkit_main, [command, "--help"])
        assert result.exit_code == 0 and "340x256" in result.output, result.output
