"""Small Kinetics- and Something-Something-V2-style trees as users download them: the datasets' own
annotation files, clips named as their downloaders name them, landscape and portrait frames cut from
real photographs (scikit-image's) by a panning window."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
LANDSCAPE = (96, 54)  # (width, height), 16:9
PORTRAIT = (54, 96)


def photo_clip(index: int, frames: int, size: tuple[int, int], pan: tuple[int, int] = (2, 1)) -> np.ndarray:
    """(frames, H, W, 3) uint8 RGB: a window of size (width, height) over photo PHOTOS[index % 4]
    (scaled so the window covers a third of it), moving `pan` px per frame."""
    from skimage import data

    photo = getattr(data, PHOTOS[index % len(PHOTOS)])()
    width, height = size
    scale = 3 * max(width / photo.shape[1], height / photo.shape[0])
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x0 = (photo.shape[1] - width) // 2 - frames * pan[0] // 2
    y0 = (photo.shape[0] - height) // 2 - frames * pan[1] // 2
    return np.stack([photo[y0 + t * pan[1]: y0 + t * pan[1] + height, x0 + t * pan[0]: x0 + t * pan[0] + width]
                     for t in range(frames)])


def write_clip(path: Path, frames: np.ndarray, fps: float) -> Path:
    """Write RGB `frames` as a video (.mp4: mp4v, .webm: VP8) at `fps`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "VP80" if path.suffix == ".webm" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (frames.shape[2], frames.shape[1]))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


# (label, youtube_id, start, end, split, size, on disk): the annotated clips of the Kinetics tree.
KINETICS_CLIPS = [
    ("air drumming", "-3B32lodo2M", 59, 69, "train", LANDSCAPE, True),
    ("air drumming", "aD2_x1", 0, 10, "train", PORTRAIT, True),
    ("zumba", "zUmBa-00", 12, 22, "train", LANDSCAPE, True),
    ("zumba", "zUmBa-01", 3, 13, "train", PORTRAIT, True),
    ("air drumming", "valAir", 30, 40, "validate", LANDSCAPE, True),
    ("zumba", "valZumba", 7, 17, "validate", PORTRAIT, True),
    ("zumba", "goneFromYT", 1, 11, "train", LANDSCAPE, False),  # annotated, never downloaded
    ("", "testClip", 5, 15, "test", LANDSCAPE, True),
]
KINETICS_FRAMES = 8


def kinetics_tree(root: Path) -> tuple[Path, Path]:
    """Write `root/kinetics400/{train,val}/<label>/<id>_<start>_<end>.mp4` (test clips flat under
    test/) and `root/annotations/{train,validate,test}.csv`. Returns (videos folder, annotations)."""
    videos, annotations = root / "kinetics400", root / "annotations"
    annotations.mkdir(parents=True)
    rows: dict[str, list[list[str]]] = {"train": [], "validate": [], "test": []}
    for k, (label, youtube_id, start, end, split, size, on_disk) in enumerate(KINETICS_CLIPS):
        rows[split].append([label, youtube_id, str(start), str(end), split])
        if on_disk:
            stem = f"{youtube_id}_{start:06d}_{end:06d}.mp4"
            folder = videos / "test" if split == "test" else videos / ("train" if split == "train" else "val") / label
            write_clip(folder / stem, photo_clip(k, KINETICS_FRAMES, size), fps=30)
    for split, lines in rows.items():
        with (annotations / f"{split}.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            if split == "test":
                writer.writerow(["youtube_id", "time_start", "time_end", "split"])
                writer.writerows(line[1:] for line in lines)
            else:
                writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
                writer.writerows(lines)
    return videos, annotations


SSV2_TEMPLATES = {"Pushing something from left to right": "0", "Putting something on a surface": "1"}
# (id, subset, template index or None for test, size, on disk)
SSV2_CLIPS = [
    ("101", "train", 0, LANDSCAPE, True),
    ("102", "train", 1, PORTRAIT, True),
    ("103", "train", 0, PORTRAIT, True),
    ("104", "train", 1, LANDSCAPE, True),
    ("201", "validation", 0, LANDSCAPE, True),
    ("202", "validation", 1, PORTRAIT, True),
    ("299", "validation", 1, LANDSCAPE, False),  # listed, no file
    ("301", "test", None, LANDSCAPE, True),
]
SSV2_FRAMES = 8


def ssv2_tree(root: Path) -> tuple[Path, Path]:
    """Write `root/20bn-something-something-v2/<id>.webm` (12 fps, as distributed) and
    `root/ssv2-labels/{labels.json, something-something-v2-{train,validation,test}.json}`.
    Returns (videos folder, labels folder)."""
    videos, labels = root / "20bn-something-something-v2", root / "ssv2-labels"
    labels.mkdir(parents=True)
    (labels / "labels.json").write_text(json.dumps(SSV2_TEMPLATES))
    names = list(SSV2_TEMPLATES)
    lists: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for k, (clip_id, subset, template, size, on_disk) in enumerate(SSV2_CLIPS):
        if template is None:
            lists[subset].append({"id": clip_id})
        else:
            bracketed = names[template].replace("something", "[something]")
            lists[subset].append({"id": clip_id, "label": bracketed.replace("[something]", "a pen"),
                                  "template": bracketed, "placeholders": ["a pen"]})
        if on_disk:
            write_clip(videos / f"{clip_id}.webm", photo_clip(k + 1, SSV2_FRAMES, size, pan=(-2, 1)), fps=12)
    for subset, entries in lists.items():
        (labels / f"something-something-v2-{subset}.json").write_text(json.dumps(entries))
    return videos, labels
