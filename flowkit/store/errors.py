"""The errors a damaged store raises. Both are ValueErrors with a one-line message (the CLI prints
it as `Error: ...`) that points to `flowkit verify`, which lists every problem. They take the
message as their only argument, so they survive pickling and DataLoader's re-raise in the main
process unchanged."""

from __future__ import annotations

import os

from flowkit.errors import UserValueError


def verify_hint(path: str | os.PathLike) -> str:
    """The advice every damage message ends with."""
    return f"`flowkit verify {path}` lists every problem"


class DamagedStoreError(UserValueError):
    """The store's tables (videos table, offsets, splits) are inconsistent: readers refuse it."""

    problems: list[str]

    @classmethod
    def from_problems(cls, path: str | os.PathLike, problems: list[str]) -> "DamagedStoreError":
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        error = cls(f"{path} is damaged: {problems[0]}{more}; {verify_hint(path)}")
        error.problems = list(problems)  # every problem, for `flowkit verify` (not pickled)
        return error


class DamagedRecordError(UserValueError):
    """One stored record is damaged: its checksum differs or it does not decode."""

    @classmethod
    def at(cls, path: str | os.PathLike, video: str, stream: str, frame: int, reason: str) -> "DamagedRecordError":
        """The error for record `frame` (0-based; for flow streams the pair frame -> frame + 1) of
        `video` in `stream` of the store at `path`."""
        return cls(f"{path}: video {video!r}, stream {stream}, frame {frame}: damaged record ({reason}); "
                   f"{verify_hint(path)}")
