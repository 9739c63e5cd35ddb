"""Option parsing shared by CLI commands (values only; commands stay thin)."""

from __future__ import annotations

import re

import click

_SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
MAX_SIDE = 16384  # pixels; anything larger is a typo, not a video


def parse_size(text: str) -> tuple[int, int]:
    """"340x256" -> (340, 256): (width, height) in pixels, both in 1..MAX_SIDE.
    Raises ValueError with a one-line message otherwise."""
    match = _SIZE_PATTERN.match(str(text))
    if not match:
        raise ValueError(f"size must look like WIDTHxHEIGHT, e.g. 340x256, got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"size sides must be between 1 and {MAX_SIDE} pixels, got {width}x{height}")
    return width, height


class SizeParam(click.ParamType):
    """click type for WIDTHxHEIGHT options: `type=SIZE` gives (width, height)."""

    name = "size"

    def get_metavar(self, param, ctx=None):
        return "WIDTHxHEIGHT"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE = SizeParam()
