"""The parts folder of a run: one file per finished video, so a killed run resumes where it stopped.

`<output>.parts/` holds `params.json` (the content settings of the run) and one `<flat name>.npz`
per finished video (ok or failed): its VideoRecord as JSON and, per stream, the encoded records
concatenated (`<stream>.data`, uint8) with their offsets (`<stream>.offsets`, int64, records + 1).
Every file is written under a temporary name and renamed, so a part either exists complete or not
at all; leftovers of a killed write (`*.tmp`) are removed when a run starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from flowkit.errors import UserValueError, create_output_folder
from flowkit.extract.jobs import part_filename
from flowkit.store import format as fmt
from flowkit.store.format import PARTS_SUFFIX
from flowkit.store.records import VideoRecord

PARAMS_FILE = "params.json"
TMP_SUFFIX = ".tmp"


class DamagedPartError(UserValueError):
    """A part file that cannot be read back (truncated, bytes changed: zip checks every member's
    CRC-32). `path` is the part; the run deletes it and extracts the video again."""

    def __init__(self, path: Path, reason: str):
        self.path = Path(path)
        super().__init__(f"part {self.path.name} is damaged ({reason})")


@contextlib.contextmanager
def _reading(path: Path):
    """Turn whatever a damaged .npz raises while being read into DamagedPartError."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no part at {path}")
    try:
        yield
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, OSError) as exc:
        text = str(exc).strip().splitlines()
        raise DamagedPartError(path, f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__) from None


def parts_dir_for(output: str | os.PathLike) -> Path:
    """The parts folder of store `output`: `<output>.parts` beside it."""
    output = Path(output)
    return output.with_name(output.name + PARTS_SUFFIX)


def write_atomic(path: Path, write) -> None:
    """Call write(file object) on a temporary file, fsync it, and rename it to `path`."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def prepare_parts_dir(parts_dir: Path, params: Mapping, overwrite: bool) -> int:
    """Create or reuse `parts_dir` for a run with content settings `params`.

    A folder from an earlier run with the same params is reused (resume); with other params it
    raises ValueError naming the differences, unless overwrite, which empties it. Leftover
    temporary files are removed. Returns the number of parts already there.
    """
    params = json.loads(json.dumps(dict(params)))  # normalise tuples to lists, keys to str
    params_file = parts_dir / PARAMS_FILE
    if parts_dir.exists() and overwrite:
        shutil.rmtree(parts_dir)
    if params_file.is_file():
        earlier = json.loads(params_file.read_text())
        if earlier != params:
            keys = sorted(k for k in set(earlier) | set(params) if earlier.get(k) != params.get(k))
            differences = "; ".join(f"{k}: {earlier.get(k)!r} then, {params.get(k)!r} now" for k in keys)
            raise UserValueError(
                f"{parts_dir} holds an unfinished run with other settings ({differences}); "
                "rerun with the same options to resume it, or pass --overwrite to start over"
            )
    create_output_folder(parts_dir)
    for leftover in parts_dir.glob(f"*{TMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)
    if not params_file.is_file():
        text = json.dumps(params, indent=1, sort_keys=True).encode()
        write_atomic(params_file, lambda handle: handle.write(text))
    return len(list(parts_dir.glob("*.npz")))


def part_path(parts_dir: Path, name: str) -> Path:
    """Where video `name`'s part lives (a flat, hashed file name: names cannot leave the folder)."""
    return Path(parts_dir) / part_filename(name)


def write_part(parts_dir: Path, record: VideoRecord, encoded: Mapping[str, Sequence[np.ndarray]]) -> Path:
    """Write one video's part atomically. encoded: {stream: list of 1-D uint8 records} (empty for a
    failed video). Returns the part's path."""
    arrays: dict[str, Any] = {"record": np.frombuffer(json.dumps(record.to_dict(), sort_keys=True).encode(), np.uint8)}
    for stream, items in encoded.items():
        buffers = [np.asarray(item, np.uint8).reshape(-1) for item in items]
        sizes = np.array([b.size for b in buffers], np.int64)
        arrays[f"{stream}.offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        arrays[f"{stream}.data"] = np.concatenate(buffers) if buffers else np.zeros(0, np.uint8)
    path = part_path(parts_dir, record.name)
    write_atomic(path, lambda handle: np.savez(handle, **arrays))
    return path


def read_part(path: Path) -> tuple[VideoRecord, dict[str, list[np.ndarray]]]:
    """(record, {stream: list of encoded records}) of a part file written by write_part.
    DamagedPartError when it cannot be read back whole."""
    with _reading(path), np.load(path, allow_pickle=False) as archive:
        record = VideoRecord.from_dict(json.loads(archive["record"].tobytes()))
        encoded = {}
        for key in archive.files:
            if key.endswith(".offsets"):
                stream = key[: -len(".offsets")]
                offsets, data = archive[key], archive[f"{stream}.data"]
                if len(offsets) == 0 or offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != data.size:
                    raise ValueError(f"the offsets of {stream} do not fit its data")
                if record.status == fmt.STATUS_OK and len(offsets) - 1 != fmt.stream_length(stream, record.num_frames):
                    raise ValueError(f"{len(offsets) - 1} records of {stream} for {record.num_frames} frames")
                encoded[stream] = [data[offsets[k]:offsets[k + 1]] for k in range(len(offsets) - 1)]
    return record, encoded


def read_part_record(path: Path) -> VideoRecord:
    """Just the VideoRecord of a part (does not load the frames). DamagedPartError when it cannot be
    read."""
    with _reading(path), np.load(path, allow_pickle=False) as archive:
        return VideoRecord.from_dict(json.loads(archive["record"].tobytes()))
