"""Class labels and train/test splits for extracted videos, read from the usual dataset list files.

Sources (`load_labels(path)`):
- a UCF101 folder: `classInd.txt` (`1 ApplyEyeMakeup`, 1-based), `trainlist0N.txt`
  (`ApplyEyeMakeup/v_..._g08_c01.avi 1`) and `testlist0N.txt` (`ApplyEyeMakeup/v_....avi`, no label:
  the class is the entry's folder); CRLF line endings. Passing `classInd.txt` itself also works.
- an HMDB51 folder of `<class>_test_split<N>.txt` files, lines `<video>.avi <code>` (1 train,
  2 test, 0 unused), often with a trailing space; classes are the sorted class names.
- an mmaction2 list file: `path/to/video.mp4 <label>` (video lists) or `frame_dir <total_frames>
  <label>` (rawframe lists), 0-based integer labels. A file name like `*_train_split_1_*` /
  `*_val_split_2_*` also records that split.
Without a source, `labels_from_folders` gives each video its parent folder's name as class.

Entries name videos by path; they are matched to video names (relative paths without extension)
by `Labels.resolve`: an exact match first, else a unique match on the trailing path components.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from flowkit.errors import UserFileNotFoundError, UserValueError
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, SPLIT_UNUSED

UCF_CLASS_INDEX = "classInd.txt"
_UCF_LIST = re.compile(r"^(train|test)list(\d+)\.txt$", re.IGNORECASE)
_HMDB_LIST = re.compile(r"^(.+)_test_split(\d+)\.txt$", re.IGNORECASE)
_MMACTION_SUBSET = re.compile(r"(?:^|[_\-.])(train|val|test)(?:[_\-.]|$)", re.IGNORECASE)
_MMACTION_SPLIT = re.compile(r"split_?(\d+)", re.IGNORECASE)


def video_key(entry: str) -> str:
    """A list-file entry (`Class/v_x.avi`, `Class\\v_x.avi`, `./a/b.mp4`, `frame_dir`) -> the key it
    is matched on: '/'-separated, no leading './', extension of a video file removed."""
    from flowkit.video import VIDEO_EXTENSIONS

    path = PurePosixPath(entry.strip().replace("\\", "/"))
    parts = [p for p in path.parts if p not in ("", ".")]
    if parts and PurePosixPath(parts[-1]).suffix.lower() in VIDEO_EXTENSIONS:
        parts[-1] = PurePosixPath(parts[-1]).stem
    return "/".join(parts)


@dataclass
class Labels:
    """Labels and splits keyed by list-file entry keys (see video_key).

    classes: class names, indexed by label. label_of: {key: label index}. splits: {split number:
    {key: SPLIT_TRAIN | SPLIT_TEST | SPLIT_UNUSED}}. source: where they were read from.
    """

    classes: list[str]
    label_of: dict[str, int] = field(default_factory=dict)
    splits: dict[int, dict[str, int]] = field(default_factory=dict)
    source: str = ""

    def resolve(
        self, names: Iterable[str], folder_of: Mapping[str, str] | None = None
    ) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
        """Labels and split membership for the video `names`.

        folder_of: {name: parent folder name}, used for videos no entry names: their label is the
        folder's class if it is one of `classes`, else -1. Returns ({name: label}, {split: {name:
        code}}); videos a split does not mention are unused in it.
        """
        names = list(names)
        keys = set(self.label_of) | {k for members in self.splits.values() for k in members}
        matcher = _KeyMatcher(keys)
        class_index = {c: i for i, c in enumerate(self.classes)}
        labels: dict[str, int] = {}
        splits: dict[int, dict[str, int]] = {n: {} for n in self.splits}
        for name in names:
            key = matcher.match(name)
            if key is not None and key in self.label_of:
                labels[name] = self.label_of[key]
            else:
                folder = (folder_of or {}).get(name, PurePosixPath(name).parent.name)
                labels[name] = class_index.get(folder, -1)
            for number, members in self.splits.items():
                splits[number][name] = members.get(key, SPLIT_UNUSED) if key is not None else SPLIT_UNUSED
        return labels, splits


class _KeyMatcher:
    """Finds the entry key naming a video: exact, else the unique key that shares the video name's
    trailing path components (either may carry extra leading folders)."""

    def __init__(self, keys: Iterable[str]):
        self.keys = set(keys)
        self.by_stem: dict[str, list[str]] = {}
        for key in self.keys:
            self.by_stem.setdefault(key.rsplit("/", 1)[-1], []).append(key)

    def match(self, name: str) -> str | None:
        if name in self.keys:
            return name
        parts = name.split("/")
        candidates = [
            key for key in self.by_stem.get(parts[-1], [])
            if _is_suffix(key.split("/"), parts) or _is_suffix(parts, key.split("/"))
        ]
        return candidates[0] if len(candidates) == 1 else None


def _is_suffix(short: list[str], long: list[str]) -> bool:
    return len(short) <= len(long) and long[len(long) - len(short):] == short


def _lines(path: Path) -> list[list[str]]:
    """Whitespace-split, non-empty lines of a text file; CRLF, BOM and trailing spaces tolerated."""
    text = path.read_text(encoding="utf-8-sig")
    return [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _int_field(value: str, path: Path, line: list[str]) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserValueError(f"{path}: expected an integer in line {' '.join(line)!r}") from None


def load_ucf101(folder: Path) -> Labels:
    """Read a UCF101-style folder: classInd.txt plus every trainlist0N.txt / testlist0N.txt."""
    index_file = folder / UCF_CLASS_INDEX
    rows = _lines(index_file)
    ids: dict[int, str] = {}
    for row in rows:
        if len(row) != 2:
            raise UserValueError(f"{index_file}: expected lines '<id> <class>', got {' '.join(row)!r}")
        ids[_int_field(row[0], index_file, row)] = row[1]
    if sorted(ids) != list(range(1, len(ids) + 1)):
        raise UserValueError(f"{index_file}: class ids must be 1..{len(ids)}")
    classes = [ids[i] for i in range(1, len(ids) + 1)]
    class_index = {c: i for i, c in enumerate(classes)}
    labels = Labels(classes=classes, source=str(folder))
    for list_file in sorted(folder.iterdir()):
        match = _UCF_LIST.match(list_file.name)
        if not match:
            continue
        subset, number = match.group(1).lower(), int(match.group(2))
        members = labels.splits.setdefault(number, {})
        for row in _lines(list_file):
            key = video_key(row[0])
            if len(row) >= 2:
                label = _int_field(row[1], list_file, row) - 1
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


def load_hmdb51(folder: Path) -> Labels:
    """Read a folder of HMDB51 `<class>_test_split<N>.txt` files."""
    files = [(p, _HMDB_LIST.match(p.name)) for p in sorted(folder.iterdir())]
    files = [(p, m.group(1), int(m.group(2))) for p, m in files if m]
    classes = sorted({cls for _, cls, _ in files})
    labels = Labels(classes=classes, source=str(folder))
    for path, cls, number in files:
        members = labels.splits.setdefault(number, {})
        for row in _lines(path):
            if len(row) != 2:
                raise UserValueError(f"{path}: expected lines '<video> <0|1|2>', got {' '.join(row)!r}")
            code = _int_field(row[1], path, row)
            if code not in (SPLIT_UNUSED, SPLIT_TRAIN, SPLIT_TEST):
                raise UserValueError(f"{path}: split code must be 0, 1 or 2, got {code}")
            key = f"{cls}/{video_key(row[0])}"
            labels.label_of[key] = classes.index(cls)
            members[key] = code
    return labels


def load_mmaction_list(path: Path) -> Labels:
    """Read an mmaction2 video list (`video label`) or rawframe list (`frame_dir total label`)."""
    entries: dict[str, int] = {}
    for row in _lines(path):
        if len(row) not in (2, 3):
            raise UserValueError(f"{path}: expected 'video label' or 'frame_dir total_frames "
                                 f"label', got {' '.join(row)!r}")
        label = _int_field(row[-1], path, row)
        if label < 0:
            raise UserValueError(f"{path}: labels must be >= 0, got {label}")
        entries[video_key(row[0])] = label
    if not entries:
        raise UserValueError(f"{path}: no entries")
    labels = Labels(classes=_class_names(entries), label_of=entries, source=str(path))
    subset = _MMACTION_SUBSET.search(path.stem)
    if subset:
        split = _MMACTION_SPLIT.search(path.stem)
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


def load_labels(path: str | Path) -> Labels:
    """Labels from a UCF101 folder (or its classInd.txt), an HMDB51 split folder, or an mmaction2
    list file; see the module docstring. Raises FileNotFoundError / ValueError with the reason."""
    path = Path(path)
    if not path.exists():
        raise UserFileNotFoundError(f"labels: no such file or folder: {path}")
    if path.is_file() and path.name.lower() == UCF_CLASS_INDEX.lower():
        path = path.parent
    if path.is_file():
        return load_mmaction_list(path)
    if (path / UCF_CLASS_INDEX).is_file():
        return load_ucf101(path)
    if any(_HMDB_LIST.match(p.name) for p in path.iterdir()):
        return load_hmdb51(path)
    raise UserValueError(
        f"labels: {path} holds neither {UCF_CLASS_INDEX} (UCF101) nor *_test_split*.txt files (HMDB51); "
        "pass one of those folders or an mmaction2 list file"
    )


def labels_from_folders(folder_of: Mapping[str, str]) -> tuple[list[str], dict[str, int]]:
    """Default labels: {name: parent folder name} -> (sorted class names, {name: label index})."""
    classes = sorted(set(folder_of.values()))
    index = {c: i for i, c in enumerate(classes)}
    return classes, {name: index[folder] for name, folder in folder_of.items()}
