"""Building the final store from a run's parts, in a fixed order so the result never depends on
which worker finished first or whether the run was interrupted and resumed: one store from every
part (`assemble_store`), or one shard of a sharded store from its videos' parts (`assemble_shard`),
which runs while other videos are still being extracted."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from flowkit.errors import UserValueError
from flowkit.extract.parts import DamagedPartError, part_path, read_part
from flowkit.store import StoreWriter
from flowkit.store import format as fmt
from flowkit.store.records import VideoRecord
from flowkit.store.shards import ShardEntry

# Shards are built in the parts folder under a unique temporary name (`*.shard`, its writer's
# `*.shard.partial`), then renamed beside the index: a killed assembly leaves only these behind.
SHARD_TMP_SUFFIX = ".shard"


def _add_parts(writer: StoreWriter, parts_dir: Path, names: Sequence[str], labels: Mapping[str, int],
               progress: bool = False) -> list[VideoRecord]:
    """Append the parts of `names`, in that order, to `writer`; returns their records."""
    from tqdm import tqdm

    missing = [n for n in names if not part_path(parts_dir, n).is_file()]
    if missing:
        raise UserValueError(f"cannot assemble {writer.path}: no part for {len(missing)} video(s), e.g. {missing[0]!r}")
    records = []
    for name in tqdm(names, desc="assembling", unit="video", disable=not progress, leave=False):
        record, encoded = read_part(part_path(parts_dir, name))
        if record.name != name:
            raise UserValueError(f"part {part_path(parts_dir, name)} holds {record.name!r}, expected {name!r}")
        record.label = int(labels.get(name, -1))
        records.append(writer.add_video(record, encoded if record.status == fmt.STATUS_OK else {}))
    return records


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
    with StoreWriter(output, streams, attrs) as writer:
        _add_parts(writer, parts_dir, sorted(names), labels, progress)
        writer.set_classes(list(classes))
        for number, membership in sorted(splits.items()):
            writer.set_split(number, membership)
    return Path(output)


@dataclass
class ShardResult:
    """What assembling one shard gave: its number, its index entry and its videos' records (rgb_start /
    flow_start within the shard), or `damaged`, the path of a part that could not be read (the
    shard is not written; extract that video again and assemble the shard anew)."""

    number: int
    entry: ShardEntry | None = None
    records: list[VideoRecord] = field(default_factory=list)
    damaged: str | None = None
    reason: str = ""


def assemble_shard(parts_dir: str | os.PathLike, number: int, shard: str | os.PathLike, names: Sequence[str],
                   streams: Mapping[str, str], attrs: Mapping) -> ShardResult:
    """Write shard file `shard` (a single-file store without classes or labels: the index holds them)
    from the parts of `names`, in that order, then delete those parts. Built in the parts folder and
    renamed into place, so a shard exists complete or not at all. Runs in an assembler process
    while extraction goes on (flowkit.extract.shards)."""
    parts_dir, shard = Path(parts_dir), Path(shard)
    tmp = parts_dir / f"{shard.name}.{uuid.uuid4().hex[:8]}{SHARD_TMP_SUFFIX}"
    try:
        with StoreWriter(tmp, streams, attrs) as writer:
            records = _add_parts(writer, parts_dir, names, {})
            entry = ShardEntry(shard.name, len(records), dict(writer.totals), dict(writer.sizes))
        os.replace(tmp, shard)
    except DamagedPartError as exc:
        return ShardResult(number, damaged=str(exc.path), reason=str(exc))
    finally:
        tmp.unlink(missing_ok=True)
    for name in names:
        part_path(parts_dir, name).unlink(missing_ok=True)
    return ShardResult(number, entry, records)
