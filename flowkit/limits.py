"""The pixel limit: how large an image or video frame flowkit agrees to decode.

A small file can declare a huge picture (a 1 MB PNG that decodes to 30000x30000 takes gigabytes),
so every decode of untrusted input checks the size its header declares first:
- image files (`flowkit flow`): the header as Pillow reads it, before OpenCV decodes anything;
- videos (`flowkit extract`, flowkit.video): the frame size the container announces;
- zstd records of a store: their 6-byte header;
- JPEG/PNG records of a store and rawframe files: OpenCV's own check, `OPENCV_IO_MAX_IMAGE_PIXELS`,
  which flowkit sets to the same limit when it is imported (unless you set it yourself; OpenCV reads
  it once, when it loads, so this holds where flowkit is imported before OpenCV decodes an image).

The limit is DEFAULT_MAX_PIXELS (8192 x 8192 = 67 Mpx: 8K video frames pass), or the environment
variable FLOWKIT_MAX_PIXELS, or `--max-pixels` of `flowkit flow` / `flowkit extract`.
"""

from __future__ import annotations

import os
import re

from flowkit.errors import UserValueError

MAX_PIXELS_ENV = "FLOWKIT_MAX_PIXELS"
OPENCV_MAX_PIXELS_ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 8192 * 8192


def max_pixels() -> int:
    """The pixel limit in force: FLOWKIT_MAX_PIXELS if set, else DEFAULT_MAX_PIXELS."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        raise UserValueError(f"{MAX_PIXELS_ENV} must be a whole number of pixels, got {text!r}") from None
    if value < 1:
        raise UserValueError(f"{MAX_PIXELS_ENV} must be at least 1, got {value}")
    return value


def set_max_pixels(value: int) -> None:
    """Set the limit for this process and the processes it starts (Ray and loader workers): both
    FLOWKIT_MAX_PIXELS and OpenCV's OPENCV_IO_MAX_IMAGE_PIXELS (effective for OpenCV only if it has
    not decoded an image yet)."""
    if int(value) < 1:
        raise UserValueError(f"the pixel limit must be at least 1, got {value}")
    os.environ[MAX_PIXELS_ENV] = str(int(value))
    os.environ[OPENCV_MAX_PIXELS_ENV] = str(int(value))


def set_opencv_default() -> None:
    """Give OpenCV's decoders flowkit's limit unless the user chose one (called on import)."""
    try:
        os.environ.setdefault(OPENCV_MAX_PIXELS_ENV, str(max_pixels()))
    except ValueError:
        pass  # a malformed FLOWKIT_MAX_PIXELS is reported when a limit is checked


def check_pixels(width: int, height: int, what: str) -> None:
    """ValueError (one line) when a `width` x `height` picture is over the limit; `what` names it."""
    limit = max_pixels()
    if int(width) * int(height) > limit:
        raise UserValueError(f"{what} is {width}x{height} ({int(width) * int(height):,} pixels), {_over(limit)}")


def _over(limit: int) -> str:
    return (f"over the limit of {limit:,} pixels; not decoded (raise the limit with --max-pixels or "
            f"{MAX_PIXELS_ENV} if it is genuine)")


def check_image_file(path: str | os.PathLike) -> None:
    """Check the size an image file's header declares, without decoding it. Formats Pillow does not
    know are left to OpenCV's own limit."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit decides
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError as exc:  # over Pillow's own limit (about 179 Mpx); it says how far
        if limit < 2 * (Image.MAX_IMAGE_PIXELS or 0):
            declared = re.search(r"\((\d+) pixels\)", str(exc))
            amount = f"{int(declared.group(1)):,}" if declared else f"more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,}"
            raise UserValueError(f"image {path} declares {amount} pixels, {_over(limit)}") from None
        return
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return  # not for Pillow to judge; OpenCV reports what it cannot decode
    check_pixels(width, height, f"image {path}")
