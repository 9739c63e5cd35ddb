"""Video names are untrusted input (they come from stores, list files and folder names): these
checks keep a name from ever addressing a path outside the folder it is joined to."""

from __future__ import annotations

import os
import re
from pathlib import Path

from flowkit.errors import UserValueError

# Checked for every name of a store when it is opened: one regex scan, not a Python loop per character.
_CONTROL_OR_BACKSLASH = re.compile(r"[\x00-\x1f\x7f\\]")


def check_name(name: str) -> str:
    """Return `name` if it is a safe relative '/'-separated name, else raise UserValueError: no empty,
    '.' or '..' components, not absolute, no backslash, NUL or control characters."""
    if not isinstance(name, str) or not name:
        raise UserValueError(f"invalid video name {name!r}: empty")
    if _CONTROL_OR_BACKSLASH.search(name):
        raise UserValueError(f"invalid video name {name!r}: control characters or backslashes")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise UserValueError(f"invalid video name {name!r}: absolute path")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise UserValueError(f"invalid video name {name!r}: empty, '.' or '..' path components")
    return name


def safe_join(root: str | os.PathLike, name: str) -> Path:
    """root / name for an untrusted `name`, guaranteed to stay inside root (ValueError otherwise,
    symbolic links included)."""
    check_name(name)
    root = Path(root)
    target = root.joinpath(*name.split("/"))
    resolved_root = root.resolve()
    resolved = target.resolve()
    if resolved == resolved_root or not resolved.is_relative_to(resolved_root):
        raise UserValueError(f"invalid video name {name!r}: leaves the folder {root}")
    return target
