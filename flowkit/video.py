"""Video decoding: a thin layer over cv2.VideoCapture that yields RGB frames, plus video discovery.

Decoding rule (what a damaged file gives you):
- A missing file, a file OpenCV cannot open (not a video, empty, an mp4 whose index is cut off)
  or one with zero decodable frames raises `VideoDecodeError` (a ValueError, so the CLI prints one line).
- Otherwise decoding stops at the first frame OpenCV cannot read, and the frames before it are
  returned: the result is always a contiguous prefix of the stream, so frame t really is the t-th
  frame and consecutive frames really are consecutive (flow between them means what it says).
  A truncated file therefore returns the frames that decode. When we can tell the stream did not
  simply end there (more frames decode after the failed one, or the container announced more frames
  than decoded) a `PartialDecodeWarning` names the file and the counts; the frames after a
  mid-stream failure are dropped, never spliced in. (Frames before the failure are what the decoder
  gives: FFmpeg may already have concealed damage in the last few of them.)

Sizing (`FrameSize`, flowkit.sizes): one fixed size, or the short or long side with the aspect
kept, computed from each video's decoded frames (not the container's header, which may not know
about rotation). Frame rate (`fps`): frames are chosen by their timestamps as flowkit.resample
documents, before `step` (every step-th of the chosen frames) and `max_frames`.

A frame folder (flowkit.frame_folders: a folder of image files, no video file and no sub-folder in
it) is a video too: `iter_frames`, `probe` and discovery take one wherever they take a video file.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flowkit.errors import UserFileNotFoundError, UserValueError
from flowkit.frame_folders import FrameFolderError, is_image_file, iter_folder_frames, list_frames
from flowkit.sizes import TSN_SIZE, FrameSize

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv"}
)
LIST_EXTENSIONS: frozenset[str] = frozenset({".txt", ".lst"})

# After a failed read, how many more frames we try to decode to tell "end of stream" from
# "corrupt frame in the middle". Cheap: at a real end these return immediately.
_READS_AFTER_FAILURE = 3


class VideoDecodeError(UserValueError):
    """A video that cannot be opened or has no decodable frame."""


class DecodeNoteWarning(UserWarning):
    """Something about a decode worth showing the user (extraction collects these per video)."""


class PartialDecodeWarning(DecodeNoteWarning):
    """Decoding stopped before the end of the stream announced by the container."""


class NoTimestampsWarning(DecodeNoteWarning):
    """--fps was asked of a source without timestamps (a frame folder): all its frames are kept."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video. frame_count may be wrong or 0 (unknown)."""

    fps: float
    width: int
    height: int
    frame_count: int


def _open(path: str | Path):
    """cv2.VideoCapture on `path`, or VideoDecodeError saying why it cannot be opened."""
    import cv2

    path = Path(path)
    if not path.exists():
        raise VideoDecodeError(f"video file not found: {path}")
    if not path.is_file():
        raise VideoDecodeError(f"not a file: {path} (nor a frame folder: image files, no video, no sub-folder)")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"empty file, not a video: {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoDecodeError(f"cannot open as a video (not a video, or corrupt/truncated container): {path}")
    return capture


def _info_from_capture(capture) -> VideoInfo:
    import cv2

    frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    return VideoInfo(
        fps=float(capture.get(cv2.CAP_PROP_FPS)),
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        frame_count=max(frame_count, 0),
    )


def is_frame_folder(path: str | Path) -> bool:
    """Whether `path` is a frame folder: a folder holding image files, no video file, no sub-folder."""
    try:
        return _holds_frames_only(list(os.scandir(path)))
    except OSError:
        return False


def _holds_frames_only(entries: list[os.DirEntry]) -> bool:
    """Whether a folder's entries make it a frame folder (is_frame_folder). An entry that cannot be
    followed (a symbolic link loop) makes it an ordinary folder, walked and reported entry by entry."""
    try:
        if any(e.is_dir() for e in entries):
            return False
        names = [e.name for e in entries if e.is_file()]
    except OSError:
        return False
    return any(is_image_file(n) for n in names) and not any(Path(n).suffix.lower() in VIDEO_EXTENSIONS for n in names)


def probe(path: str | Path) -> VideoInfo:
    """Container metadata of a video without decoding it: fps, width, height (pixels) and the
    frame count the container reports (may differ from the number of decodable frames; 0 = unknown).
    A frame folder: fps 0 (unknown), its first frame's size, its frame count.
    Raises VideoDecodeError if the file is missing or cannot be opened."""
    if is_frame_folder(path):
        from flowkit.frame_folders import image_size

        try:
            files = list_frames(path)
            width, height = image_size(files[0])
        except (FrameFolderError, ValueError) as exc:
            raise VideoDecodeError(str(exc)) from None
        return VideoInfo(fps=0.0, width=width, height=height, frame_count=len(files))
    capture = _open(path)
    try:
        return _info_from_capture(capture)
    finally:
        capture.release()


def _frame_size(size: tuple[int, int] | FrameSize | None) -> FrameSize:
    """A size argument as a FrameSize: a (width, height) pair is a fixed size, None keeps frames as decoded."""
    if isinstance(size, FrameSize):
        return size
    return FrameSize(size=None if size is None else tuple(size))  # type: ignore[arg-type]


def _validate(step, max_frames, fps) -> None:
    from flowkit.resample import check_fps

    if fps is not None:
        check_fps(fps)
    if int(step) != step or step < 1:
        raise UserValueError(f"step must be an integer >= 1, got {step!r}")
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 1):
        raise UserValueError(f"max_frames must be None or an integer >= 1, got {max_frames!r}")


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, C) image to size=(width, height): INTER_AREA when neither side grows
    (no aliasing), INTER_LINEAR when a side grows. Returns the input itself if already that size."""
    import cv2

    width, height = int(size[0]), int(size[1])
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    downscaling = width <= frame.shape[1] and height <= frame.shape[0]
    interpolation = cv2.INTER_AREA if downscaling else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def iter_frames(
    path: str | Path,
    size: tuple[int, int] | FrameSize | None = TSN_SIZE,
    step: int = 1,
    max_frames: int | None = None,
    fps: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield decoded frames 0, step, 2*step, ... of a video, one at a time, at most max_frames of them.

    Each frame is an (H, W, 3) uint8 RGB array (not OpenCV's BGR), resized to size: (width, height)
    pixels, a FrameSize (fixed, short side or long side, from each video's own frames), or None
    (the stored size). fps: first keep the frames flowkit.resample's rule picks for that rate
    (frames per second, from the decoder's timestamps), then every step-th of those. Frames between
    kept ones are decoded but not converted. `path` may be a frame folder (module docstring; it has
    no timestamps, so fps keeps all its frames, with a NoTimestampsWarning).
    Raises VideoDecodeError when the file is missing, cannot be opened, announces frames over the
    pixel limit (flowkit.limits), or no frame decodes (raised lazily, when iteration starts /
    ends), and for a frame folder that breaks its rules. See the module docstring for damaged files.
    """
    sizing = _frame_size(size)
    _validate(step, max_frames, fps)
    if is_frame_folder(path):
        yield from _iter_folder(Path(path), sizing, step, max_frames, fps)
        return
    yield from _iter_video(path, sizing, step, max_frames, fps)


def _resized(frame: np.ndarray, sizing: FrameSize) -> np.ndarray:
    return resize_frame(frame, sizing.target(frame.shape[1], frame.shape[0]))


def _iter_folder(folder: Path, sizing: FrameSize, step: int, max_frames: int | None,
                 fps: float | None) -> Iterator[np.ndarray]:
    """iter_frames for a frame folder."""
    if fps is not None:
        warnings.warn(f"{folder}: a frame folder has no timestamps; --fps {fps:g} keeps all its frames",
                      NoTimestampsWarning, stacklevel=3)
    try:
        for kept, frame in enumerate(iter_folder_frames(folder, step)):
            if max_frames is not None and kept >= max_frames:
                break
            yield _resized(frame, sizing)
    except FrameFolderError as exc:
        raise VideoDecodeError(str(exc)) from None


def _iter_video(path: str | Path, sizing: FrameSize, step: int, max_frames: int | None,
                fps: float | None) -> Iterator[np.ndarray]:
    """iter_frames for a video file."""
    import cv2

    from flowkit.limits import check_pixels
    from flowkit.resample import FpsSelector

    selector = FpsSelector(fps) if fps is not None else None
    capture = _open(path)
    try:
        info = _info_from_capture(capture)
        try:  # before the first frame is decoded: a tiny file can announce gigantic frames
            check_pixels(info.width, info.height, f"a frame of video {path}")
        except ValueError as exc:
            raise VideoDecodeError(str(exc)) from None
        announced = info.frame_count
        decoded = 0  # frames decoded, kept or not
        chosen = 0  # frames the fps rule kept (all of them without fps)
        kept = 0
        stopped_early = False
        while max_frames is None or kept < max_frames:
            if not capture.grab():
                stopped_early = True
                break
            if selector is not None and not selector.keep(_timestamp(capture, decoded, info.fps, path)):
                decoded += 1
                continue
            chosen += 1
            if (chosen - 1) % step == 0:
                ok, bgr = capture.retrieve()
                if not ok or bgr is None:
                    stopped_early = True
                    break
                if bgr.ndim == 2:
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
                else:
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield _resized(rgb, sizing)
                kept += 1
            decoded += 1
        if decoded == 0:
            raise VideoDecodeError(f"no decodable frame in video: {path}")
        if stopped_early:
            _warn_if_partial(capture, path, decoded, announced)
    finally:
        capture.release()


def _timestamp(capture, index: int, container_fps: float, path) -> float:
    """Seconds of the frame just grabbed: the decoder's timestamp (CAP_PROP_POS_MSEC), or, when the
    decoder gives none (0 after the first frame, or negative), index / the container's frame rate.
    VideoDecodeError when there is neither."""
    import cv2

    milliseconds = float(capture.get(cv2.CAP_PROP_POS_MSEC))
    if milliseconds > 0 or (index == 0 and milliseconds == 0):
        return milliseconds / 1000
    if container_fps > 0:
        return index / container_fps
    raise VideoDecodeError(f"{path}: the decoder gives no frame timestamps and no frame rate; cannot resample it")


def _warn_if_partial(capture, path, decoded: int, announced: int) -> None:
    """Warn when decoding stopped at frame `decoded` although the stream goes on."""
    frames_follow = any(capture.grab() for _ in range(_READS_AFTER_FAILURE))
    if frames_follow:
        warnings.warn(
            f"{path}: frame {decoded} failed to decode but later frames decode; "
            f"kept the first {decoded} frames (of {announced or 'unknown'} announced)",
            PartialDecodeWarning,
            stacklevel=3,
        )
    elif announced and decoded < announced:
        warnings.warn(
            f"{path}: decoded {decoded} frames, the container announced {announced} (truncated file?)",
            PartialDecodeWarning,
            stacklevel=3,
        )


def read_frames(
    path: str | Path,
    size: tuple[int, int] | FrameSize | None = TSN_SIZE,
    step: int = 1,
    max_frames: int | None = None,
    fps: float | None = None,
) -> np.ndarray:
    """Decode a video into a (T, H, W, 3) uint8 RGB array: decoded frames 0, step, 2*step, ...,
    at most max_frames of them, resized to `size` (see iter_frames; None keeps the stored size),
    resampled to `fps` first when given. Same rules and errors as `iter_frames`; use that for
    videos too long to hold in memory."""
    return np.stack(list(iter_frames(path, size=size, step=step, max_frames=max_frames, fps=fps)))


def find_videos(paths: str | Path | Iterable[str | Path], root: str | Path | None = None,
                skipped: list[str] | None = None) -> list[Path]:
    """Expand video files, folders and list files into a list of video paths.

    - a file with a video extension (VIDEO_EXTENSIONS, any case) is taken as is;
    - a frame folder (`is_frame_folder`: image files, no video file, no sub-folder) is one video;
    - any other folder is searched recursively for video files and frame folders, sorted by relative
      path (deterministic); image files in a folder that also holds videos or sub-folders are not
      frames of anything and are reported in `skipped` (one line per folder);
      symbolic links to videos and to folders are followed (the videos keep the link's path), except
      a link to a folder it sits in (a loop); links that loop or lead nowhere, and folders that
      cannot be read, are appended to `skipped` as 'PATH: reason' lines (never dropped in silence);
    - a list file (.txt / .lst) holds one entry per line (a video file or a folder); only the first
      whitespace-separated token counts, so mmaction2 lines `path label` and
      `path total_frames label` work; blank lines and lines starting with # are skipped; relative
      entries resolve against `root` if given, else against the list file's folder (UCF101's lists
      are relative to the video root, so pass root=<UCF-101 folder> for them).
    Order follows the arguments; a video reached twice is listed once (first place).
    Raises FileNotFoundError naming any path that does not exist, ValueError for an argument that is
    neither a video, a folder nor a list file.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    skipped = [] if skipped is None else skipped
    found: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise UserFileNotFoundError(f"no such file or folder: {path}")
        if path.is_file() and path.suffix.lower() in LIST_EXTENSIONS:
            entries = _list_file_entries(path, Path(root) if root is not None else path.parent)
        else:
            entries = [path]
        for entry in entries:
            for video in _expand(entry, skipped):
                found.setdefault(video, None)
    return list(found)


def _expand(path: Path, skipped: list[str]) -> list[Path]:
    """A folder's videos (recursive, sorted) or the video file / frame folder itself."""
    if path.is_dir() and is_frame_folder(path):
        return [path]
    if path.is_dir():
        videos: list[Path] = []
        _walk(path, {os.path.realpath(path)}, videos, skipped)
        return sorted(videos, key=lambda p: p.relative_to(path).as_posix())
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return [path]
    raise UserValueError(
        f"not a video file (extensions {', '.join(sorted(VIDEO_EXTENSIONS))}), "
        f"a folder or a list file (.txt/.lst): {path}"
    )


def _walk(folder: Path, ancestors: set[str], videos: list[Path], skipped: list[str], top: bool = True) -> None:
    """Collect the videos and frame folders under `folder`, following symbolic links; `ancestors`
    holds the real paths of the folders being walked, so a link back to one of them is a loop, not a
    descent. A folder below the top that is a frame folder is collected, not walked."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        skipped.append(f"{folder}: cannot read the folder ({exc.strerror or exc})")
        return
    if not top and _holds_frames_only(entries):
        videos.append(folder)
        return
    images = 0
    for entry in entries:
        path = Path(entry.path)
        link = entry.is_symlink()
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()  # both follow links
            if link and not (is_dir or is_file):
                os.stat(path)  # raises for a loop or a missing target; anything else (a socket...) is not ours
        except OSError as exc:
            if link:
                if exc.errno == errno.ELOOP:
                    skipped.append(f"{path}: a symbolic link loop")
                else:
                    skipped.append(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist")
            continue
        if is_dir:
            real = os.path.realpath(path)
            if real in ancestors:
                skipped.append(f"{path}: a symbolic link to {real}, a folder it is inside (a loop)")
                continue
            _walk(path, ancestors | {real}, videos, skipped, top=False)
        elif is_file and path.suffix.lower() in VIDEO_EXTENSIONS:
            videos.append(path)
        elif is_file and is_image_file(entry.name):
            images += 1
    if images:
        skipped.append(f"{folder}: {images} image file(s) beside videos or sub-folders, so not a frame folder; "
                       "not extracted")


def _list_file_entries(list_file: Path, base: Path) -> list[Path]:
    """The paths named by a list file, resolved against `base`; FileNotFoundError names the line."""
    entries = []
    text = list_file.read_text(encoding="utf-8")
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = Path(line.split()[0])
        if not entry.is_absolute():
            entry = base / entry
        if not entry.exists():
            raise UserFileNotFoundError(f"no such file or folder: {entry} (listed in {list_file}, line {line_number})")
        if entry.is_file() and entry.suffix.lower() in LIST_EXTENSIONS:
            raise UserValueError(f"list files cannot name other list files: {entry} (in "
                                 f"{list_file}, line {line_number})")
        entries.append(entry)
    return entries
