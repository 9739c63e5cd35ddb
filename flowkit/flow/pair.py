"""Flow between two image files, as `flowkit flow` computes it: check the settings, read the frames,
compute the flow (and optionally warped flow), save them as .npy and optionally a picture."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from flowkit.errors import UserValueError
from flowkit.flow.params import check_device, resolve_flow_params

VIZ_GAP_PX = 8  # width of the empty (black) column between flow and warped flow in the picture


@dataclass
class PairFlow:
    """What flow_between_files computed and wrote.

    flow: (2, H, W) float32, pixels, x then y, prev -> next. warped_flow: the same with the camera's
    motion removed, or None. camera: how the camera motion was found ('' without warped flow).
    output / warped_output / viz: the files written (None when not written).
    """

    algo: str
    flow: np.ndarray
    output: str
    warped_flow: np.ndarray | None = None
    warped_output: str | None = None
    camera: str = ""
    viz: str | None = None

    def describe(self) -> str:
        """One line saying what was computed and where it went."""
        height, width = self.flow.shape[1:]
        line = f"flow {width}x{height} ({self.algo}) -> {self.output}"
        if self.warped_flow is not None:
            line += f", warped ({self.camera}) -> {self.warped_output}"
        return line + (f", {self.viz}" if self.viz else "")


def flow_between_files(
    prev_path: str,
    next_path: str,
    output: str,
    viz: str | None = None,
    algo: str = "tvl1",
    device: str = "cpu",
    threads: int = 1,
    compile: bool = False,
    engine: str = "auto",
    warped: bool = False,
    warped_output: str | None = None,
    params: dict | None = None,
) -> PairFlow:
    """Flow from image prev_path to image next_path, saved to `output` as float32 (2, H, W) .npy.

    viz: also save a colour-coded PNG (flow | warped flow side by side with warped=True). algo: one
    of flowkit.flow.ALGORITHMS. device: where tvl1 runs. threads: torch's CPU threads during the call
    (the torch engine; CPU TV-L1 runs without torch when its C kernel builds). compile:
    torch.compile the tvl1 iterations. engine: the tvl1 implementation ("auto", "torch", "triton";
    flowkit.flow.engine.ENGINES). warped: also compute warped flow (camera motion removed), saved
    to warped_output (default: output's stem + '_warped.npy'). params: the
    algorithm's parameters (TV-L1: OpenCV's names). Frames are read as gray (flowkit.flow.io), their
    declared size checked against the pixel limit (flowkit.limits) first. Output folders are created.
    Raises ValueError / OSError with one-line messages for bad settings or files.
    """
    from flowkit.flow.functions import make_flow_fn, torch_threads
    from flowkit.flow.io import prepare_output, read_frame_pair, save_flow_npy, save_flow_png

    if int(threads) != threads or threads < 1:
        raise UserValueError(f"--threads must be at least 1, got {threads}")
    if compile and algo != "tvl1":  # the only torch engine
        raise UserValueError("--compile applies to --algo tvl1 only")
    if warped_output and not warped:
        raise UserValueError("--warped-output needs --warped")
    for path in (output, viz, warped_output):
        if path:
            prepare_output(path)  # its folder is created before the computation: a bad path fails at once
    settings = resolve_flow_params(algo, params or {})
    check_device(algo, device)
    prev, next = read_frame_pair(prev_path, next_path)
    # CPU TV-L1 runs without torch (flowkit.flow.functions): a one-pair run does not pay its import.
    flow_fn = make_flow_fn(algo, settings, device, compile, engine=engine)
    with torch_threads(threads):
        if warped:
            from flowkit.warp import warped_flow_batch

            result = warped_flow_batch(prev, next, flow_fn=flow_fn)
            field, warped_field = result.flow[0], result.warped_flow[0]
            fallback = bool(result.fallback[0])
            camera = f"identity fallback ({result.reasons[0]})" if fallback else f"{int(result.inliers[0])} inliers"
        else:
            field, warped_field, camera = flow_fn(prev, next)[0], None, ""
    save_flow_npy(output, field)
    done = PairFlow(algo, field, output, camera=camera, viz=viz)
    if warped_field is not None:
        done.warped_flow = warped_field
        done.warped_output = warped_output or os.path.splitext(output)[0] + "_warped.npy"
        save_flow_npy(done.warped_output, warped_field)
    if viz:
        save_flow_png(viz, side_by_side([field] if warped_field is None else [field, warped_field]))
    return done


def side_by_side(flows: list[np.ndarray], gap: int = VIZ_GAP_PX) -> np.ndarray:
    """Flows (2, H, W) placed left to right with `gap` NaN columns between them (NaN draws black),
    so one picture shows them on one colour scale: (2, H, total width) float32."""
    if len(flows) == 1:
        return flows[0]
    blank = np.full((2, flows[0].shape[1], gap), np.nan, np.float32)
    pieces = [piece for flow in flows for piece in (blank, flow)][1:]
    return np.concatenate(pieces, axis=2)
