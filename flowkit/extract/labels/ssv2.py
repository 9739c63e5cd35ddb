"""Something-Something V2: a folder with `labels.json` ({template without brackets: class index as
a string}) and `something-something-v2-train.json` / `-validation.json` / `-test.json`, lists of
`{"id", "label", "template", "placeholders"}` (the template with `[something]`; test entries hold
only the id). A clip is `<id>.webm`. The class is labels.json's index of the template with its
brackets removed; train is split 1's training set, validation its test set, test entries have
no class (label -1, unused in split 1). `labels.json` itself names the folder too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowkit.errors import UserValueError
from flowkit.extract.labels.common import Labels
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, SPLIT_UNUSED

DESCRIPTION = "a Something-Something V2 folder (labels.json + something-something-v2-*.json)"
CLASS_INDEX = "labels.json"
_LISTS = {"train": SPLIT_TRAIN, "validation": SPLIT_TEST, "test": SPLIT_UNUSED}


def _list_file(folder: Path, subset: str) -> Path:
    return folder / f"something-something-v2-{subset}.json"


def detect(path: Path) -> bool:
    """Whether `path` is labels.json beside SSv2 list files, or a folder holding both."""
    folder = path.parent if path.is_file() and path.name == CLASS_INDEX else path
    return (folder.is_dir() and (folder / CLASS_INDEX).is_file()
            and any(_list_file(folder, subset).is_file() for subset in _LISTS))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserValueError(f"{path}: not valid JSON ({exc})") from None


def template_class(template: str) -> str:
    """The labels.json key of a template: `Putting [something] on [something]` -> `Putting
    something on something`."""
    return template.replace("[", "").replace("]", "")


def load(path: Path) -> Labels:
    """Read labels.json and every something-something-v2-{train,validation,test}.json beside it."""
    folder = path.parent if path.is_file() else path
    index_file = folder / CLASS_INDEX
    index = _read_json(index_file)
    if not isinstance(index, dict):
        raise UserValueError(f"{index_file}: expected an object {{template: class index}}")
    try:
        by_index = {int(value): name for name, value in index.items()}
    except (TypeError, ValueError):
        raise UserValueError(f"{index_file}: class indices must be integers") from None
    if sorted(by_index) != list(range(len(index))):
        raise UserValueError(f"{index_file}: class indices must be 0..{len(index) - 1}, each once")
    labels = Labels(classes=[by_index[i] for i in range(len(index))], source=str(folder))
    members = labels.splits.setdefault(1, {})
    for subset, code in _LISTS.items():
        list_file = _list_file(folder, subset)
        if not list_file.is_file():
            continue
        entries = _read_json(list_file)
        if not isinstance(entries, list):
            raise UserValueError(f"{list_file}: expected a list of {{\"id\", \"template\", ...}}")
        for number, entry in enumerate(entries):
            key = str(entry.get("id", "")).strip() if isinstance(entry, dict) else ""
            if not key:
                raise UserValueError(f"{list_file}: entry {number} has no id")
            if code == SPLIT_UNUSED:
                labels.label_of[key] = -1
            else:
                template = template_class(str(entry.get("template", "")))
                if template not in index:
                    raise UserValueError(f"{list_file}: entry {key}: template {entry.get('template')!r} "
                                     f"is not in {index_file}")
                labels.label_of[key] = int(index[template])
            members[key] = code
    return labels
