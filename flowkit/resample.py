"""Frame-rate resampling by timestamps: which decoded frames `flowkit extract --fps F` keeps.

The rule (a pure function of the frames' timestamps, so variable frame rate needs nothing special):
output times are t_k = k / F seconds, k = 0, 1, 2, ..., counted from the first frame's timestamp;
for each t_k the first frame whose timestamp is >= t_k is kept. Equivalently frame i is kept when
an output time falls in (s_(i-1), s_i], s being timestamps relative to the first frame (frame 0 is
always kept). Consequences:
- a frame is kept at most once: the output is never upsampled by duplicating frames. A source
  slower than F (or a pause in a variable-rate stream) keeps every frame there, and the output
  time that has no frame of its own is skipped, so the output holds fewer than duration * F
  frames;
- 30 fps to 10 keeps frames 0, 3, 6, ...; 25 to 12.5 every 2nd; 30 to 12.5 frames 0, 3, 5, 8,
  10, 12, 15, ... (the first at or after 0, 0.08, 0.16, ... s);
- timestamps that go back (a decoder glitch) are taken as equal to the previous one, so such a
  frame never starts a new output time and is dropped.
A frame up to `tolerance(F)` seconds (2 ms, at most a quarter of an output period) before an
output time counts as at it: containers keep timestamps in coarse time bases (WebM and Matroska in
milliseconds, so 30 fps frames sit at 33, 67, 100 ms), and frame 1 of a 30 fps WebM resampled to
30 fps must not be dropped for being 0.33 ms early.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from flowkit.errors import UserValueError

TICK_TOLERANCE_S = 0.002  # seconds: twice the rounding of millisecond time bases


def tolerance(fps: float) -> float:
    """Seconds before an output time at which a frame still counts as at it (module docstring)."""
    return min(TICK_TOLERANCE_S, 0.25 / fps)


def check_fps(fps) -> float:
    """A --fps value as a float > 0 frames per second. ValueError otherwise."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise UserValueError(f"fps must be a number of frames per second, got {fps!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise UserValueError(f"fps must be a positive number of frames per second, got {fps!r}")
    return value


class FpsSelector:
    """The module's rule applied online: `keep(seconds)` for each decoded frame in order says whether
    it is kept. fps: the output rate F, frames per second."""

    def __init__(self, fps: float):
        self.fps = check_fps(fps)
        self._start: float | None = None
        self._last_time = 0.0
        self._last_tick = -1
        self._tolerance = tolerance(self.fps)

    def keep(self, seconds: float) -> bool:
        """Whether the next frame, with timestamp `seconds`, is kept."""
        if self._start is None:
            self._start = float(seconds)
        elapsed = max(float(seconds) - self._start, self._last_time)
        self._last_time = elapsed
        tick = math.floor((elapsed + self._tolerance) * self.fps)
        if tick > self._last_tick:
            self._last_tick = tick
            return True
        return False


def select_by_fps(timestamps: Iterable[float], fps: float) -> list[int]:
    """Indices of the frames kept at `fps` (frames per second) from frames with these timestamps
    (seconds, in decoding order): the module's rule."""
    selector = FpsSelector(fps)
    return [i for i, seconds in enumerate(timestamps) if selector.keep(seconds)]
