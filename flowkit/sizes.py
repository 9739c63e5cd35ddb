"""Frame sizes: TSN's default, and checking and parsing (width, height) pairs. Import-light (no numpy).

Sizes are (width, height) in pixels everywhere in flowkit, as OpenCV's cv2.resize takes them.
"""

from __future__ import annotations

import re

from flowkit.errors import UserValueError

TSN_SIZE = (340, 256)  # (width, height): the frame size of TSN, dense_flow and mmaction2's rawframes
MAX_SIDE = 16384  # pixels; anything larger is a typo, not a video

_SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def check_size(size, minimum: int = 1) -> tuple[int, int]:
    """(width, height) of any pair of integers (tuple, list, numpy) as Python ints, each side in
    minimum..MAX_SIDE pixels. Raises ValueError with a one-line message otherwise."""
    try:
        width, height = size
        if int(width) != width or int(height) != height:
            raise UserValueError
        width, height = int(width), int(height)
    except (TypeError, ValueError):
        raise UserValueError(f"size must be (width, height) in whole pixels, got {size!r}") from None
    if min(width, height) < minimum:
        raise UserValueError(f"size must be at least {minimum}x{minimum} pixels, got {width}x{height}")
    if max(width, height) > MAX_SIDE:
        raise UserValueError(f"size sides must be at most {MAX_SIDE} pixels, got {width}x{height}")
    return width, height


def parse_size(text: str) -> tuple[int, int]:
    """"340x256" (or "340X256", spaces allowed) -> (340, 256): (width, height) in pixels, both in
    1..MAX_SIDE. Raises ValueError with a one-line message otherwise."""
    match = _SIZE_PATTERN.match(str(text))
    if not match:
        raise UserValueError(f"size must look like WIDTHxHEIGHT, e.g. 340x256, got {text!r}")
    return check_size((int(match.group(1)), int(match.group(2))))


def format_size(size: tuple[int, int]) -> str:
    """(340, 256) -> "340x256", the form parse_size reads."""
    width, height = size
    return f"{width}x{height}"
