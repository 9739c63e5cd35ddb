"""Frame folders: a folder of image files taken as one video (datasets that ship frames, not videos).

Which files are the frames, in which order (`list_frames`):
- the image files (IMAGE_EXTENSIONS, any case) directly in the folder, in natural order
  (`img_2.jpg` before `img_10.jpg`);
- a rawframes folder (dense_flow / mmaction2: `img_*` beside `flow_x_*`, `flow_y_*`, `warp_*`) is
  read as its `img_*` files, the RGB frames;
- when the names end in numbers (`img_00001.jpg`, `frame12.png`) they must share one prefix and
  run without a gap: a gap means missing frames, and flow across it would join frames that are
  not consecutive, so the video fails with one line naming the gap (`FrameFolderError`); so does
  a number given twice (`1.jpg` and `1.png`), or numbered names mixed with unnumbered ones.
  Names without numbers are taken in natural order, unchecked.
Reading (`iter_folder_frames`): every frame's header is read first: frames of different sizes fail
the video with the sizes and file names; an image that cannot be read or decoded fails it too.
A frame folder has no timestamps: its frame rate is unknown (0).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from flowkit.errors import UserValueError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
# The non-RGB files of the rawframes layout (flowkit.rawframes.PREFIXES): a folder holding them
# is read as its img_ files only.
_RAWFRAMES_OTHER = ("flow_x_", "flow_y_", "warp_x_", "warp_y_")
_RAWFRAMES_RGB = "img_"
_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_DIGITS = re.compile(r"(\d+)")


class FrameFolderError(UserValueError):
    """A frame folder that cannot be read as one video (a gap, mixed sizes, an unreadable image)."""


def natural_key(name: str) -> tuple:
    """Sort key putting 'img_2.jpg' before 'img_10.jpg': digit runs compare as numbers."""
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part.lower()) for part in _DIGITS.split(name))


def is_image_file(name: str) -> bool:
    """Whether a file name has an image extension (IMAGE_EXTENSIONS, any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def order_frames(names: list[str], folder: str = "") -> list[str]:
    """The frame files among `names` (file names of one folder) in frame order: the module's rules.
    Raises FrameFolderError (naming `folder`) for a gap, a repeated number, mixed patterns or no image."""
    images = [n for n in names if is_image_file(n)]
    if any(n.lower().startswith(_RAWFRAMES_OTHER) for n in images):
        images = [n for n in images if n.lower().startswith(_RAWFRAMES_RGB)]
    if not images:
        raise FrameFolderError(f"frame folder {folder}: no image files")
    images.sort(key=natural_key)
    matches = [_NUMBERED.match(os.path.splitext(n)[0]) for n in images]
    numbered = [m for m in matches if m]
    if not numbered:
        return images
    if len(numbered) != len(images):
        plain = next(n for n, m in zip(images, matches) if not m)
        raise FrameFolderError(f"frame folder {folder}: numbered frame files mixed with {plain!r}")
    prefixes = sorted({m.group(1) for m in numbered})
    if len(prefixes) > 1:
        raise FrameFolderError(f"frame folder {folder}: frame files named in several patterns "
                               f"({', '.join(repr(p + 'N') for p in prefixes[:4])})")
    numbers = [int(m.group(2)) for m in numbered]
    for previous, current, name_before, name in zip(numbers, numbers[1:], images, images[1:]):
        if current == previous:
            raise FrameFolderError(f"frame folder {folder}: two files for frame {current} "
                                   f"({name_before!r}, {name!r})")
        if current != previous + 1:
            missing = current - previous - 1
            raise FrameFolderError(f"frame folder {folder}: a gap in the numbering, {name_before!r} is followed by "
                                   f"{name!r} ({missing} frame{'s' if missing > 1 else ''} missing)")
    return images


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """The frame files of a frame folder in frame order (module docstring). FrameFolderError otherwise."""
    folder = Path(folder)
    try:
        names = [e.name for e in os.scandir(folder) if e.is_file()]
    except OSError as exc:
        raise FrameFolderError(f"frame folder {folder}: cannot read the folder ({exc.strerror or exc})") from None
    return [folder / name for name in order_frames(names, str(folder))]


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) pixels an image file's header declares, checked against the pixel limit
    (flowkit.limits). FrameFolderError when it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    from flowkit.limits import check_image_file

    check_image_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FrameFolderError(f"frame folder {path.parent}: cannot read {path.name!r} as an image "
                               f"({type(exc).__name__})") from None
    return int(width), int(height)


def frame_sizes_agree(files: list[Path]) -> tuple[int, int]:
    """The one (width, height) of all `files` from their headers. FrameFolderError naming the first
    file whose size differs from the first frame's, or one that is not a readable image."""
    first = image_size(files[0])
    for path in files[1:]:
        size = image_size(path)
        if size != first:
            raise FrameFolderError(
                f"frame folder {path.parent}: frames of different sizes, {files[0].name!r} is "
                f"{first[0]}x{first[1]} and {path.name!r} is {size[0]}x{size[1]}"
            )
    return first


def read_image(path: Path) -> np.ndarray:
    """One frame file decoded to (H, W, 3) uint8 RGB (gray images replicated). FrameFolderError
    when OpenCV cannot decode it."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FrameFolderError(f"frame folder {path.parent}: cannot decode {path.name!r}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_folder_frames(folder: str | os.PathLike, step: int = 1) -> Iterator[np.ndarray]:
    """Frames 0, step, 2*step, ... of a frame folder as (H, W, 3) uint8 RGB arrays at their stored
    size, after checking every file's header (one size, readable). FrameFolderError otherwise."""
    files = list_frames(folder)
    width, height = frame_sizes_agree(files)
    for path in files[::step]:
        frame = read_image(path)
        if frame.shape[:2] != (height, width):  # the header lied
            raise FrameFolderError(f"frame folder {path.parent}: {path.name!r} decodes to "
                                   f"{frame.shape[1]}x{frame.shape[0]}, its header says {width}x{height}")
        yield frame
