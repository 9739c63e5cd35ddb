"""Writing a synthetic dataset: videos in UCF101 layout, split by groups like UCF101's split 1,
with classInd.txt / trainlist01.txt / testlist01.txt and a synth.json description.

Three families of classes (FAMILIES): 'motion', classes that differ only in how objects move
(flowkit.synth.motion); 'order', class pairs whose videos are the same frames in opposite order
(flowkit.synth.order); and 'kind-motion', (object kind, motion) pairs that need both the RGB and
the flow stream (flowkit.synth.kinds)."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from flowkit.errors import UserOSError, UserValueError, create_output_folder
from flowkit.sizes import TSN_SIZE, check_size
from flowkit.synth.camera import check_camera_motion
from flowkit.synth.kinds import KIND_MOTIONS, KIND_RENDER, KINDS, kind_motion_name, kind_motion_pairs
from flowkit.synth.motion import MOTIONS
from flowkit.synth.order import ORDER_CLASSES, order_content_key, render_order_video
from flowkit.synth.render import MIN_SIDE, render_video

FPS = 25.0  # like UCF101
CLIPS_PER_GROUP = 4  # UCF101 has 4-7 clips per group
TEST_GROUP_FRACTION = 0.3  # UCF101 split 1 tests on 7 of 25 groups
SPLIT_STREAM = 0x5B117  # mixed into the seed for choosing test groups, apart from video content
LIST_FILES = ("classInd.txt", "trainlist01.txt", "testlist01.txt", "synth.json")
# DatasetInfo fields written to synth.json, in this order, after the generator's name.
DESCRIBED_FIELDS = ("family", "classes", "class_factors", "frames", "size", "fps", "camera_motion", "seed", "container",
                    "fourcc", "videos")
FAMILIES = ("motion", "order", "kind-motion")


@dataclass(frozen=True)
class SynthClass:
    """One class: its name, how its objects move (a name from MOTIONS; None in the order family),
    their kind (an index into flowkit.synth.kinds.KINDS, or None for objects of random colours) and
    the family's other render_video keywords."""

    name: str
    motion: str | None
    kind: int | None = None
    render: dict = field(default_factory=dict, hash=False, compare=False)


def family_classes(family: str, count: int) -> list[SynthClass]:
    """The first `count` classes of `family` (FAMILIES): 'motion', the first `count` of MOTIONS
    (1 .. len(MOTIONS)); 'order', the first `count` of ORDER_CLASSES (pairs: an even count);
    'kind-motion', the cycle of flowkit.synth.kinds.kind_motion_pairs over KIND_MOTIONS (an even
    count, 4 .. 6). ValueError for other families or counts."""
    if family == "motion":
        if int(count) != count or not 1 <= count <= len(MOTIONS):
            raise UserValueError(f"classes must be between 1 and {len(MOTIONS)} (one per distinct "
                                 f"motion), got {count!r}")
        return [SynthClass(name, name) for name in MOTIONS[: int(count)]]
    if family == "order":
        if int(count) != count or count % 2 or not 2 <= count <= len(ORDER_CLASSES):
            raise UserValueError(f"the order family takes an even number of classes (pairs) from 2 to "
                             f"{len(ORDER_CLASSES)}, got {count!r}")
        return [SynthClass(name, None) for name in ORDER_CLASSES[: int(count)]]
    if family == "kind-motion":
        return [SynthClass(kind_motion_name(kind, motion), motion, kind, dict(KIND_RENDER))
                for kind, motion in kind_motion_pairs(count, KIND_MOTIONS)]
    raise UserValueError(f"unknown class family {family!r}; choose from {', '.join(FAMILIES)}")


@dataclass(frozen=True)
class SynthVideo:
    """One generated video: path relative to the videos folder, 0-based class index, group, clip."""

    path: str
    label: int
    group: int
    clip: int
    split: str  # "train" or "test"


@dataclass
class DatasetInfo:
    """What make_dataset wrote. `videos_dir` holds <ClassName>/<file>; lists sit in `out_dir`."""

    out_dir: Path
    videos_dir: Path
    classes: list[str]
    videos: list[SynthVideo]
    frames: int
    size: tuple[int, int]  # (width, height) pixels
    fps: float
    camera_motion: str
    seed: int
    container: str  # ".mp4" or ".avi" (fallback)
    fourcc: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    family: str = "motion"
    class_factors: list[dict] = field(default_factory=list)  # per class: name, motion, kind (a KINDS name or None)


def make_dataset(
    out_dir: str | Path,
    classes: int = 8,
    videos_per_class: int = 24,
    frames: int = 48,
    size: tuple[int, int] = TSN_SIZE,
    camera_motion: str = "none",
    seed: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    family: str = "motion",
) -> DatasetInfo:
    """Write a synthetic motion dataset in UCF101 layout and return what was written.

    out_dir/videos/<ClassName>/v_<ClassName>_g<GG>_c<CC>.mp4 (mp4v; MJPG .avi if this OpenCV
    cannot write and re-read mp4v, noted in the result), plus out_dir/classInd.txt (`1 ClassName`),
    trainlist01.txt (`ClassName/v_....mp4 1`, label 1-based), testlist01.txt (`ClassName/v_....mp4`),
    all with CRLF line endings like UCF101's, and synth.json with the parameters and video table.
    Videos of a class are numbered in groups of CLIPS_PER_GROUP clips; ~30% of the groups, chosen
    from the seed and the same for every class, form the test split (as UCF101 splits by group).
    family: 'motion' (classes differ only in motion), 'order' (pairs of classes whose videos are the
    same frames in opposite order; flowkit.synth.order; no camera motion) or 'kind-motion' (object
    kind x motion, see flowkit.synth.kinds); classes: the first `classes` of the family
    (family_classes). size: (width, height) pixels, both even (the codecs would crop odd sizes).
    A video's frames depend only on (seed, class index, group, clip): byte-identical across runs and
    dataset sizes (order: on the class pair, so a pair's videos are each other's reverse).
    Refuses a non-empty out_dir unless overwrite=True, which replaces the videos folder and lists.
    """
    import time

    from tqdm import tqdm

    started = time.perf_counter()
    specs = family_classes(family, classes)
    if family == "order" and camera_motion != "none":
        raise UserValueError(f"the order family takes no camera motion, got {camera_motion!r}")
    if int(videos_per_class) != videos_per_class or videos_per_class < 2:
        raise UserValueError(
            f"videos_per_class must be an integer >= 2 (train and test need one each), got {videos_per_class!r}"
        )
    if int(frames) != frames or frames < 2:
        raise UserValueError(f"frames must be an integer >= 2 (flow needs a pair), got {frames!r}")
    if int(seed) != seed or seed < 0:
        raise UserValueError(f"seed must be a non-negative integer, got {seed!r}")
    check_camera_motion(camera_motion)
    width, height = check_size(size, minimum=MIN_SIDE)
    if width % 2 or height % 2:
        # OpenCV's mp4v and MJPG writers silently crop odd sizes to even ones.
        raise UserValueError(f"video size must have an even width and height, got {width}x{height}")
    classes, videos_per_class, frames, seed = int(classes), int(videos_per_class), int(frames), int(seed)

    out_dir = Path(out_dir)
    videos_dir = out_dir / "videos"
    _prepare_out_dir(out_dir, videos_dir, overwrite)
    container, fourcc, notes = _choose_container(out_dir, (width, height))
    for note in notes:
        warnings.warn(note, stacklevel=2)

    class_names = [spec.name for spec in specs]
    plan = split_plan(videos_per_class, seed)
    group_digits = max(2, len(str(max(group for group, _, _ in plan))))
    videos = []
    for label, name in enumerate(class_names):
        for group, clip, split in plan:
            file_name = f"v_{name}_g{group:0{group_digits}d}_c{clip:02d}{container}"
            videos.append(SynthVideo(f"{name}/{file_name}", label, group, clip, split))

    for video in tqdm(videos, desc="synth", unit="video", disable=not progress):
        spec = specs[video.label]
        if family == "order":
            rng = np.random.default_rng([seed, order_content_key(video.label), video.group, video.clip])
            pixels = render_order_video(spec.name, frames, (width, height), rng)
        else:
            rng = np.random.default_rng([seed, video.label, video.group, video.clip])
            pixels = render_video(spec.motion, frames, (width, height), camera_motion, rng, kind=spec.kind,
                                  **spec.render)
        write_video(videos_dir / video.path, pixels, FPS, fourcc)

    class_factors = [{"name": c.name, "motion": c.motion, "kind": None if c.kind is None else KINDS[c.kind]}
                     for c in specs]
    info = DatasetInfo(out_dir=out_dir, videos_dir=videos_dir, classes=class_names, videos=videos, frames=frames,
                       size=(width, height), fps=FPS, camera_motion=camera_motion, seed=seed, container=container,
                       fourcc=fourcc, notes=notes, family=family, class_factors=class_factors)
    _write_lists(info)
    info.seconds = time.perf_counter() - started
    return info


def split_plan(videos_per_class: int, seed: int) -> list[tuple[int, int, str]]:
    """(group, clip, split) for each video of a class, both numbered from 1, sorted like UCF101.
    max(2, ceil(n / CLIPS_PER_GROUP)) groups take the videos in turn; round(30%) of the groups
    (at least one, never all) are test groups, drawn from the seed."""
    groups = max(2, math.ceil(videos_per_class / CLIPS_PER_GROUP))
    test_count = min(groups - 1, max(1, round(TEST_GROUP_FRACTION * groups)))
    chooser = np.random.default_rng([seed, SPLIT_STREAM])
    test_groups = {int(g) + 1 for g in chooser.choice(groups, size=test_count, replace=False)}
    plan = [(index % groups + 1, index // groups + 1) for index in range(videos_per_class)]
    return [(group, clip, "test" if group in test_groups else "train") for group, clip in sorted(plan)]


def write_video(path: str | Path, frames: np.ndarray, fps: float = FPS, fourcc: str = "mp4v") -> None:
    """Write (T, H, W, 3) uint8 RGB frames to a video file with OpenCV (parent folders created).
    Raises OSError if OpenCV cannot open a writer for that file and codec."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
    if not writer.isOpened():
        raise UserOSError(f"OpenCV cannot write {fourcc} video to {path}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def _prepare_out_dir(out_dir: Path, videos_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserValueError(f"output exists and is not a folder: {out_dir}")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise UserValueError(
                f"output folder is not empty: {out_dir} (overwrite=True / --overwrite replaces a dataset there)"
            )
        # Only what make_dataset writes is removed; stale videos would otherwise be picked up by
        # `flowkit extract OUT/videos`.
        if videos_dir.is_dir():
            shutil.rmtree(videos_dir)
        for name in LIST_FILES:
            (out_dir / name).unlink(missing_ok=True)
    create_output_folder(videos_dir)


def _choose_container(out_dir: Path, size: tuple[int, int]) -> tuple[str, str, list[str]]:
    """(".mp4", "mp4v") if this OpenCV writes mp4v that it reads back, else (".avi", "MJPG")."""
    from flowkit.video import VideoDecodeError, read_frames

    probe_frames = np.zeros((2, size[1], size[0], 3), np.uint8)
    probe_frames[1] = 200
    for container, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG")):
        probe_path = out_dir / f".synth-probe{container}"
        try:
            write_video(probe_path, probe_frames, FPS, fourcc)
            decoded = read_frames(probe_path, size=None)
            if decoded.shape == probe_frames.shape and abs(float(decoded[1].mean()) - 200) < 8:
                notes = [] if container == ".mp4" else ["mp4v writing failed here; wrote MJPG .avi instead"]
                return container, fourcc, notes
        except (OSError, VideoDecodeError):
            pass
        finally:
            probe_path.unlink(missing_ok=True)
    raise UserOSError("this OpenCV can neither write mp4v (.mp4) nor MJPG (.avi) videos")


def _write_lists(info: DatasetInfo) -> None:
    """classInd.txt, trainlist01.txt, testlist01.txt (CRLF, labels 1-based) and synth.json."""

    def write_crlf(name: str, lines: list[str]) -> None:
        (info.out_dir / name).write_bytes("".join(f"{line}\r\n" for line in lines).encode("utf-8"))

    write_crlf("classInd.txt", [f"{index + 1} {name}" for index, name in enumerate(info.classes)])
    write_crlf("trainlist01.txt", [f"{v.path} {v.label + 1}" for v in info.videos if v.split == "train"])
    write_crlf("testlist01.txt", [v.path for v in info.videos if v.split == "test"])
    fields = asdict(info)
    description = {"generator": "flowkit.synth.make_dataset", **{name: fields[name] for name in DESCRIBED_FIELDS}}
    (info.out_dir / "synth.json").write_text(json.dumps(description, indent=1) + "\n", encoding="utf-8")
