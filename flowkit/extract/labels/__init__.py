"""Class labels and train/test splits for extracted videos, read from the dataset's own files.

`load_labels(path)` tries each format of `FORMATS` in turn; the first whose `detect(path)`
accepts it reads it with `load(path)`. A format is one module of this package with
`DESCRIPTION`, `detect(path) -> bool` and `load(path) -> Labels`: adding one is a new file and a
line in `FORMATS`. Without a source, `labels_from_folders` gives each video its parent folder's
name as class.

Entries name videos by path; they are matched to video names (relative paths without extension)
by `Labels.resolve`: an exact match first, else a unique match on the trailing path components.
`Labels.coverage` lists the annotated entries with no video and the videos with no entry.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowkit.errors import UserValueError, UserFileNotFoundError
from flowkit.extract.labels import hmdb51, kinetics, mmaction, ssv2, ucf101
from flowkit.extract.labels.common import Labels, coverage_notes, labels_from_folders, video_key

FORMATS = (ucf101, hmdb51, kinetics, ssv2, mmaction)  # mmaction takes any file: last

__all__ = ["FORMATS", "Labels", "coverage_notes", "labels_from_folders", "load_labels", "video_key"]


def load_labels(path: str | os.PathLike) -> Labels:
    """Labels from any source in `FORMATS` (UCF101, HMDB51, Kinetics CSV, Something-Something V2
    JSON, mmaction2 list). Raises FileNotFoundError / ValueError with the reason."""
    path = Path(path)
    if not path.exists():
        raise UserFileNotFoundError(f"labels: no such file or folder: {path}")
    for labels_format in FORMATS:
        if labels_format.detect(path):
            return labels_format.load(path)
    raise UserValueError(
        f"labels: {path} is none of: " + "; ".join(f.DESCRIPTION for f in FORMATS)
    )
