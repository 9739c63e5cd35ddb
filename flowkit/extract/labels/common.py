"""What every labels format produces (`Labels`) and the helpers they share: entry keys, matching
entries to video names, reading whitespace-separated list files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from flowkit.errors import UserValueError
from flowkit.store.format import SPLIT_UNUSED


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

    classes: class names, indexed by label. label_of: {key: label index, -1 for an entry that is
    annotated without a class (a test set)}. splits: {split number: {key: SPLIT_TRAIN | SPLIT_TEST |
    SPLIT_UNUSED}}. source: where they were read from.
    """

    classes: list[str]
    label_of: dict[str, int] = field(default_factory=dict)
    splits: dict[int, dict[str, int]] = field(default_factory=dict)
    source: str = ""

    def keys(self) -> set[str]:
        """Every entry key the source names (labelled, unlabelled, or only in a split)."""
        return set(self.label_of) | {k for members in self.splits.values() for k in members}

    def resolve(
        self, names: Iterable[str], folder_of: Mapping[str, str] | None = None
    ) -> tuple[dict[str, int], dict[int, dict[str, int]]]:
        """Labels and split membership for the video `names`.

        folder_of: {name: parent folder name}, used for videos no entry names: their label is the
        folder's class if it is one of `classes`, else -1. Returns ({name: label}, {split: {name:
        code}}); videos a split does not mention are unused in it.
        """
        names = list(names)
        matcher = KeyMatcher(self.keys())
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

    def coverage(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """(entry keys no video matches, video names no entry matches), each sorted: the clips a
        source annotates that are missing on disk, and the videos it does not mention."""
        matcher = KeyMatcher(self.keys())
        unnamed, matched = [], set()
        for name in names:
            key = matcher.match(name)
            if key is None:
                unnamed.append(name)
            else:
                matched.add(key)
        return sorted(self.keys() - matched), sorted(unnamed)


def coverage_notes(labels: Labels, names: Iterable[str], shown: int = 5) -> list[str]:
    """One line each (at most two) for the annotated entries with no video and the videos with no
    entry in `labels`, naming the first `shown` of each; [] when both sets are empty."""
    missing, unnamed = labels.coverage(names)
    notes = []
    for items, what in ((missing, f"entries of {labels.source} have no video"),
                        (unnamed, f"videos have no entry in {labels.source} (label from their folder, else -1)")):
        if items:
            listed = ", ".join(items[:shown]) + (" ..." if len(items) > shown else "")
            notes.append(f"labels: {len(items)} {what}: {listed}")
    return notes


class KeyMatcher:
    """Finds the entry key naming a video: exact, else the unique key that shares the video name's
    trailing path components (either may carry extra leading folders)."""

    def __init__(self, keys: Iterable[str]):
        self.keys = set(keys)
        self.by_stem: dict[str, list[str]] = {}
        for key in self.keys:
            self.by_stem.setdefault(key.rsplit("/", 1)[-1], []).append(key)

    def match(self, name: str) -> str | None:
        """The key naming video `name`, or None (no key, or several equally good ones)."""
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


def read_rows(path: Path) -> list[list[str]]:
    """Whitespace-split, non-empty lines of a text file; CRLF, BOM and trailing spaces tolerated."""
    text = path.read_text(encoding="utf-8-sig")
    return [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def int_field(value: str, path: Path, line: list[str]) -> int:
    """int(value), or a ValueError naming the file and the line it came from."""
    try:
        return int(value)
    except ValueError:
        raise UserValueError(f"{path}: expected an integer in line {' '.join(line)!r}") from None


def labels_from_folders(folder_of: Mapping[str, str]) -> tuple[list[str], dict[str, int]]:
    """Default labels: {name: parent folder name} -> (sorted class names, {name: label index})."""
    classes = sorted(set(folder_of.values()))
    index = {c: i for i, c in enumerate(classes)}
    return classes, {name: index[folder] for name, folder in folder_of.items()}
