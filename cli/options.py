"""Option parsing shared by CLI commands (values only; commands stay thin)."""

from __future__ import annotations

import click

from flowkit.errors import UserValueError
from flowkit.sizes import parse_size


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

LABELS_HELP = ("Labels and splits: a UCF101 folder (classInd.txt + train/testlists), an HMDB51 split folder, "
               "Kinetics CSV file(s) (train.csv, validate.csv, ...), a Something-Something V2 folder (labels.json "
               "+ something-something-v2-*.json) or an mmaction2 list file.")


# TV-L1 options: (flag, keyword of flowkit.flow.params.TVL1Params, type, help). Unset ones keep OpenCV's defaults.
# Values arrive as text and are converted by `converted` so that a bad value is a one-line error.
TVL1_OPTIONS = (
    ("--tau", "tau", float, "Time step of the numerical scheme (default 0.25)."),
    ("--lambda", "lambda_", float, "Weight of the data term; smaller gives smoother flow (0.15)."),
    ("--theta", "theta", float, "Weight of the coupling term (0.3)."),
    ("--nscales", "nscales", int, "Pyramid scales (5)."),
    ("--warps", "warps", int, "Warpings per scale (5)."),
    ("--epsilon", "epsilon", float, "Stopping threshold on the mean flow change (0.01)."),
    ("--inner-iterations", "inner_iterations", int, "Iterations between median filterings (30)."),
    ("--outer-iterations", "outer_iterations", int, "Median filterings per warp (10)."),
    ("--scale-step", "scale_step", float, "Ratio between pyramid scales (0.8)."),
    ("--gamma", "gamma", float, "Weight of the illumination term (0)."),
    ("--median-filtering", "median_filtering", int, "Median filter size: 0/1 off, 3 or 5 (5)."),
)


def converted(kind):
    """click callback turning an option's text into `kind`, a bad value being a one-line ValueError."""

    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise UserValueError(f"{param.opts[0]} must be {noun}, got {value!r}") from None

    return callback


def tvl1_options(command):
    """Add the TV-L1 parameter options (OpenCV's names, default None = OpenCV's default) to a command."""
    for flag, keyword, kind, text in reversed(TVL1_OPTIONS):
        command = click.option(flag, keyword, default=None, metavar=kind.__name__.upper(), help=text,
                               callback=converted(kind))(command)
    return command


def max_pixels_option(command):
    """Add --max-pixels (the decompression-bomb limit, flowkit.limits) to a command; a value given
    is set for this process and those it starts before anything is decoded."""

    def callback(ctx, param, value):
        if value is not None:
            from flowkit.limits import set_max_pixels

            set_max_pixels(value)
        return value

    return click.option("--max-pixels", type=click.IntRange(min=1), default=None, expose_value=False, is_eager=True,
                        callback=callback, metavar="N",
                        help="Refuse images and video frames larger than N pixels before decoding them "
                             "[default: FLOWKIT_MAX_PIXELS, else 67108864 = 8192x8192].")(command)
