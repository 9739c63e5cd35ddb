"""`flowkit synth`: write a synthetic dataset (classes differ in motion, frame order, or kind x motion)."""

from __future__ import annotations

import click

from cli.options import SIZE
from flowkit.sizes import TSN_SIZE, format_size
from flowkit.synth.camera import CAMERA_MOTIONS
from flowkit.synth.dataset import FAMILIES

# Classes written when --classes is not given, per family.
DEFAULT_CLASSES = {"motion": 8, "order": 6, "kind-motion": 6}


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--family", default="motion", show_default=True, type=click.Choice(FAMILIES),
              help="motion: classes differ only in how objects move; order: class pairs whose videos are the same "
                   "frames in opposite order; kind-motion: object kind (hue) x motion, so that only RGB and flow "
                   "together tell the class.")
@click.option("--classes", default=None, type=int,
              help="Number of classes: motion 1-12 (default 8); order 2, 4 or 6 (default 6); kind-motion 4 or 6 "
                   "(default 6).")
@click.option("--videos-per-class", default=24, show_default=True, type=int, help="Videos per class (>= 2).")
@click.option("--frames", default=48, show_default=True, type=int, help="Frames per video (>= 2).")
@click.option("--size", default=format_size(TSN_SIZE), show_default=True, type=SIZE,
              help="Frame size WIDTHxHEIGHT in pixels.")
@click.option(
    "--camera-motion",
    default="none",
    show_default=True,
    type=click.Choice(CAMERA_MOTIONS),
    help="Global camera motion added to every video, unrelated to the class.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed; same seed, same frames.")
@click.option("--overwrite", is_flag=True, help="Replace a dataset already in OUT_DIR.")
def synth(out_dir, family, classes, **options):
    """Write a synthetic dataset to OUT_DIR in UCF101 layout.

    Videos go to OUT_DIR/videos/<Class>/v_<Class>_gGG_cCC.mp4, with classInd.txt, trainlist01.txt
    and testlist01.txt beside them. Motion family: classes differ only in how objects move;
    textures and colours are random in every video. Order family: only in the order of their
    frames. Kind-motion family: each class is an object kind (red, green or blue objects) with a
    motion, two motions per kind and two kinds per motion.
    """
    from flowkit.synth import make_dataset

    classes = DEFAULT_CLASSES[family] if classes is None else classes
    info = make_dataset(out_dir, progress=True, family=family, classes=classes, **options)
    train = sum(v.split == "train" for v in info.videos)
    click.echo(
        f"wrote {len(info.videos)} videos ({train} train, {len(info.videos) - train} test) of "
        f"{info.frames} frames at {info.size[0]}x{info.size[1]}, {len(info.classes)} classes, "
        f"camera motion {info.camera_motion}, {info.container} ({info.fourcc}) to {info.videos_dir} "
        f"in {info.seconds:.1f} s"
    )
    for note in info.notes:
        click.echo(f"note: {note}", err=True)
