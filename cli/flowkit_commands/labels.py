"""`flowkit set-labels`: attach class labels and splits to an existing store."""

from __future__ import annotations

import click

from cli.options import LABELS_HELP


@click.command("set-labels")
@click.argument("store", type=click.Path(dir_okay=False, path_type=str))
@click.option("--labels", required=True, type=click.Path(exists=True, path_type=str),
              help=LABELS_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the labelled store here [default: replace STORE].")
def set_labels(store, labels, output):
    """Give STORE's videos the classes, labels and train/test splits of --labels, as `flowkit extract
    --labels` would have, without extracting again (frames and flow are copied unchanged)."""
    from flowkit.extract.relabel import set_labels as run_set_labels

    report = run_set_labels(store, labels, output)
    click.echo(f"{report.output}: {report.classes} classes, {report.labelled} videos labelled, "
               f"{len(report.unlabelled)} without a label")
    for number, (train, test) in report.splits.items():
        click.echo(f"split {number}: {train} train, {test} test")
    if not report.splits:
        click.echo(f"note: {labels} defines no train/test split", err=True)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if report.unlabelled:
        shown = ", ".join(report.unlabelled[:5]) + (" ..." if len(report.unlabelled) > 5 else "")
        click.echo(f"note: no label for {shown}", err=True)
