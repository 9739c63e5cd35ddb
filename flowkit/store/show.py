"""A picture of one frame of a stored video: the RGB frame, its flow and its warped flow as
colour-wheel images (flowkit.viz), side by side with titles, written as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from flowkit.errors import UserKeyError, UserOSError, UserValueError, create_output_folder
from flowkit.store import format as fmt
from flowkit.store.opening import Store, open_store

# Panels narrower than this are enlarged (nearest neighbour) so titles fit and pixels are visible.
MIN_PANEL_WIDTH = 320
TITLE_HEIGHT = 28
GAP = 8


def find_video(store: Store, video: str | int) -> int:
    """Index of a video given by name, or by its position in the table (an int or digits)."""
    if isinstance(video, int):
        index = video
    else:
        try:
            return store.index_of(video)
        except KeyError:
            if not str(video).isdigit():
                raise
        index = int(video)
    if not 0 <= index < len(store.videos):
        raise UserKeyError(f"video index {index} out of range: {store.path} has {len(store.videos)} videos")
    return index


def show_panels(store: Store, video: int, frame: int | None = None) -> tuple[list[tuple[str, np.ndarray]], int]:
    """The panels for frame `frame` (default: the middle) of video index `video`: a list of
    (title, (H, W, 3) uint8 RGB image) with the RGB frame, the flow frame -> frame + 1 and the
    warped flow, for the streams the store has; flow and warped flow share one colour scale (the
    larger of their maximum magnitudes). Returns (panels, frame)."""
    from flowkit.viz import flow_to_rgb

    record = store.videos[video]
    if record.status != fmt.STATUS_OK:
        raise UserValueError(f"video {record.name!r} failed at extraction ({record.error}); it has no frames")
    has_flow = fmt.FLOW_X in store.streams
    last = record.num_frames - (2 if has_flow else 1)
    if frame is None:
        frame = max(min(record.num_frames // 2, last), 0)
    if not 0 <= frame <= last:
        raise UserValueError(
            f"frame {frame} out of range: video {record.name!r} has {record.num_frames} frames"
            + (f" and flow for frames 0..{last}" if has_flow else "")
        )
    panels: list[tuple[str, np.ndarray]] = []
    if fmt.RGB in store.streams:
        panels.append((f"RGB frame {frame}", store.read(fmt.RGB, video, [frame])[0]))
    flows = []
    if has_flow:
        flows.append(("flow", store.read_flow(video, [frame])[0]))
    if fmt.WARP_X in store.streams:
        flows.append(("warped flow", store.read_flow(video, [frame], warped=True)[0]))
    if flows:
        scale = max(float(np.hypot(f[0], f[1]).max()) for _, f in flows)
        for title, flow in flows:
            picture = flow_to_rgb(flow, max_magnitude=max(scale, 1e-6))
            panels.append((f"{title} {frame}->{frame + 1} (max {scale:.1f} px)", picture))
    return panels, frame


def compose(panels: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Panels side by side on white, each under its title: (H', W', 3) uint8 RGB. Panels are
    enlarged by an integer factor (nearest neighbour) when narrower than MIN_PANEL_WIDTH."""
    import cv2

    height, width = panels[0][1].shape[:2]
    factor = max(1, -(-MIN_PANEL_WIDTH // width))
    ph, pw = height * factor, width * factor
    canvas = np.full((TITLE_HEIGHT + ph, len(panels) * pw + (len(panels) - 1) * GAP, 3), 255, np.uint8)
    for k, (title, image) in enumerate(panels):
        x = k * (pw + GAP)
        canvas[TITLE_HEIGHT:, x : x + pw] = image.repeat(factor, axis=0).repeat(factor, axis=1)
        cv2.putText(canvas, title, (x + 4, TITLE_HEIGHT - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def render_show(
    store_path: str | os.PathLike, video: str | int, output: str | os.PathLike, frame: int | None = None
) -> Path:
    """Write the picture of `video`'s frame `frame` (default: middle) of the store to `output` (PNG).
    Returns the output path. KeyError for an unknown video, ValueError for a bad frame."""
    import cv2

    with open_store(store_path) as store:
        panels, _ = show_panels(store, find_video(store, video), frame)
    image = compose(panels)
    output = Path(output)
    create_output_folder(output.parent)
    if not cv2.imwrite(str(output), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise UserOSError(f"could not write {output} (use a .png name)")
    return output
