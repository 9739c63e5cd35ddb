"""What every frame source shares: a store (flowkit.store.FlowStore) and rawframe folders
(tsn.data.RawFramesSource) offer the same read interface, so TSN's dataset runs on either."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np

from flowkit.errors import UserValueError
from flowkit.quantize import dequantize_flow
from flowkit.store import format as fmt
from flowkit.store.records import VideoRecord


class FrameSource(ABC):
    """Base of the read-only frame sources. A subclass sets, before use:

    path (Path, named in messages), videos (list[VideoRecord]), streams ({name: codec}),
    splits ({number: int8 array (V,) of SPLIT_* codes}), classes (list[str]), and a `bound`
    (float pixels, the flow quantization bound); and implements read_encoded / read.
    """

    path: Path
    videos: list[VideoRecord]
    streams: dict[str, str]
    splits: dict[int, np.ndarray]
    classes: list[str]
    bound: float

    def __len__(self) -> int:
        return len(self.videos)

    def num_records(self, video: int, stream: str) -> int:
        """Records (frames, or flow pairs) video `video` has in `stream`."""
        self._check_stream(stream)
        return fmt.stream_length(stream, self.videos[video].num_frames)

    def _check_stream(self, stream: str) -> None:
        if stream not in self.streams:
            raise UserValueError(f"{self.path} has no stream {stream!r}; it has {', '.join(self.streams) or 'none'}")

    def _record_indices(self, stream: str, video: int, indices: Sequence[int]) -> list[int]:
        """`indices` as ints, checked against the records `video` has in `stream` (IndexError)."""
        length = self.num_records(video, stream)
        indices = [int(i) for i in indices]
        if indices and (min(indices) < 0 or max(indices) >= length):
            raise IndexError(f"video {self.videos[video].name!r} has {length} records in {stream}; asked for {indices}")
        return indices

    @abstractmethod
    def read_encoded(self, stream: str, video: int, indices: Sequence[int]) -> list[np.ndarray]:
        """Encoded records (1-D uint8 arrays of file bytes) of `video`'s records `indices` in `stream`."""

    @abstractmethod
    def read(self, stream: str, video: int, indices: Sequence[int]) -> np.ndarray:
        """Decoded records: rgb -> (T, H, W, 3) uint8 RGB; flow/warp streams -> (T, H, W) uint8
        quantized flow (see read_flow for pixels)."""

    def read_flow(self, video: int, indices: Sequence[int], warped: bool = False) -> np.ndarray:
        """Flow of pairs `indices` de-quantized with the source's bound: (T, 2, H, W) float32 pixels,
        x then y. warped selects the camera-motion-compensated streams."""
        sx, sy = (fmt.WARP_X, fmt.WARP_Y) if warped else (fmt.FLOW_X, fmt.FLOW_Y)
        quantized = np.stack([self.read(sx, video, indices), self.read(sy, video, indices)], axis=1)
        return dequantize_flow(quantized, self.bound)

    def _no_split_hint(self) -> str:
        """What to do about a missing split, appended to its error ('' when nothing can be said)."""
        return ""

    def split_videos(self, split: int, subset: str) -> list[int]:
        """Indices of the ok videos in `subset` ('train' or 'test') of split `split`."""
        if subset not in ("train", "test"):
            raise UserValueError(f"subset must be 'train' or 'test', got {subset!r}")
        if split not in self.splits:
            have = ", ".join(map(str, sorted(self.splits))) or "none"
            raise UserValueError(f"{self.path} has no split {split} (splits stored: {have}){self._no_split_hint()}")
        code = fmt.SPLIT_TRAIN if subset == "train" else fmt.SPLIT_TEST
        membership = self.splits[split]
        return [i for i, r in enumerate(self.videos) if membership[i] == code and r.status == fmt.STATUS_OK]
