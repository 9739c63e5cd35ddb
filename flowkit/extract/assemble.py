"""Building the final store from a run's parts, in a fixed order so the result never depends on
which worker finished first or whether the run was interrupted and resumed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from flowkit.errors import UserValueError
from flowkit.extract.parts import part_path, read_part
from flowkit.store import StoreWriter
from flowkit.store import format as fmt


def assemble_store(
    parts_dir: Path,
    output: str | os.PathLike,
    names: Sequence[str],
    streams: Mapping[str, str],
    attrs: Mapping,
    classes: Sequence[str],
    labels: Mapping[str, int],
    splits: Mapping[int, Mapping[str, int]],
    progress: bool = False,
) -> Path:
    """Write the store `output` from the parts of `names` (every one must exist), sorted by name.

    streams: {stream: codec}. attrs: store attributes. classes, labels ({name: label index}),
    splits ({number: {name: code}}): the classes table, each video's label and the splits.
    The store is built as `<output>.partial` and renamed when complete (StoreWriter). Returns the
    output path.
    """
    from tqdm import tqdm

    ordered = sorted(names)
    missing = [n for n in ordered if not part_path(parts_dir, n).is_file()]
    if missing:
        raise UserValueError(f"cannot assemble {output}: no part for {len(missing)} video(s), e.g. {missing[0]!r}")
    with StoreWriter(output, streams, attrs) as writer:
        for name in tqdm(ordered, desc="assembling", unit="video", disable=not progress, leave=False):
            record, encoded = read_part(part_path(parts_dir, name))
            if record.name != name:
                raise UserValueError(f"part {part_path(parts_dir, name)} holds {record.name!r}, expected {name!r}")
            record.label = int(labels.get(name, -1))
            writer.add_video(record, encoded if record.status == fmt.STATUS_OK else {})
        writer.set_classes(list(classes))
        for number, membership in sorted(splits.items()):
            writer.set_split(number, membership)
    return Path(output)
