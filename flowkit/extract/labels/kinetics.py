"""Kinetics-400/600/700: CSV files with a header naming the columns `label,youtube_id,time_start,
time_end,split` (extra columns such as `is_cc` are ignored; test files may have no `label`), as
`train.csv`, `validate.csv`, `test.csv` in one folder, or one such file.

A clip is named `{youtube_id}_{time_start:06d}_{time_end:06d}` (its file `<name>.mp4`, flat or under
`<split>/<label>/`); ids may start with '-' and labels hold spaces. Splits: rows of split `train` are
split 1's training set, `val`/`validate` its test set; `test` rows are annotated without a class
(label -1, unused in split 1). Classes are the sorted labels of the labelled rows, which is
the order of the published label maps.
"""

from __future__ import annotations

import csv
from pathlib import Path

from flowkit.errors import UserValueError
from flowkit.extract.labels.common import Labels
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, SPLIT_UNUSED

DESCRIPTION = "Kinetics CSV files (label,youtube_id,time_start,time_end,split), or a folder of them"
_REQUIRED = ("youtube_id", "time_start", "time_end")
_SPLIT_CODES = {"train": SPLIT_TRAIN, "training": SPLIT_TRAIN, "val": SPLIT_TEST, "valid": SPLIT_TEST,
                "validate": SPLIT_TEST, "validation": SPLIT_TEST, "test": SPLIT_UNUSED, "testing": SPLIT_UNUSED}


def _is_kinetics_csv(path: Path) -> bool:
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(encoding="utf-8-sig", newline="") as file:
        header = next(csv.reader(file), [])
    return all(column in [h.strip().lower() for h in header] for column in _REQUIRED)


def _csv_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if _is_kinetics_csv(path) else []
    return [p for p in sorted(path.iterdir()) if _is_kinetics_csv(p)]


def detect(path: Path) -> bool:
    """Whether `path` is a Kinetics CSV file or a folder holding at least one."""
    return bool(_csv_files(path))


def clip_name(youtube_id: str, time_start: float, time_end: float) -> str:
    """The clip's file stem as the Kinetics downloaders write it: `{id}_{start:06d}_{end:06d}`
    (times in whole seconds)."""
    return f"{youtube_id}_{int(time_start):06d}_{int(time_end):06d}"


def load(path: Path) -> Labels:
    """Read one Kinetics CSV file, or every one in the folder `path`."""
    rows: list[tuple[str, str, str, Path, int]] = []  # (key, label, split, file, line)
    for csv_file in _csv_files(path):
        with csv_file.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
            default_split = _split_from_name(csv_file)
            for line, row in enumerate(reader, start=2):
                rows.append(_row(row, csv_file, line, default_split))
    if not rows:
        raise UserValueError(f"{path}: no Kinetics rows (expected a header with youtube_id,time_start,time_end)")
    classes = sorted({label for _, label, split, _, _ in rows if label and _SPLIT_CODES[split] != SPLIT_UNUSED})
    class_index = {c: i for i, c in enumerate(classes)}
    labels = Labels(classes=classes, source=str(path))
    members = labels.splits.setdefault(1, {})
    for key, label, split, csv_file, line in rows:
        code = _SPLIT_CODES[split]
        if code != SPLIT_UNUSED and not label:
            raise UserValueError(f"{csv_file}:{line}: a {split} row without a label")
        labels.label_of[key] = class_index[label] if code != SPLIT_UNUSED else -1
        members[key] = code
    return labels


def _row(row: dict[str, str | None], csv_file: Path, line: int,
         default_split: str | None) -> tuple[str, str, str, Path, int]:
    """(clip key, label, split, file, line) of one CSV row; ValueError naming the line if broken."""
    broken = UserValueError(f"{csv_file}:{line}: expected youtube_id,time_start,time_end, got {dict(row)}")
    youtube_id = (row.get("youtube_id") or "").strip()
    try:
        start, end = float(row.get("time_start") or ""), float(row.get("time_end") or "")
    except ValueError:
        raise broken from None
    if not youtube_id:
        raise broken
    split = (row.get("split") or default_split or "").strip().lower()
    if split not in _SPLIT_CODES:
        raise UserValueError(f"{csv_file}:{line}: split must be train, val(idate) or test, got {split!r}")
    return clip_name(youtube_id, start, end), (row.get("label") or "").strip(), split, csv_file, line


def _split_from_name(csv_file: Path) -> str | None:
    """The split a file name names (`train.csv`, `kinetics_400_val.csv`, ...) for rows without one."""
    words = csv_file.stem.lower().replace("-", "_").split("_")
    return next((w for w in reversed(words) if w in _SPLIT_CODES), None)
