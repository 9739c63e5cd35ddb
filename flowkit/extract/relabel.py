"""Attaching class labels and train/test splits to a store that already exists (extracted without
`--labels`, or with the wrong ones), without extracting anything again.

The labels source is what `flowkit extract --labels` takes (flowkit.extract.labels). Only the
videos table's `label` column, `/classes` and `/splits` change; frames and flow are copied as
they are. The new store is written as `<output>.partial` and renamed when complete, so a crash
never leaves a half-labelled store (the copy costs one read of the file; of a sharded store only its
index is copied, the shards stay as they are).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from flowkit.errors import UserValueError


@dataclass
class RelabelReport:
    """What set_labels did: the store written, its classes, videos with a label / without one, and
    per split number (train, test) counts of ok videos, and notes on what the labels and the store
    do not share."""

    output: Path
    classes: int = 0
    labelled: int = 0
    unlabelled: list[str] = field(default_factory=list)
    splits: dict[int, tuple[int, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # annotated entries without a video, videos without an entry


def set_labels(store: str | os.PathLike, labels: str | os.PathLike,
               output: str | os.PathLike | None = None) -> RelabelReport:
    """Give the videos of `store` the classes, labels and splits read from `labels` (any source
    flowkit.extract.labels reads: UCF101, HMDB51, Kinetics, SSv2, mmaction2 lists; matched to video names as extract
    does; videos no entry names get their folder's class when it is one). Writes `output`
    (default: replaces `store`). Raises ValueError / OSError in one line for a damaged store or an
    unreadable labels source; the store is left untouched then."""
    import h5py

    from flowkit.extract.labels import coverage_notes, load_labels
    from flowkit.store import format as fmt
    from flowkit.store.opening import open_store
    from flowkit.store.shards import is_sharded
    from flowkit.store.writer import write_classes_and_splits

    source = load_labels(labels)
    with open_store(store) as opened:
        videos = list(opened.videos)
    names = [v.name for v in videos]
    folder_of = {v.name: PurePosixPath(v.path or v.name).parent.name for v in videos}
    label_of, splits = source.resolve(names, folder_of)
    target = Path(output) if output is not None else Path(store)
    if is_sharded(store) and target.absolute().parent != Path(store).absolute().parent:
        raise UserValueError(f"{store} is a sharded store's index: write its relabelled index beside its shards "
                         f"(in {Path(store).absolute().parent}), not in {target.absolute().parent}")
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(store, partial)
    try:
        with h5py.File(partial, "r+") as file:
            file["videos/label"][...] = np.array([label_of[name] for name in names], np.int32)
            write_classes_and_splits(file, source.classes, names, splits)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    ok = [v.status == fmt.STATUS_OK for v in videos]
    report = RelabelReport(output=target, classes=len(source.classes), notes=coverage_notes(source, names))
    report.unlabelled = [name for name in names if label_of[name] < 0]
    report.labelled = len(names) - len(report.unlabelled)
    for number, membership in sorted(splits.items()):
        codes = [membership.get(name, fmt.SPLIT_UNUSED) for name in names]
        report.splits[number] = (sum(c == fmt.SPLIT_TRAIN and k for c, k in zip(codes, ok)),
                                 sum(c == fmt.SPLIT_TEST and k for c, k in zip(codes, ok)))
    return report
