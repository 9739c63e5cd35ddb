"""mmaction2 list files: `path/to/video.mp4 <label>` (video lists) or `frame_dir <total_frames>
<label>` (rawframe lists), 0-based integer labels. A file name like `*_train_split_1_*` /
`*_val_split_2_*` also records that split. The format of last resort: any other file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from flowkit.errors import UserValueError
from flowkit.extract.labels.common import Labels, int_field, read_rows, video_key
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN

DESCRIPTION = "an mmaction2 list file ('video label' or 'frame_dir total_frames label' lines)"
_SUBSET = re.compile(r"(?:^|[_\-.])(train|val|test)(?:[_\-.]|$)", re.IGNORECASE)
_SPLIT = re.compile(r"split_?(\d+)", re.IGNORECASE)


def detect(path: Path) -> bool:
    """Any file (the formats before this one claimed theirs)."""
    return path.is_file()


def load(path: Path) -> Labels:
    """Read an mmaction2 video list or rawframe list."""
    entries: dict[str, int] = {}
    for row in read_rows(path):
        if len(row) not in (2, 3):
            raise UserValueError(f"{path}: expected 'video label' or 'frame_dir total_frames label', "
                                 f"got {' '.join(row)!r}")
        label = int_field(row[-1], path, row)
        if label < 0:
            raise UserValueError(f"{path}: labels must be >= 0, got {label}")
        entries[video_key(row[0])] = label
    if not entries:
        raise UserValueError(f"{path}: no entries")
    labels = Labels(classes=_class_names(entries), label_of=entries, source=str(path))
    subset = _SUBSET.search(path.stem)
    if subset:
        split = _SPLIT.search(path.stem)
        code = SPLIT_TRAIN if subset.group(1).lower() == "train" else SPLIT_TEST
        labels.splits[int(split.group(1)) if split else 1] = {key: code for key in entries}
    return labels


def _class_names(label_of: Mapping[str, int]) -> list[str]:
    """Class names for integer labels: the entries' folder name when each label has exactly one
    and no two labels share it (the usual `Class/video` layout), else the label as a string."""
    count = max(label_of.values()) + 1
    folders: dict[int, set[str]] = {}
    for key, label in label_of.items():
        folders.setdefault(label, set()).add(key.rsplit("/", 2)[-2] if "/" in key else "")
    names = [next(iter(folders[i])) if len(folders.get(i, ())) == 1 else "" for i in range(count)]
    if all(names) and len(set(names)) == count:
        return names
    return [str(i) for i in range(count)]
