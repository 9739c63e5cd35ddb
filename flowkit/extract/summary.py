"""What an extraction run reports at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Summary:
    """Outcome of `extract`.

    output: the store written. videos_ok / videos_failed: counts over the whole store (resumed
    videos included). failures: [(name, reason)] of the failed videos. resumed: videos taken from
    parts of an earlier run. frames: RGB frames stored over all ok videos. frames_processed /
    videos_processed: work done in this run. wall_s: wall-clock seconds of this run. notes:
    warnings worth reading (e.g. a video that decoded only partly). engine: 'ray' or 'in-process'.
    """

    output: Path
    videos_ok: int = 0
    videos_failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    resumed: int = 0
    frames: int = 0
    frames_processed: int = 0
    videos_processed: int = 0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    engine: str = ""

    @property
    def frames_per_s(self) -> float:
        """Frames extracted per second of this run's wall time."""
        return self.frames_processed / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def videos_per_s(self) -> float:
        """Videos extracted per second of this run's wall time."""
        return self.videos_processed / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "output": str(self.output),
            "videos_ok": self.videos_ok,
            "videos_failed": self.videos_failed,
            "failures": [list(f) for f in self.failures],
            "resumed": self.resumed,
            "frames": self.frames,
            "frames_processed": self.frames_processed,
            "videos_processed": self.videos_processed,
            "wall_s": round(self.wall_s, 3),
            "frames_per_s": round(self.frames_per_s, 2),
            "videos_per_s": round(self.videos_per_s, 3),
            "engine": self.engine,
        }


def format_summary(summary: Summary) -> str:
    """Human-readable end-of-run report (several lines; failures and notes listed by name)."""
    lines = [
        f"videos: {summary.videos_ok} ok, {summary.videos_failed} failed"
        + (f" ({summary.resumed} resumed from an earlier run)" if summary.resumed else ""),
        f"frames: {summary.frames} stored; this run {summary.frames_processed} frames of "
        f"{summary.videos_processed} videos in {summary.wall_s:.1f} s "
        f"({summary.frames_per_s:.1f} frames/s, {summary.videos_per_s:.2f} videos/s, {summary.engine})",
        f"store: {summary.output}",
    ]
    lines += [f"note: {note}" for note in summary.notes]
    lines += [f"failed: {name}: {reason}" for name, reason in summary.failures]
    return "\n".join(lines)
