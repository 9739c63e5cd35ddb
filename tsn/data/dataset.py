"""TSNDataset: segment-sampled, augmented clips of one split of a flowkit store.

Item i is video i of the split: K snippets sampled (tsn.data.sampling), records decoded from
the store, cropped / resized / flipped (tsn.data.transforms) and normalized per modality
(tsn.data.modalities). The store handle is opened lazily per process, so the dataset can go
to DataLoader workers (tsn.data.loader.build_loader seeds them).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from torch.utils.data import Dataset

from flowkit.errors import UserValueError
from flowkit.store.errors import DamagedRecordError
from tsn.choices import DECODE_MODES
from tsn.data import transforms as T
from tsn.data.device_decode import EncodedClip, encode_clip_records
from tsn.data.loader import SkippedClip
from tsn.data.modalities import get_modality
from tsn.data.presets import TestCrops, TrainCrops
from tsn.data.sampling import contiguous_runs, sample_indices


def _open(store):
    if isinstance(store, (str, os.PathLike)):
        from flowkit.store import open_store

        return open_store(store)
    return store


def _jpeg_size(buffer: np.ndarray) -> tuple[int, int]:
    """(width, height) from a JPEG's header, without decoding it."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(buffer.tobytes())) as image:
        return image.size


class TSNDataset(Dataset):
    """Clips of `subset` ('train' | 'test') of split `split` of `store` (a FlowStore, a path to
    one, or a RawFramesSource) for `modality` (rgb, rgbdiff, flow, warp).

    preset (tsn.data.presets; default TrainCrops() for 'train', TestCrops() otherwise) decides
    the augmentation: a TrainCrops picks random snippets and a random multi-scale corner crop
    with flip; a TestCrops centred snippets and its 1 or 10 test crops. Item: (clip, label),
    clip float32 (crops * segments, C, input_size, input_size), crop-major
    (clip.view(crops, segments, C, s, s)), C = modality channels (rgb 3, rgbdiff 15, flow/warp
    10), label int (-1 when unknown). With decode='device' the item is an EncodedClip for
    tsn.data.device_decode.decode_batch (JPEG streams only; zstd and PNG streams, zstd being the
    default for flow, fall back to 'cpu' with a warning, see `decode_note`).

    Videos without a single record of the modality's stream (a 1-frame video has no flow) are
    left out and listed in `skipped`. `names` and `labels` give the kept videos in item order.

    A damaged record (flowkit.store.errors.DamagedRecordError, naming the store, video, stream and
    frame) stops the caller by default; with skip_damaged the item is a SkippedClip instead, which
    build_loader's batches carry separately (tsn.data.loader.split_skipped) to be counted.
    """

    def __init__(
        self,
        store,
        split: int = 1,
        subset: str = "train",
        modality: str = "rgb",
        segments: int = 3,
        preset: TrainCrops | TestCrops | None = None,
        decode: str = "cpu",
        seed: int = 0,
        skip_damaged: bool = False,
    ):
        self.store = _open(store)
        self.skip_damaged = bool(skip_damaged)
        self.modality = get_modality(modality)
        self.split, self.subset = int(split), subset
        self.segments = int(segments)
        self.preset = (TrainCrops() if subset == "train" else TestCrops()) if preset is None else preset
        if not isinstance(self.preset, (TrainCrops, TestCrops)):
            raise TypeError(f"preset must be a TrainCrops or TestCrops, got {type(preset).__name__}")
        if self.segments < 1:
            raise UserValueError(f"segments must be >= 1, got {segments}")
        if decode not in DECODE_MODES:
            raise UserValueError(f"decode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
        missing = [s for s in self.modality.streams if s not in self.store.streams]
        if missing:
            have = ", ".join(self.store.streams) or "none"
            raise UserValueError(f"{self.store.path} has no stream {', '.join(missing)} needed by "
                                 f"modality {modality!r}; it has {have}")
        self.decode, self.decode_note = decode, ""
        if decode == "device":
            not_jpeg = [s for s in self.modality.streams if self.store.streams[s] != "jpeg"]
            if not_jpeg:
                self.decode = "cpu"
                self.decode_note = (
                    f"streams {', '.join(not_jpeg)} are not JPEG ({self.store.streams[not_jpeg[0]]}); "
                    "decoding them in the loader workers on the CPU instead of on the device"
                )
                warnings.warn(self.decode_note, stacklevel=2)
        stream = self.modality.record_stream
        candidates = self.store.split_videos(self.split, subset)
        self.video_ids = [v for v in candidates if self.store.num_records(v, stream) > 0]
        self.skipped = [self.store.videos[v].name for v in candidates if self.store.num_records(v, stream) == 0]
        if not self.video_ids:
            raise UserValueError(f"split {self.split} of {self.store.path} has no {subset} videos with "
                                 f"{modality} records")
        self.names = [self.store.videos[v].name for v in self.video_ids]
        self.labels = [int(self.store.videos[v].label) for v in self.video_ids]
        self.bound = float(self.store.bound)
        self.reseed(seed)

    @property
    def classes(self) -> list[str]:
        return list(self.store.classes)

    @property
    def train(self) -> bool:
        """Whether items are drawn at random (a TrainCrops preset) or deterministic."""
        return self.preset.train

    @property
    def crops(self) -> int:
        """Crops per snippet in an item (1, or 10 for TestCrops(crops=10))."""
        return self.preset.crops

    @property
    def input_size(self) -> int:
        """Side of the square crops, pixels."""
        return self.preset.input_size

    def reseed(self, seed: int) -> None:
        """Restart the sampling / augmentation random stream (build_loader does it per worker)."""
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.video_ids)

    def sample(self, index: int) -> np.ndarray:
        """Record indices of item `index`: (segments, L) int64 (random in training)."""
        video = self.video_ids[index]
        count = self.store.num_records(video, self.modality.record_stream)
        return sample_indices(count, self.segments, self.modality.snippet_length, self.train, self._rng)

    def boxes(self, image_w: int, image_h: int) -> list[T.CropBox]:
        """The crops of one item for frames of image_w x image_h (random in training)."""
        return self.preset.boxes(image_w, image_h, self._rng)

    def read_records(self, video: int, indices: np.ndarray) -> list[np.ndarray]:
        """Decoded records of `video`, one array per stream of the modality: indices (U,) ->
        rgb [(U, H, W, 3) uint8 RGB], flow/warp [(U, H, W) x, (U, H, W) y] uint8 quantized."""
        # Sparse snippets: read each run of consecutive records on its own rather than the
        # span from the first to the last (a whole video for 3 RGB frames).
        runs = contiguous_runs(indices)
        return [np.concatenate([self.store.read(s, video, run) for run in runs]) for s in self.modality.streams]

    def __getitem__(self, index: int):
        try:
            return self._item(index)
        except DamagedRecordError as error:
            if not self.skip_damaged:
                raise
            return SkippedClip(index, str(error))

    def _item(self, index: int):
        video = self.video_ids[index]
        indices = self.sample(index)
        unique, order = np.unique(indices.reshape(-1), return_inverse=True)
        if self.decode == "device":
            return self._encoded_item(video, index, unique, order)
        planes = self.read_records(video, unique)
        boxes = self.boxes(planes[0].shape[2], planes[0].shape[1])
        return self._finish(planes, boxes, order), self.labels[index]

    def _finish(self, planes: list[np.ndarray], boxes: list[T.CropBox], order: np.ndarray) -> torch.Tensor:
        m, s = self.modality, self.input_size
        crops = []
        for box in boxes:
            # Crop the unique records, then expand repeats (short videos) by `order`; flow x
            # and y stay separate planes until they are small.
            cropped = [T.crop_records(p, box, s) for p in planes]
            if m.flow_x_channel is not None:  # m.is_flow
                if box.flip:
                    T.negate_quantized(cropped[m.flow_x_channel])
                records = torch.from_numpy(np.stack(cropped, axis=1))  # (U, 2, s, s)
            else:
                records = torch.from_numpy(cropped[0]).permute(0, 3, 1, 2)  # (U, 3, s, s)
            snippets = records[torch.from_numpy(order)].reshape(self.segments, m.snippet_length, m.record_channels,
                                                                s, s)
            crops.append(m.to_input(snippets, self.bound))
        return torch.cat(crops)

    def _encoded_item(self, video: int, index: int, unique: np.ndarray, order: np.ndarray) -> EncodedClip:
        runs = contiguous_runs(unique)
        records = {s: [b for run in runs for b in self.store.read_encoded(s, video, run)]
                   for s in self.modality.streams}
        image_w, image_h = _jpeg_size(records[self.modality.streams[0]][0])
        boxes = self.boxes(image_w, image_h)
        data, lengths, streams = encode_clip_records(records)
        return EncodedClip(
            data=data,
            lengths=lengths,
            streams=streams,
            order=order.astype(np.int64),
            boxes=np.array([b.as_tuple() for b in boxes], dtype=np.int64).reshape(-1, 5),
            label=self.labels[index],
            modality=self.modality.name,
            segments=self.segments,
            preset=self.preset,
            bound=self.bound,
        )
