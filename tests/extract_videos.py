"""Small test videos written with OpenCV, and OpenCV as the oracle for what they decode to."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np


def textured_frames(frames: int, size=(96, 72), shift=(2, 1), seed: int = 0) -> np.ndarray:
    """(frames, H, W, 3) uint8 RGB: a smooth random texture translated by `shift` px per frame
    (a window moving over a larger canvas), so flow is well defined everywhere."""
    width, height = size
    rng = np.random.default_rng(seed)
    margin = 2 * frames * max(abs(shift[0]), abs(shift[1])) + 8
    coarse = rng.integers(0, 256, ((height + margin) // 6 + 2, (width + margin) // 6 + 2, 3)).astype(np.uint8)
    canvas_size = ((width + margin) // 6 * 6 + 12, (height + margin) // 6 * 6 + 12)
    canvas = cv2.resize(coarse, canvas_size, interpolation=cv2.INTER_CUBIC)
    out = []
    for t in range(frames):
        x0 = margin // 2 + t * shift[0] - frames * shift[0] // 2
        y0 = margin // 2 + t * shift[1] - frames * shift[1] // 2
        out.append(canvas[y0 : y0 + height, x0 : x0 + width])
    return np.ascontiguousarray(np.stack(out))


def write_video(path: str | Path, frames: int = 16, size=(96, 72), shift=(2, 1), seed: int = 0,
                fps: float = 25.0) -> Path:
    """Write an mp4v video of textured_frames at `fps` frames per second; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for frame in textured_frames(frames, size, shift, seed):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def opencv_frames(path: str | Path, size=None) -> np.ndarray:
    """Every frame cv2.VideoCapture decodes from `path`, RGB, resized like flowkit.video does
    (INTER_AREA when shrinking): the oracle for frame counts and pixels."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if size is not None:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        frames.append(rgb)
    capture.release()
    return np.stack(frames)


def make_tree(root: str | Path, videos: dict[str, int], size=(96, 72)) -> dict[str, Path]:
    """Write videos {relative path without extension: frames} under root as .mp4 (each with its
    own texture and motion). Returns {name: path}."""
    root = Path(root)
    paths = {}
    for k, (name, frames) in enumerate(sorted(videos.items())):
        shift = ((k % 3) + 1, (k % 2) - 1 if k % 2 else 1)
        paths[name] = write_video(root / f"{name}.mp4", frames=frames, size=size, shift=shift, seed=k)
    return paths


def store_content(path: str | Path) -> dict:
    """Every dataset's bytes and every attribute of an HDF5 file, by name: two stores with equal
    content have the same data, offsets, tables and attributes (file layout details aside)."""
    import h5py

    content = {}

    def visit(name, item):
        for key, value in item.attrs.items():
            content[f"{name}@{key}"] = value.tobytes() if isinstance(value, np.ndarray) else value
        if isinstance(item, h5py.Dataset):
            values = item[()]
            content[name] = values.tobytes() if values.dtype != object else list(values)

    with h5py.File(path, "r") as file:
        for key, value in file.attrs.items():
            content[f"@{key}"] = value
        file.visititems(visit)
    return content


def damaged_copy(store: str | Path, folder: str | Path, edit) -> Path:
    """A copy of `store` in `folder` (damaged.h5) after edit(h5py file opened r+) changed it."""
    import shutil

    import h5py

    copy = Path(folder) / "damaged.h5"
    shutil.copy(store, copy)
    with h5py.File(copy, "r+") as file:
        edit(file)
    return copy


def _ebml(element_id: int, payload: bytes) -> bytes:
    """One EBML element: its id, its size as an 8-byte vint, its payload."""
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + b"\x01" + len(payload).to_bytes(7, "big") \
        + payload


def _ebml_uint(element_id: int, value: int) -> bytes:
    return _ebml(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def write_vfr_mkv(path: str | Path, frames: np.ndarray, times_ms) -> Path:
    """Write (T, H, W, 3) RGB frames as an MJPEG Matroska file whose frame i is shown at times_ms[i]
    (whole milliseconds, increasing, below 32768): a variable-frame-rate video, which
    cv2.VideoWriter cannot write. A minimal muxer: EBML header, Info, one video track, one Cluster
    of SimpleBlocks. Returns the path."""
    height, width = frames.shape[1:3]
    header = _ebml(0x1A45DFA3, _ebml_uint(0x4286, 1) + _ebml_uint(0x42F7, 1) + _ebml_uint(0x42F2, 4)
                   + _ebml_uint(0x42F3, 8) + _ebml(0x4282, b"matroska") + _ebml_uint(0x4287, 4)
                   + _ebml_uint(0x4285, 2))
    info = _ebml(0x1549A966, _ebml_uint(0x2AD7B1, 1_000_000) + _ebml(0x4D80, b"flowkit tests")
                 + _ebml(0x5741, b"flowkit tests") + _ebml(0x4489, struct.pack(">d", float(times_ms[-1] + 1))))
    video = _ebml(0xE0, _ebml_uint(0xB0, width) + _ebml_uint(0xBA, height))
    track = _ebml(0xAE, _ebml_uint(0xD7, 1) + _ebml_uint(0x73C5, 1) + _ebml_uint(0x83, 1) + _ebml(0x86, b"V_MJPEG")
                  + video)
    blocks = b""
    for frame, time in zip(frames, times_ms):
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        assert ok
        blocks += _ebml(0xA3, b"\x81" + struct.pack(">h", int(time)) + b"\x80" + jpeg.tobytes())
    segment = _ebml(0x18538067, info + _ebml(0x1654AE6B, track) + _ebml(0x1F43B675, _ebml_uint(0xE7, 0) + blocks))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + segment)
    return path
def records_of(path) -> dict:
    """What a store holds, however it is laid out: every video's row (its place in the files aside)
    and every record's bytes, in store order, with the classes, splits and content attributes."""
    from flowkit.store import open_store

    with open_store(path) as store:
        rows, data = [], []
        for i, video in enumerate(store.videos):
            row = video.to_dict()
            row.pop("rgb_start"), row.pop("flow_start")
            rows.append(row)
            for stream in sorted(store.streams):
                count = store.num_records(i, stream)
                data.append([r.tobytes() for r in store.read_encoded(stream, i, range(count))] if count else [])
        attrs = {k: v for k, v in store.attrs.items() if k != "versions"}
        splits = {k: v.tolist() for k, v in store.splits.items()}
        return {"videos": rows, "data": data, "classes": store.classes, "splits": splits, "attrs": attrs,
                "streams": store.streams}


def sharded_content(index) -> dict:
    """store_content of an index and of every shard it lists: equal for byte-identical sharded stores."""
    from flowkit.store import ShardedStore

    with ShardedStore(index) as store:
        files = [entry.file for entry in store.shards]
    return {"index": store_content(index), **{name: store_content(Path(index).parent / name) for name in files}}
