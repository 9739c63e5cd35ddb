"""`flowkit import-rawframes` / `flowkit export-rawframes`: the dense_flow / mmaction2 rawframes
layout (img_00001.jpg, flow_x_00001.jpg, flow_y_00001.jpg per video folder) to and from a store."""

from __future__ import annotations

import click

from cli.options import LABELS_HELP

from flowkit.quantize import DEFAULT_BOUND
from flowkit.store.codec import DEFAULT_JPEG_QUALITY


@click.command("import-rawframes")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str), help="Store to write.")
@click.option("--labels", type=click.Path(exists=True, path_type=str), default=None,
              help=LABELS_HELP + " Rawframe lists, RGB or flow, too (default: parent folder names).")
@click.option("--bound", type=float, default=DEFAULT_BOUND, show_default=True,
              help="Bound (pixels) the flow JPEGs were quantized with.")
@click.option("--overwrite", is_flag=True, help="Replace an existing store.")
def import_rawframes(root, output, labels, bound, overwrite):
    """Read the rawframe folders under ROOT into one store (image bytes are copied unchanged)."""
    from flowkit.rawframes import import_rawframes as run_import

    report = run_import(root, output, labels=labels, bound=bound, overwrite=overwrite, progress=True)
    click.echo(f"imported {report.videos} videos, {report.frames} frames ({report.files} files) into {output}")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)


@click.command("export-rawframes")
@click.argument("store", type=click.Path(dir_okay=False, path_type=str))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--overwrite", is_flag=True, help="Write into video folders that already exist.")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=DEFAULT_JPEG_QUALITY, show_default=True,
              help="Quality of the JPEGs written for flow stored as zstd or PNG (JPEG records are copied).")
@click.option("--absolute-paths", is_flag=True,
              help="Lists name video folders by absolute path (tsn-pytorch reads them as given).")
def export_rawframes(store, out_dir, overwrite, jpeg_quality, absolute_paths):
    """Write every ok video of STORE as a rawframes folder under OUT_DIR, with RGB and flow lists
    (`frame_dir count label`; flow lists count flow files) for tsn-pytorch and mmaction2."""
    from flowkit.rawframes import export_rawframes as run_export

    report = run_export(store, out_dir, overwrite=overwrite, jpeg_quality=jpeg_quality, absolute_paths=absolute_paths,
                        progress=True)
    click.echo(f"exported {report.videos} videos, {report.frames} frames ({report.files} files) to {out_dir}")
    click.echo(f"lists: {', '.join(report.lists)}")
