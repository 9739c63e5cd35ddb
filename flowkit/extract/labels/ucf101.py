"""UCF101: a folder with `classInd.txt` (`1 ApplyEyeMakeup`, 1-based), `trainlist0N.txt`
(`ApplyEyeMakeup/v_..._g08_c01.avi 1`) and `testlist0N.txt` (`ApplyEyeMakeup/v_....avi`, no label:
the class is the entry's folder); CRLF line endings. `classInd.txt` itself names the folder too."""

from __future__ import annotations

import re
from pathlib import Path

from flowkit.errors import UserValueError
from flowkit.extract.labels.common import Labels, int_field, read_rows, video_key
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN

DESCRIPTION = "a UCF101 folder (classInd.txt + trainlist0N.txt / testlist0N.txt)"
CLASS_INDEX = "classInd.txt"
_LIST = re.compile(r"^(train|test)list(\d+)\.txt$", re.IGNORECASE)


def detect(path: Path) -> bool:
    """Whether `path` is classInd.txt or a folder holding it."""
    return path.name.lower() == CLASS_INDEX.lower() if path.is_file() else (path / CLASS_INDEX).is_file()


def load(path: Path) -> Labels:
    """Read classInd.txt plus every trainlist0N.txt / testlist0N.txt beside it."""
    folder = path.parent if path.is_file() else path
    index_file = folder / CLASS_INDEX
    ids: dict[int, str] = {}
    for row in read_rows(index_file):
        if len(row) != 2:
            raise UserValueError(f"{index_file}: expected lines '<id> <class>', got {' '.join(row)!r}")
        ids[int_field(row[0], index_file, row)] = row[1]
    if sorted(ids) != list(range(1, len(ids) + 1)):
        raise UserValueError(f"{index_file}: class ids must be 1..{len(ids)}")
    classes = [ids[i] for i in range(1, len(ids) + 1)]
    class_index = {c: i for i, c in enumerate(classes)}
    labels = Labels(classes=classes, source=str(folder))
    for list_file in sorted(folder.iterdir()):
        match = _LIST.match(list_file.name)
        if not match:
            continue
        subset, number = match.group(1).lower(), int(match.group(2))
        members = labels.splits.setdefault(number, {})
        for row in read_rows(list_file):
            key = video_key(row[0])
            if len(row) >= 2:
                label = int_field(row[1], list_file, row) - 1
                if not 0 <= label < len(classes):
                    raise UserValueError(f"{list_file}: label {row[1]} is not in {index_file} (1..{len(classes)})")
            else:
                folder_name = key.split("/")[0] if "/" in key else ""
                if folder_name not in class_index:
                    raise UserValueError(
                        f"{list_file}: cannot tell the class of {row[0]!r} (no label, folder not in {index_file})"
                    )
                label = class_index[folder_name]
            labels.label_of[key] = label
            members[key] = SPLIT_TRAIN if subset == "train" else SPLIT_TEST
    return labels
