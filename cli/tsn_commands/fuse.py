"""`tsn fuse`: weighted late fusion of score files from `tsn test`."""

import os

import click

from flowkit.errors import UserValueError


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def split_weights(paths: tuple[str, ...], weights: str | None) -> tuple[list[str], list[float] | None]:
    """`--weights 1 1.5` reaches click as weights '1' plus a stray argument '1.5': take the
    numeric arguments that are not files as further weights. '1,1.5' and '1 1.5' work too."""
    if weights is None:
        return list(paths), None
    values = weights.replace(",", " ").split()
    files = []
    for path in paths:
        if _is_number(path) and not os.path.exists(path):
            values.append(path)
        else:
            files.append(path)
    bad = [v for v in values if not _is_number(v)]
    if bad:
        raise UserValueError(f"--weights must be numbers, got {' '.join(bad)}")
    return files, [float(v) for v in values]


@click.command("fuse")
@click.argument("scores", nargs=-1, required=True)
@click.option("--weights", default=None, metavar="W [W ...]",
              help="One weight per file, e.g. --weights 1 1.5 [default: rgb 1, flow 1.5; flow 1 and warp 0.5 "
                   "when both are fused].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Save the fused scores (.npz).")
def fuse_command(scores, weights, output):
    """Fuse SCORES (.npz files of the same videos and classes) and print the accuracies."""
    from tsn.fuse import fuse_score_files
    from tsn.metrics import format_metrics

    paths, parsed = split_weights(scores, weights)
    result = fuse_score_files(paths, parsed, output)
    for item in result["inputs"]:
        click.echo(f"{item['modality']:>8} x {item['weight']:g}: {format_metrics(item['metrics'])}  ({item['path']})")
    click.echo(f"{'fused':>8}: {format_metrics(result['metrics'])}")
    if output:
        click.echo(f"fused scores: {output}")
