"""`flowkit extract`: videos to one HDF5 store (RGB, TV-L1 flow, warped flow)."""

from __future__ import annotations

import sys

import click

from cli.options import LABELS_HELP, SIZE, max_pixels_option, raft_options, raft_settings, tvl1_options
from flowkit.cpus import available_cpus
from flowkit.errors import UserValueError
from flowkit.quantize import DEFAULT_BOUND
from flowkit.sizes import TSN_SIZE, format_size


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=str))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Store to write (default: <first PATH's name>.h5 in the current folder).")
@click.option("--gpu", "gpu", default=None, metavar="IDS",
              help="Run flow on these GPUs: 0, 0,1 or all (default: all GPUs when there are any).")
@click.option("--cpu", is_flag=True, help="Run flow on the CPU (the default without a GPU).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="CPU workers for decoding and encoding (default: CPU cores); 0 runs one video at a time in "
                   "this process. Small local jobs (under 4 videos per worker, one GPU at most) run in this "
                   "process too, others on Ray.")
@click.option("--address", default=None,
              help="Join this Ray cluster (e.g. auto or 10.0.0.1:6379) instead of starting a local one.")
@click.option("--size", type=SIZE, default=format_size(TSN_SIZE), show_default=True,
              help="Resize frames to WIDTHxHEIGHT before flow (TSN's); not with --short-side / --long-side.")
@click.option("--short-side", type=int, default=None, metavar="N",
              help="Instead of --size: resize each video, aspect kept, so its short side is N pixels (even; "
                   "enlarges too). The store keeps each video's own size.")
@click.option("--long-side", type=int, default=None, metavar="N",
              help="Instead of --size: resize each video, aspect kept, so its long side is N pixels (even).")
@click.option("--fps", type=float, default=None, metavar="F",
              help="Resample to F frames per second by the frames' timestamps (variable frame rate too): for "
                   "each time k/F the first frame at or after it; never duplicates a frame. Before --step.")
@click.option("--step", type=click.IntRange(min=1), default=1, show_default=True,
              help="Keep every STEP-th frame (of those --fps keeps).")
@click.option("--bound", type=float, default=DEFAULT_BOUND, show_default=True,
              help="Flow quantization bound in pixels.")
@click.option("--algo", default="tvl1", show_default=True,
              help="Flow algorithm: tvl1, opencv-tvl1, farneback or raft.")
@tvl1_options
@click.option("--warm-start", is_flag=True, help="tvl1: start each pair from the previous pair's flow (docs/flow.md).")
@click.option("--fast", is_flag=True, help="tvl1: a looser tolerance at the finest scale (docs/flow.md).")
@raft_options
@click.option("--warped", is_flag=True, help="Also store warped (camera-motion-compensated) flow.")
@click.option("--no-rgb", is_flag=True, help="Do not store RGB frames.")
@click.option("--max-frames", type=click.IntRange(min=2), default=None, help="Keep at most this many frames per video.")
@click.option("--labels", type=click.Path(exists=True, path_type=str), default=None,
              help=LABELS_HELP)
@click.option("--overwrite", is_flag=True, help="Replace an existing store and discard an interrupted run's parts.")
@click.option("--shard-size", type=click.IntRange(min=0), default=None, metavar="N",
              help="Write a sharded store: N videos per shard file beside the index -o names (0: one file; "
                   "default: one file unless the job is large, then shards of about 4 GiB).")
@click.option("--append", is_flag=True,
              help="Add the videos that are not in the existing store -o names as new shards, without rewriting it.")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile the TV-L1 engine instead of its fused Triton kernels (GPU): the first batch "
                   "compiles for tens of seconds.")
@click.option("--dashboard", is_flag=True, help="Start Ray's dashboard (local Ray only; listens on 127.0.0.1).")
@max_pixels_option
def extract(paths, output, gpu, cpu, workers, address, size, short_side, long_side, fps, step, bound, algo, warped,
            no_rgb, max_frames, labels, overwrite, shard_size, append, compile_, dashboard, warm_start, fast,
            raft_model, flow_weights, **tvl1):
    """Extract RGB frames, TV-L1 flow and (with --warped) warped flow of every video under PATH...
    (video files, frame folders of images, folders searched recursively, or list files) into one
    HDF5 store. docs/extraction.md says what counts as a video and which frames are kept.

    Interrupted runs resume: run the same command again. Exits with status 1 when a video failed.
    """
    from flowkit.extract import ContentOptions, RunOptions, extract as run_extract, format_summary
    from flowkit.extract.devices import choose_device

    size = _one_sizing(click.get_current_context(), size, short_side, long_side)
    device, gpus = choose_device(gpu, cpu, address)
    flow_params = {k: v for k, v in tvl1.items() if v is not None} | raft_settings(algo, raft_model, flow_weights)
    content = ContentOptions(size=size, short_side=short_side, long_side=long_side, fps=fps, step=step,
                             max_frames=max_frames, bound=bound, algo=algo, flow_params=flow_params,
                             warped=warped, rgb=not no_rgb, warm_start=warm_start, fast=fast)
    run = RunOptions(device=device, gpus=gpus, workers=available_cpus() if workers is None else workers,
                     address=address, dashboard=dashboard, overwrite=overwrite, labels=labels,
                     shard_size=shard_size, append=append, compile=compile_)
    summary = run_extract(paths, output, content, run)
    click.echo(format_summary(summary))
    if summary.videos_failed:
        names = ", ".join(f"{name} ({reason})" for name, reason in summary.failures[:5])
        more = f" and {summary.videos_failed - 5} more" if summary.videos_failed > 5 else ""
        click.echo(f"Error: {summary.videos_failed} video(s) failed: {names}{more}", err=True)
        sys.exit(1)


def _one_sizing(ctx: click.Context, size, short_side, long_side):
    """The --size to use: None when --short-side or --long-side replaces the default; ValueError when
    more than one of the three is given."""
    from click.core import ParameterSource

    given = [flag for flag, value in (("--short-side", short_side), ("--long-side", long_side)) if value is not None]
    if ctx.get_parameter_source("size") not in (ParameterSource.DEFAULT, None):
        given.insert(0, "--size")
    if len(given) > 1:
        raise UserValueError(f"{' and '.join(given)} are mutually exclusive: give one way to size the frames")
    return None if short_side is not None or long_side is not None else size
