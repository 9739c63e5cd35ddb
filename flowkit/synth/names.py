"""Picking one of a synthetic family's named choices (motions, order classes, kinds) by name or index."""

from __future__ import annotations

import numpy as np

from flowkit.errors import UserValueError


def choice_index(choice: str | int, names: tuple[str, ...], what: str) -> int:
    """The index into `names` of `choice`, given as a name from `names` or as an index into them.
    what: the choices' name in messages ('motion class', 'kind'). ValueError for anything else."""
    if isinstance(choice, (int, np.integer)) and not isinstance(choice, bool):
        if not 0 <= choice < len(names):
            raise UserValueError(f"{what} index {choice} out of range 0..{len(names) - 1}")
        return int(choice)
    if choice not in names:
        raise UserValueError(f"unknown {what} {choice!r}; choose from {', '.join(names)}")
    return names.index(choice)
