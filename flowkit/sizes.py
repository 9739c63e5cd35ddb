"""Frame sizes: TSN's default, and checking and parsing (width, height) pairs. Import-light (no numpy).

Sizes are (width, height) in pixels everywhere in flowkit, as OpenCV's cv2.resize takes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def _even_floor(value: float) -> int:
    """The largest even integer <= value, at least 2 (codecs and 4:2:0 chroma want even sides)."""
    return max(2, int(value // 2) * 2)


def scaled_size(width: int, height: int, short_side: int | None = None,
                long_side: int | None = None) -> tuple[int, int]:
    """(width, height) of a width x height frame resized with its aspect kept so that its short side
    (or, with long_side, its long side) is that many pixels, enlarging as well as shrinking.

    The given side is exact (it must be even); the other side is the exact scaled value rounded
    down to an even number (1280x720 with short_side 256: 455.1 -> 454, so 454x256; 720x1280 ->
    256x454). Exactly one of short_side / long_side is given. ValueError otherwise.
    """
    if (short_side is None) == (long_side is None):
        raise UserValueError("give exactly one of short_side and long_side")
    width, height = check_size((width, height))
    target = int(short_side if short_side is not None else long_side)  # type: ignore[arg-type]
    check_side(target)
    landscape = width >= height
    base = min(width, height) if short_side is not None else max(width, height)
    other = (max(width, height) if short_side is not None else min(width, height)) * target / base
    other_side = _even_floor(other + 1e-9)  # 1e-9: a side that is exactly even stays so despite float error
    if short_side is not None:
        size = (other_side, target) if landscape else (target, other_side)
    else:
        size = (target, other_side) if landscape else (other_side, target)
    return check_size(size)


def check_side(side, minimum: int = 2) -> int:
    """A --short-side / --long-side value as an int: even, in minimum..MAX_SIDE pixels. ValueError otherwise."""
    try:
        if int(side) != side:
            raise ValueError
        side = int(side)
    except (TypeError, ValueError):
        raise UserValueError(f"side must be a whole number of pixels, got {side!r}") from None
    if not minimum <= side <= MAX_SIDE:
        raise UserValueError(f"side must be in {minimum}..{MAX_SIDE} pixels, got {side}")
    if side % 2:
        raise UserValueError(f"side must be even (frames get even sides), got {side}")
    return side


@dataclass(frozen=True)
class FrameSize:
    """How extraction sizes frames: to one fixed (width, height) `size`, by the `short_side` or the
    `long_side` (aspect kept, flowkit.sizes.scaled_size), or, with none of them, as decoded.
    At most one is set (ValueError otherwise)."""

    size: tuple[int, int] | None = None
    short_side: int | None = None
    long_side: int | None = None

    def __post_init__(self) -> None:
        given = [n for n in ("size", "short_side", "long_side") if getattr(self, n) is not None]
        if len(given) > 1:
            raise UserValueError(f"give one of size, short side and long side, got {' and '.join(given)}")
        if self.size is not None:
            object.__setattr__(self, "size", check_size(self.size))
        for name in ("short_side", "long_side"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_side(getattr(self, name)))

    def target(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) pixels a decoded width x height frame is resized to."""
        if self.size is not None:
            return self.size
        if self.short_side is not None or self.long_side is not None:
            return scaled_size(width, height, self.short_side, self.long_side)
        return width, height
