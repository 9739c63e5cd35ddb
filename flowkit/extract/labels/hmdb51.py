"""HMDB51: a folder of `<class>_test_split<N>.txt` files, lines `<video>.avi <code>` (1 train,
2 test, 0 unused), often with a trailing space; classes are the sorted class names."""

from __future__ import annotations

import re
from pathlib import Path

from flowkit.errors import UserValueError
from flowkit.extract.labels.common import Labels, int_field, read_rows, video_key
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, SPLIT_UNUSED

DESCRIPTION = "an HMDB51 split folder (<class>_test_split<N>.txt)"
_LIST = re.compile(r"^(.+)_test_split(\d+)\.txt$", re.IGNORECASE)


def detect(path: Path) -> bool:
    """Whether `path` is a folder holding HMDB51 split files."""
    return path.is_dir() and any(_LIST.match(p.name) for p in path.iterdir())


def load(path: Path) -> Labels:
    """Read every `<class>_test_split<N>.txt` of the folder `path`."""
    matched = [(p, _LIST.match(p.name)) for p in sorted(path.iterdir())]
    files = [(p, m.group(1), int(m.group(2))) for p, m in matched if m]
    classes = sorted({cls for _, cls, _ in files})
    labels = Labels(classes=classes, source=str(path))
    for list_file, cls, number in files:
        members = labels.splits.setdefault(number, {})
        for row in read_rows(list_file):
            if len(row) != 2:
                raise UserValueError(f"{list_file}: expected lines '<video> <0|1|2>', got {' '.join(row)!r}")
            code = int_field(row[1], list_file, row)
            if code not in (SPLIT_UNUSED, SPLIT_TRAIN, SPLIT_TEST):
                raise UserValueError(f"{list_file}: split code must be 0, 1 or 2, got {code}")
            key = f"{cls}/{video_key(row[0])}"
            labels.label_of[key] = classes.index(cls)
            members[key] = code
    return labels
