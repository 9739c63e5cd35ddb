"""SHA-256 digests a store records: of source files and frame folders (`videos/sha256`) and of each stream's data and
offsets (`data_sha256`, `offsets_sha256` attributes), so `flowkit verify` can prove nothing changed."""

from __future__ import annotations

import hashlib
import os

import numpy as np

_FILE_BLOCK = 1 << 20
_DATASET_BLOCK = 64 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_FILE_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def source_sha256(path: str | os.PathLike) -> str:
    """The `videos/sha256` of a source: a video file's SHA-256; for a frame folder, the SHA-256 of
    the lines `<file name> <file's SHA-256>` of each file directly inside it, sorted by name (so a
    changed, added, removed or renamed frame changes it)."""
    if not os.path.isdir(path):
        return file_sha256(path)
    folder = str(path)
    names = sorted(e.name for e in os.scandir(folder) if e.is_file())
    lines = "".join(f"{name} {file_sha256(os.path.join(folder, name))}\n" for name in names)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def offsets_digest(offsets: np.ndarray) -> str:
    """Hex SHA-256 of an offsets array as little-endian int64 (the `offsets_sha256` attribute)."""
    return hashlib.sha256(np.ascontiguousarray(offsets, dtype="<i8").tobytes()).hexdigest()


def dataset_sha256(dataset) -> str:
    """Hex SHA-256 of a 1-D uint8 h5py dataset's bytes, read in blocks (the `data_sha256` attribute)."""
    digest = hashlib.sha256()
    for start in range(0, dataset.shape[0], _DATASET_BLOCK):
        digest.update(dataset[start : start + _DATASET_BLOCK].tobytes())
    return digest.hexdigest()
