"""Planning extraction: which videos, under which names, and where their files go.

A video's name is its path relative to the input root, without extension, '/'-separated:
`flowkit extract UCF-101/` names `UCF-101/ApplyEyeMakeup/v_x.avi` `ApplyEyeMakeup/v_x`. The root is
the folder for a folder argument, the file's folder for a video argument, and for a list file the
deepest folder holding the list file and every video it names (so names never climb with '..').

Names read back from stores or list files are untrusted: `check_name` / `safe_join` refuse any
that could leave the folder they are joined to, and part files use a flat, hashed file name.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from flowkit.errors import UserValueError
from flowkit.store.names import check_name

_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_READABLE_STEM = 80


@dataclass(frozen=True)
class VideoJob:
    """One video to extract. name: unique id (see module docstring). source: absolute path of the
    file. rel_path: its path relative to the input root ('/'-separated), stored as `path`.
    folder: the name of its parent folder (the default class)."""

    name: str
    source: str
    rel_path: str
    folder: str


def part_filename(name: str, suffix: str = ".npz") -> str:
    """A flat file name for a video's part: readable prefix + hash of the full name (unique, no
    separators, bounded length, whatever the name holds)."""
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:16]
    readable = _UNSAFE_FILE_CHARS.sub("_", name)[-_MAX_READABLE_STEM:].lstrip(".")
    return f"{readable}-{digest}{suffix}"


def _name_of(rel_path: PurePosixPath, folder: bool = False) -> str:
    """A video's name: its relative path without the extension (a frame folder's path as it is:
    folder names like `abc_000010_000020.frames` keep their dots)."""
    return str(rel_path.with_suffix("")) if rel_path.suffix and not folder else str(rel_path)


def _videos_with_root(path: Path, skipped: list[str]) -> tuple[list[Path], Path]:
    """The videos an argument stands for and the root their names are relative to."""
    from flowkit.video import LIST_EXTENSIONS, find_videos, is_frame_folder

    videos = [v.absolute() for v in find_videos([path], skipped=skipped)]
    if path.is_dir() and is_frame_folder(path):  # one video, named after its folder
        return videos, path.absolute().parent
    if path.is_dir():
        return videos, path.absolute()
    if path.suffix.lower() in LIST_EXTENSIONS:
        folders = [str(path.absolute().parent)] + [str(v.parent) for v in videos]
        return videos, Path(os.path.commonpath([os.path.normpath(f) for f in folders]))
    return videos, path.absolute().parent


def plan_jobs(paths: Iterable[str | os.PathLike], skipped: list[str] | None = None) -> list[VideoJob]:
    """Expand video files, frame folders, folders (recursive, symbolic links followed) and list files
    into jobs sorted by name.

    A file reached twice is kept once; two different files that would get the same name (same
    relative path from different roots, or `v.avi` next to `v.mp4`) raise UserValueError naming both.
    Links that loop or lead nowhere are appended to `skipped` ('PATH: reason', flowkit.video).
    Raises FileNotFoundError for missing paths and ValueError when no video is found.
    """
    paths = list(paths)
    skipped = [] if skipped is None else skipped
    jobs: dict[str, VideoJob] = {}
    seen: set[str] = set()
    for argument in paths:
        argument = Path(argument)
        videos, root = _videos_with_root(argument, skipped)
        for video in videos:
            source = os.path.normpath(str(video))
            if source in seen:
                continue
            seen.add(source)
            rel_path = PurePosixPath(Path(os.path.relpath(source, root)).as_posix())
            name = check_name(_name_of(rel_path, os.path.isdir(source)))
            if name in jobs:
                raise UserValueError(f"two videos would both be named {name!r}: {jobs[name].source} and {source}; "
                                 "rename one or extract them separately")
            jobs[name] = VideoJob(name=name, source=source, rel_path=str(rel_path), folder=Path(source).parent.name)
    if not jobs:
        also = f" (skipped {'; '.join(skipped[:3])})" if skipped else ""
        raise UserValueError(f"no video files found in {', '.join(str(p) for p in paths)}{also}")
    return [jobs[name] for name in sorted(jobs)]


def default_output(paths: Iterable[str | os.PathLike]) -> Path:
    """`<name of the first path>.h5` in the current folder: `videos/` -> `videos.h5`."""
    first = Path(next(iter(paths)))
    stem = first.absolute().name if first.is_dir() else first.stem
    return Path.cwd() / f"{stem or 'videos'}.h5"
