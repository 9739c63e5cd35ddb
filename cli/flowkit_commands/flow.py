"""`flowkit flow`: optical flow between two image files, saved as .npy (and optionally a PNG)."""

from __future__ import annotations

import click

from cli.options import converted, tvl1_options
from flowkit.flow import ALGORITHMS  # the package itself is import-light (no torch, no cv2)

@click.command()
@click.argument("prev_image", metavar="A")
@click.argument("next_image", metavar="B")
@click.option("-o", "--output", required=True, help="Where to save the flow: float32 .npy of shape (2, H, W).")
@click.option("--viz", default=None, help="Also save a colour-coded picture of the flow (PNG).")
@click.option("--algo", type=click.Choice(ALGORITHMS), default="tvl1", show_default=True,
              help="tvl1: flowkit's torch TV-L1; opencv-tvl1: OpenCV's (CPU reference); farneback: fast preview.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:index] (tvl1 only).")
@click.option("--threads", default="1", show_default=True, callback=converted(int),
              help="CPU threads for tvl1 (one pair of video frames gains little from more, and loses much on a busy machine).")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile the TV-L1 iterations: faster per pair, but the first run compiles for tens of seconds.")
@click.option("--warped", is_flag=True,
              help="Also compute warped flow (camera motion removed, as in IDT/TSN); --viz then shows flow | warped.")
@click.option("--warped-output", default=None, help="Where to save the warped flow (default: OUTPUT's stem + _warped.npy).")
@tvl1_options
def flow(prev_image, next_image, output, viz, algo, device, threads, compile_, warped, warped_output, **params):
    """Optical flow from image A (prev) to image B (next).

    Saves float32 flow of shape (2, H, W) in pixels, x then y, with OpenCV's convention: flow maps
    A to B, B(p + flow(p)) ~ A(p). TV-L1 parameters use OpenCV's names and defaults.
    """
    from flowkit.flow.io import read_frame_pair, save_flow_npy, save_flow_png

    params = {key: value for key, value in params.items() if value is not None}
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    prev, next = read_frame_pair(prev_image, next_image)
    if algo == "tvl1":
        import torch

        torch.set_num_threads(threads)
        params["compile"] = compile_
    elif compile_:
        raise ValueError("--compile applies to --algo tvl1 only")
    if algo == "farneback" and params:
        raise ValueError("TV-L1 parameters do not apply to --algo farneback")
    from flowkit.flow.backends import compute_flow

    if warped_output and not warped:
        raise ValueError("--warped-output needs --warped")
    if not warped:
        field = compute_flow(prev, next, algo=algo, device=device, **params)[0]
        save_flow_npy(output, field)
        if viz:
            save_flow_png(viz, field)
        click.echo(f"flow {field.shape[2]}x{field.shape[1]} ({algo}) -> {output}" + (f", {viz}" if viz else ""), err=True)
        return
    import functools
    import os

    import numpy as np

    from flowkit.warp import warped_flow_batch

    warped_output = warped_output or os.path.splitext(output)[0] + "_warped.npy"
    result = warped_flow_batch(prev, next, flow_fn=functools.partial(compute_flow, algo=algo, device=device, **params))
    field, warped_field = result.flow[0].cpu(), result.warped_flow[0].cpu()
    save_flow_npy(output, field)
    save_flow_npy(warped_output, warped_field)
    if viz:  # side by side on one colour scale; the NaN gap draws black
        gap = np.full((2, field.shape[1], 8), np.nan, np.float32)
        save_flow_png(viz, np.concatenate([field.numpy(), gap, warped_field.numpy()], axis=2))
    camera = f"identity fallback ({result.reasons[0]})" if result.fallback[0] else f"{int(result.inliers[0])} inliers"
    click.echo(f"flow {field.shape[2]}x{field.shape[1]} ({algo}) -> {output}, warped ({camera}) -> {warped_output}"
               + (f", {viz}" if viz else ""), err=True)
