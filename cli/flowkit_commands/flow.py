"""`flowkit flow`: optical flow between two image files, saved as .npy (and optionally a PNG)."""

from __future__ import annotations

import click

from cli.options import converted, max_pixels_option, raft_options, raft_settings, tvl1_options
from flowkit.flow import ALGORITHMS  # the package itself is import-light (no torch, no cv2)


@click.command()
@click.argument("prev_image", metavar="A")
@click.argument("next_image", metavar="B")
@click.option("-o", "--output", required=True, help="Where to save the flow: float32 .npy of shape (2, H, W).")
@click.option("--viz", default=None, help="Also save a colour-coded picture of the flow (PNG).")
@click.option("--algo", type=click.Choice(ALGORITHMS), default="tvl1", show_default=True,
              help="tvl1: flowkit's TV-L1 (OpenCV's algorithm; on the CPU numpy, OpenCV and a C kernel, on CUDA "
                   "fused Triton kernels, with --compile the torch engine); opencv-tvl1: OpenCV's own (CPU "
                   "reference); farneback: fast preview; raft: torchvision's RAFT (needs --flow-weights).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:index] (tvl1 and raft).")
@click.option("--threads", default="1", show_default=True, callback=converted(int),
              help="CPU threads for tvl1 (one pair of video frames gains little from more, and loses much on a "
                   "busy machine).")
@click.option("--compile", "compile_", is_flag=True,
              help="Run tvl1 on the torch engine under torch.compile (for CUDA; on the CPU the default C kernel is "
                   "faster); the first run compiles for tens of seconds.")
@click.option("--engine", type=click.Choice(("auto", "torch", "triton")), default="auto", show_default=True,
              help="TV-L1 implementation: triton (fused kernels, CUDA), torch (torch operators; the C solver on "
                   "CPU); auto: triton on CUDA, else torch.")
@click.option("--warped", is_flag=True,
              help="Also compute warped flow (camera motion removed, as in IDT/TSN); --viz then shows flow | warped.")
@click.option("--warped-output", default=None,
              help="Where to save the warped flow (default: OUTPUT's stem + _warped.npy).")
@tvl1_options
@raft_options
@max_pixels_option
def flow(prev_image, next_image, output, viz, algo, device, threads, compile_, engine, warped, warped_output,
         raft_model, flow_weights, **params):
    """Optical flow from image A (prev) to image B (next).

    Saves float32 flow of shape (2, H, W) in pixels, x then y, with OpenCV's convention: flow maps
    A to B, B(p + flow(p)) ~ A(p). TV-L1 parameters use OpenCV's names and defaults.
    """
    from flowkit.flow.pair import flow_between_files

    params = {key: value for key, value in params.items() if value is not None} | raft_settings(algo, raft_model,
                                                                                                 flow_weights)
    done = flow_between_files(prev_image, next_image, output, viz=viz, algo=algo, device=device, threads=threads,
                              compile=compile_, engine=engine, warped=warped, warped_output=warped_output,
                              params=params)
    click.echo(done.describe(), err=True)
