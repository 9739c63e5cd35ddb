"""Rawframe folders (dense_flow / tsn-pytorch / mmaction2 layout) as a frame source.

One folder per video with 1-based files img_00001.jpg (RGB), flow_x_00001.jpg / flow_y_00001.jpg
(quantized flow components, pair t -> t+1) and warp_x_/warp_y_ for warped flow, one file per
record, read with OpenCV per file. RawFramesSource shares FlowStore's base class
(flowkit.store.source.FrameSource), so the same dataset, sampling and augmentation run on either source; it
exists to compare loaders (benchmarks/loader_throughput.py) and to read legacy datasets.
flowkit.rawframes converts between this layout and stores (export_rawframes writes the folders
and the mmaction2 list files from_list_files reads); file names follow its frame_file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from flowkit.errors import UserOSError
from flowkit.quantize import DEFAULT_BOUND
from flowkit.rawframes import frame_file
from flowkit.store import format as fmt
from flowkit.store.names import safe_join
from flowkit.store.records import VideoRecord
from flowkit.store.source import FrameSource


class RawFramesSource(FrameSource):
    """Read-only rawframe folders under `root`, one split.

    train, test: lists of (folder relative to root, num_frames, label) with num_frames the RGB
    frames (flow folders hold num_frames - 1 records per component). bound: the flow
    quantization bound B in pixels the flow JPEGs were written with. Streams are those whose
    first file exists in the first video's folder.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        train: Sequence[tuple[str, int, int]] = (),
        test: Sequence[tuple[str, int, int]] = (),
        classes: Sequence[str] | None = None,
        bound: float = DEFAULT_BOUND,
        split: int = 1,
    ):
        self.path = Path(root)
        entries = [(e, fmt.SPLIT_TRAIN) for e in train] + [(e, fmt.SPLIT_TEST) for e in test]
        self.videos = [
            VideoRecord(name=str(n), label=int(label), num_frames=int(frames)) for (n, frames, label), _ in entries
        ]
        self._folders = [safe_join(self.path, v.name) for v in self.videos]
        self.splits = {int(split): np.array([code for _, code in entries], dtype=np.int8)}
        labels = [v.label for v in self.videos]
        self.classes = list(classes) if classes is not None else [str(c) for c in range(max(labels, default=-1) + 1)]
        self.bound = float(bound)
        first = self._folders[0] if self._folders else self.path
        self.streams = {s: "jpeg" for s in fmt.ALL_STREAMS if (first / frame_file(s, 0)).is_file()}

    @classmethod
    def from_list_files(
        cls, root, train_list, test_list, classes=None, bound: float = DEFAULT_BOUND
    ) -> "RawFramesSource":
        """Build from mmaction2-style list files, lines `frame_dir total_frames label`."""

        def parse(path):
            rows = []
            for line in Path(path).read_text().splitlines():
                if line.strip():
                    folder, frames, label = line.split()
                    rows.append((folder, int(frames), int(label)))
            return rows

        return cls(root, parse(train_list), parse(test_list), classes, bound)

    def _files(self, stream: str, video: int, indices: Sequence[int]) -> list[Path]:
        return [self._folders[video] / frame_file(stream, i) for i in self._record_indices(stream, video, indices)]

    def read_encoded(self, stream: str, video: int, indices: Sequence[int]) -> list[np.ndarray]:
        """The JPEG files of records `indices`: list of 1-D uint8 arrays."""
        return [np.fromfile(path, dtype=np.uint8) for path in self._files(stream, video, indices)]

    def read(self, stream: str, video: int, indices: Sequence[int]) -> np.ndarray:
        """Decoded records, one cv2.imread per file: rgb -> (T, H, W, 3) uint8 RGB, flow
        streams -> (T, H, W) uint8 quantized flow."""
        import cv2

        frames = []
        for path in self._files(stream, video, indices):
            if stream == fmt.RGB:
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                image = None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            else:
                image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise UserOSError(f"cannot read {path}")
            frames.append(image)
        if not frames:
            raise IndexError("no frames requested")
        return np.stack(frames)
