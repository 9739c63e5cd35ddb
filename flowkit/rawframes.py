"""The dense_flow / mmaction2 "rawframes" layout, to and from a store.

Layout: one folder per video, holding `img_00001.jpg` (RGB frames), `flow_x_00001.jpg` and
`flow_y_00001.jpg` (quantized flow components as gray JPEGs, pair t -> t+1), numbered from 1 (some
tools number from 0: both are read). We also read and write `warp_x_` / `warp_y_` for warped flow.
Import copies the image files' bytes into the store unchanged (no re-encoding); export copies
them out again when the store holds JPEG, and encodes PNG flow as gray JPEG (the layout's
convention, lossy). Export also writes rawframe lists (`frame_dir total_frames label`, label -1
when unknown) for RGB and, with the flow count, for flow: docs/rawframes.md gives the tsn-pytorch
and mmaction2 settings that read them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flowkit.errors import UserFileExistsError, UserFileNotFoundError, UserValueError, create_output_folder
from flowkit.quantize import DEFAULT_BOUND
from flowkit.store import format as fmt
from flowkit.store.codec import DEFAULT_JPEG_QUALITY
from flowkit.store.names import check_name, safe_join

PREFIXES = {fmt.RGB: "img", fmt.FLOW_X: "flow_x", fmt.FLOW_Y: "flow_y", fmt.WARP_X: "warp_x", fmt.WARP_Y: "warp_y"}
_STREAM_OF_PREFIX = {prefix: stream for stream, prefix in PREFIXES.items()}
_FRAME_FILE = re.compile(r"^(img|flow_x|flow_y|warp_x|warp_y)_(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)
_CODEC_OF_EXT = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png"}
LIST_NAME = "rawframes.txt"


def export_folder_name(name: str) -> str:
    """The folder, relative to the export root, of the video called `name`: whitespace becomes '_',
    because tsn-pytorch and mmaction2 split list lines on whitespace (mmaction2's Kinetics tools
    rename class folders the same way)."""
    return re.sub(r"\s", "_", name)


def _export_folders(out_dir: Path, names: dict[int, str]) -> dict[int, Path]:
    """{video: folder} for an export; ValueError when two names share a folder after renaming."""
    owner: dict[str, str] = {}
    for name in names.values():
        folder = export_folder_name(name)
        if owner.setdefault(folder, name) != name:
            raise UserValueError(f"videos {owner[folder]!r} and {name!r} would both be exported to {folder!r}")
    return {i: safe_join(out_dir, export_folder_name(name)) for i, name in names.items()}


def frame_file(stream: str, t: int) -> str:
    """File name of record t (0-based) of `stream` as written here: img_00001.jpg for t = 0 (files are
    numbered from 1, five digits, like dense_flow's)."""
    return f"{PREFIXES[stream]}_{t + 1:05d}.jpg"


@dataclass
class RawframesReport:
    """What an import or export did: videos handled, frames (RGB frames per video, summed), files
    read or written, notes (e.g. a video whose RGB and flow counts disagreed) and the list files
    an export wrote."""

    videos: int = 0
    frames: int = 0
    files: int = 0
    notes: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)  # list files an export wrote


def _scan_folder(folder: Path) -> dict[str, dict[int, Path]]:
    """{stream: {index: file}} of the frame files directly in `folder`."""
    found: dict[str, dict[int, Path]] = {}
    for entry in os.scandir(folder):
        match = _FRAME_FILE.match(entry.name)
        if match and entry.is_file():
            found.setdefault(_STREAM_OF_PREFIX[match.group(1).lower()], {})[int(match.group(2))] = Path(entry.path)
    return found


def find_rawframe_folders(root: str | os.PathLike) -> list[tuple[str, dict[str, dict[int, Path]]]]:
    """Video folders under `root` (recursive): [(name, {stream: {index: file}})] sorted by name,
    the name being the folder's path relative to root ('.' -> the root's own name)."""
    root = Path(root)
    if not root.is_dir():
        raise UserFileNotFoundError(f"no such folder: {root}")
    videos = []
    for folder, _, files in os.walk(root):
        if not any(_FRAME_FILE.match(f) for f in files):
            continue
        relative = Path(folder).relative_to(root).as_posix()
        name = root.resolve().name if relative == "." else relative
        videos.append((check_name(name), _scan_folder(Path(folder))))
    return sorted(videos, key=lambda v: v[0])


def _ordered(files: dict[int, Path], name: str, stream: str) -> list[Path]:
    """Files of one stream in frame order; the numbers must run without gaps from 0 or 1."""
    indices = sorted(files)
    first = indices[0]
    if first not in (0, 1) or indices != list(range(first, first + len(indices))):
        raise UserValueError(f"{name}: {PREFIXES[stream]}_ files are not numbered consecutively from 0 or 1")
    return [files[i] for i in indices]


def import_rawframes(
    root: str | os.PathLike,
    output: str | os.PathLike,
    labels: str | os.PathLike | None = None,
    bound: float = DEFAULT_BOUND,
    overwrite: bool = False,
    progress: bool = False,
) -> RawframesReport:
    """Read a rawframes folder tree into the store `output`.

    Every video folder must hold the same kinds of files (img and/or flow_x + flow_y, optionally
    warp_x + warp_y), each kind with one extension. A video with F RGB frames keeps
    min(F, flow pairs + 1) frames and that many pairs minus one (a note says when it trims).
    bound: the quantization bound the flow JPEGs were written with (pixels; TSN's is 20).
    labels: a labels source (flowkit.extract.labels), default the parent folder's name.
    Video folders may differ in frame size (each video keeps its own, store format 2; the store's
    `size` attribute is written only when they all agree); one folder's files must share one size.
    Raises FileExistsError when output exists and not overwrite; ValueError for inconsistent folders.
    """
    from tqdm import tqdm

    from flowkit.extract.labels import labels_from_folders, load_labels
    from flowkit.store import StoreWriter, VideoRecord

    output = Path(output)
    if output.exists() and not overwrite:
        raise UserFileExistsError(f"{output} exists; pass --overwrite to replace it")
    videos = find_rawframe_folders(root)
    if not videos:
        raise UserValueError(f"no rawframe folders (img_00001.jpg, flow_x_00001.jpg, ...) under {root}")
    streams = _stream_codecs(videos)
    report = RawframesReport()
    plans = [_plan_video(name, files, streams, report) for name, files in videos]
    folder_of = {name: name.rsplit("/", 1)[0].rsplit("/", 1)[-1] if "/" in name else "" for name, _ in videos}
    if labels is not None:
        source = load_labels(labels)
        label_of, splits = source.resolve(folder_of, folder_of)
        classes = source.classes
    else:
        (classes, label_of), splits = labels_from_folders(folder_of), {}
    attrs = {"bound": float(bound), "algo": "imported", "flow_params": {}, "source": "rawframes"}
    sizes = {(plan["width"], plan["height"]) for plan in plans}
    if len(sizes) == 1:
        attrs["size"] = list(sizes.pop())
    with StoreWriter(output, streams, attrs) as writer:
        for plan in tqdm(plans, desc="import", unit="video", disable=not progress):
            encoded = {s: [np.fromfile(p, np.uint8) for p in files] for s, files in plan["files"].items()}
            record = VideoRecord(
                name=plan["name"], path=plan["name"], label=int(label_of.get(plan["name"], -1)),
                num_frames=plan["frames"], orig_width=plan["width"], orig_height=plan["height"],
                width=plan["width"], height=plan["height"],
            )
            writer.add_video(record, encoded)
            report.videos += 1
            report.frames += plan["frames"]
            report.files += sum(len(f) for f in plan["files"].values())
        writer.set_classes(classes)
        for number, membership in splits.items():
            writer.set_split(number, membership)
    return report


def _plan_video(name: str, files: dict[str, dict[int, Path]], streams: dict[str, str], report: RawframesReport) -> dict:
    """Which files of one video folder go into the store, its frame count and frame size.
    ValueError when its image files are not all of one size."""
    from flowkit.frame_folders import frame_sizes_agree
    from flowkit.store.codec import decode_image

    ordered = {s: _ordered(files[s], name, s) if s in files else [] for s in streams}
    pairs = min((len(v) for s, v in ordered.items() if s != fmt.RGB), default=None)
    frames = len(ordered[fmt.RGB]) if fmt.RGB in streams else (pairs or 0) + 1
    if pairs is not None:
        frames = min(frames, pairs + 1)
    kept = {s: v[: fmt.stream_length(s, frames)] for s, v in ordered.items()}
    if any(len(kept[s]) != len(ordered[s]) for s in streams):
        report.notes.append(f"{name}: kept {frames} frames (files: { {s: len(v) for s, v in ordered.items()} })")
    first_stream = fmt.RGB if fmt.RGB in streams else fmt.FLOW_X
    first = decode_image(np.fromfile(kept[first_stream][0], np.uint8), color=first_stream == fmt.RGB)
    # Videos may differ in size (format 2 keeps each one's), but one video's files must agree.
    frame_sizes_agree([path for files in kept.values() for path in files])
    return {"name": name, "files": kept, "frames": frames, "width": int(first.shape[1]), "height": int(first.shape[0])}


def _stream_codecs(videos) -> dict[str, str]:
    """{stream: codec} shared by every video folder (a folder of one img_ file has no flow files to
    share); ValueError naming the first that differs."""
    def kinds(files):
        return {s: {_CODEC_OF_EXT[p.suffix[1:].lower()] for p in f.values()} for s, f in files.items()}

    def single_frame(files):  # one img_ file and no pair: no flow files to expect
        return set(files) == {fmt.RGB} and len(files[fmt.RGB]) == 1

    full = [(name, files) for name, files in videos if not single_frame(files)] or videos
    first_name, first_files = full[0]
    reference = kinds(first_files)
    for name, files in videos:
        found = kinds(files)
        if found != reference and not (single_frame(files) and found.items() <= reference.items()):
            raise UserValueError(
                f"rawframe folders differ: {first_name} has {sorted(reference)}, {name} has {sorted(found)}"
            )
    if any(len(codecs) > 1 for codecs in reference.values()):
        raise UserValueError(f"{first_name}: a kind of frame file comes with several extensions")
    streams = {s: next(iter(c)) for s, c in reference.items()}
    for x, y in ((fmt.FLOW_X, fmt.FLOW_Y), (fmt.WARP_X, fmt.WARP_Y)):
        if (x in streams) != (y in streams):
            present = PREFIXES[x] if x in streams else PREFIXES[y]
            raise UserValueError(f"{first_name}: has {present}_ files without their other component")
    if (fmt.WARP_X in streams) and fmt.FLOW_X not in streams:
        raise UserValueError(f"{first_name}: warped flow without flow")
    return {s: streams[s] for s in fmt.ALL_STREAMS if s in streams}


def export_rawframes(
    store_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    absolute_paths: bool = False,
    progress: bool = False,
) -> RawframesReport:
    """Write every ok video of a store as a rawframes folder `out_dir/<video name>/` (files
    numbered from 1), plus rawframe lists (`frame_dir count label`, see `write_lists`) in out_dir.

    JPEG records are copied byte for byte; zstd and PNG flow is encoded as gray JPEG at jpeg_quality.
    Video names are checked (never a path outside out_dir); whitespace in them becomes '_' in the
    folder names (`export_folder_name`) so list lines split into three fields. absolute_paths: the lists name
    folders by absolute path (tsn-pytorch's TSNDataSet reads them as given), else relative to
    out_dir (mmaction2's data_prefix). Raises FileExistsError when a video folder already exists
    and not overwrite; DamagedStoreError / DamagedRecordError (ValueError) for a damaged store,
    before anything of the video concerned is written.
    """
    from tqdm import tqdm

    from flowkit.store.opening import open_store

    out_dir = Path(out_dir)
    report = RawframesReport()
    with open_store(store_path) as store:
        ok = [(i, v) for i, v in enumerate(store.videos) if v.status == fmt.STATUS_OK]
        folders = _export_folders(out_dir, {i: v.name for i, v in ok})
        clashes = [str(f) for f in folders.values() if f.exists()]
        if clashes and not overwrite:
            raise UserFileExistsError(
                f"{clashes[0]} exists ({len(clashes)} video folders do); pass --overwrite to replace their files"
            )
        for i, video in tqdm(ok, desc="export", unit="video", disable=not progress):
            # Everything of a video is read (and checked) before its folder is touched: a damaged
            # record stops the export without leaving a half-written folder.
            files = _video_files(store, i, jpeg_quality)
            folder = folders[i]
            create_output_folder(folder)
            for name, record in files:
                np.asarray(record, np.uint8).tofile(folder / name)
            report.files += len(files)
            report.videos += 1
            report.frames += video.num_frames
        report.lists = write_lists(store, ok, out_dir, absolute_paths)
    return report


def _video_files(store, video: int, jpeg_quality: int) -> list[tuple[str, np.ndarray]]:
    """[(file name, JPEG bytes)] of every record of `video`: JPEG records as stored, others
    re-encoded. DamagedRecordError for a record that fails its checksum or does not decode."""
    from flowkit.store.codec import encode_image

    files = []
    for stream, codec in store.streams.items():
        count = store.num_records(video, stream)
        if not count:
            continue
        if codec == "jpeg":
            records = store.read_encoded(stream, video, range(count))
        else:
            records = [encode_image(frame, "jpeg", jpeg_quality) for frame in store.read(stream, video, range(count))]
        files += [(frame_file(stream, t), record) for t, record in enumerate(records)]
    return files


def list_names(kind: str, split: int | None = None, subset: str | None = None) -> str:
    """Rawframe list file name: kind 'rgb' or 'flow', all videos (split None) or one split's
    subset 'train' / 'val': rawframes.txt, rawframes_flow_train_split_1.txt, ..."""
    stem = LIST_NAME.removesuffix(".txt") + ("" if kind == "rgb" else f"_{kind}")
    return f"{stem}.txt" if split is None else f"{stem}_{subset}_split_{split}.txt"


def write_lists(store, ok, out_dir: Path, absolute_paths: bool = False) -> list[str]:
    """Write the rawframe lists of the exported videos `ok` ([(index, VideoRecord)]) into out_dir,
    lines `frame_dir count label` (label -1 when unknown), and return their names.

    RGB lists (when the store has RGB) count img_ files; flow lists (when it has flow) count
    flow_x_ files, one fewer per video, as TSN's build_file_list.py and mmaction2 write them
    apart: a reader sampling flow with the RGB count would ask for one file past the last.
    Videos without a flow pair are left out of the flow lists. Per split N: *_train_split_N
    (split code train) and *_val_split_N (test); warp_x_/warp_y_ files share the flow counts.
    """
    def folder(name: str) -> str:
        exported = export_folder_name(name)
        return (out_dir / exported).resolve().as_posix() if absolute_paths else exported

    kinds = [(kind, stream) for kind, stream in (("rgb", fmt.RGB), ("flow", fmt.FLOW_X)) if stream in store.streams]
    written = []
    for kind, stream in kinds:
        counts = {i: store.num_records(i, stream) for i, _ in ok}
        rows = [(i, v) for i, v in ok if counts[i] > 0]

        def write(name: str, selected) -> None:
            (out_dir / name).write_text("".join(f"{folder(v.name)} {counts[i]} {v.label}\n" for i, v in selected))
            written.append(name)

        write(list_names(kind), rows)
        for number, codes in sorted(store.splits.items()):
            write(list_names(kind, number, "train"), [(i, v) for i, v in rows if codes[i] == fmt.SPLIT_TRAIN])
            write(list_names(kind, number, "val"), [(i, v) for i, v in rows if codes[i] == fmt.SPLIT_TEST])
    return written
