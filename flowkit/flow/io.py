"""Reading frame pairs from image files and writing flow to .npy / a colour-coded PNG.

Frames are read as OpenCV pipelines (dense_flow) read them: decoded in colour, then converted to
gray with cv2.cvtColor. Problems with the user's files raise OSError / ValueError with one-line
messages naming the file.
"""

from __future__ import annotations

import os

import numpy as np

from flowkit.errors import UserFileNotFoundError, UserIsADirectoryError, UserOSError, UserValueError


def read_gray_frame(path: str) -> np.ndarray:
    """An image file (PNG, JPEG, ... anything cv2.imread decodes) -> (H, W) uint8 gray. The size its
    header declares is checked against the pixel limit (flowkit.limits) before it is decoded."""
    import cv2

    from flowkit.limits import check_image_file

    if not os.path.isfile(path):
        raise UserFileNotFoundError(f"no such image file: {path}")
    check_image_file(path)
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise UserValueError(f"cannot decode {path} as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def read_frame_pair(prev_path: str, next_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Two image files -> two (H, W) uint8 gray frames of the same size (ValueError otherwise)."""
    prev, next = read_gray_frame(prev_path), read_gray_frame(next_path)
    if prev.shape != next.shape:
        raise UserValueError(
            f"images differ in size: {prev_path} is {prev.shape[1]}x{prev.shape[0]}, "
            f"{next_path} is {next.shape[1]}x{next.shape[0]}"
        )
    return prev, next


def prepare_output(path: str) -> None:
    """Create the folder an output file goes to (as `flowkit extract` does); OSError in one line
    when that is impossible. Called before computing, so a bad path fails early."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UserOSError(f"cannot create the folder for {path}: {exc.strerror or exc}") from None
    if os.path.isdir(path):
        raise UserIsADirectoryError(f"output {path} is a folder; give a file name")


def save_flow_npy(path: str, flow) -> None:
    """Save one flow field (2, H, W) (numpy or torch) as float32 .npy, x then y, pixels. The
    folder is created if needed."""
    flow = np.asarray(flow.detach().cpu() if hasattr(flow, "detach") else flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow must have shape (2, H, W), got {flow.shape}")
    prepare_output(path)
    np.save(path, flow)


def save_flow_png(path: str, flow, max_magnitude: float | None = None) -> None:
    """Save flow (2, H, W) as a Middlebury colour-wheel PNG (flowkit.viz.flow_to_rgb)."""
    import cv2

    from flowkit.viz import flow_to_rgb

    rgb = flow_to_rgb(flow, max_magnitude)
    prepare_output(path)
    try:
        written = cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error:  # e.g. an extension no encoder handles
        written = False
    if not written:
        raise UserOSError(f"cannot write image {path} (check the extension, e.g. .png)")
