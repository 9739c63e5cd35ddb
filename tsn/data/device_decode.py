"""Batch JPEG decode on the training device (torchvision.io.decode_jpeg, nvJPEG on CUDA).

In this mode a loader worker only reads bytes and draws the augmentation: TSNDataset returns an
EncodedClip (the JPEG records it sampled plus the crop boxes), collate_encoded gathers a batch,
and decode_batch decodes every JPEG of the batch in one call on the device, then crops,
resizes, flips and normalizes there. The result equals the CPU path's up to JPEG decoder and
resize rounding (a fraction of a uint8 level). Only JPEG streams can be decoded this way; the
dataset falls back to worker (CPU) decode for streams of other codecs (zstd, flowkit's default for
flow, and PNG).

A clip crosses from a loader worker to the main process as one tensor whatever its length: each
tensor that crosses holds a shared-memory file descriptor until it is freed, and one per JPEG record
(about 30 per flow clip, times batch, prefetch and workers) passes the usual limit of 1,024 open files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tsn.data.modalities import get_modality
from tsn.data.presets import TestCrops, TrainCrops
from tsn.data.transforms import CropBox

if TYPE_CHECKING:  # torch is imported where batches are decoded
    import torch


@dataclass
class EncodedClip:
    """One video's sampled records, still encoded.

    data: 1-D uint8 torch tensor, the U unique records read of every stream (JPEG files), stream
    after stream in `streams` order, concatenated: the one tensor of the clip. lengths: (streams, U)
    int64 numpy, each record's bytes (clip_records splits data by them). order: (segments * L,)
    int64 numpy, position in the U records of each snippet record (segment-major). boxes: (crops, 5)
    int64 numpy of CropBox.as_tuple() rows, drawn by the dataset's `preset` in the worker;
    decode_batch resizes them to preset.input_size. label: int. modality, segments, bound: the rest
    of what decode_batch needs to finish the clip. (numpy arrays are pickled with the clip; only
    tensors travel through shared memory.)
    """

    data: torch.Tensor
    lengths: np.ndarray
    streams: tuple[str, ...]
    order: np.ndarray
    boxes: np.ndarray
    label: int
    modality: str
    segments: int
    preset: TrainCrops | TestCrops
    bound: float


def encode_clip_records(records: dict) -> tuple:
    """{stream: list of U 1-D uint8 numpy records} -> (data 1-D uint8 tensor, lengths (streams, U)
    int64 numpy, streams tuple): EncodedClip's form."""
    import torch

    streams = tuple(records)
    lengths = np.array([[len(b) for b in records[s]] for s in streams], dtype=np.int64).reshape(len(streams), -1)
    data = np.concatenate([np.asarray(b, dtype=np.uint8).reshape(-1) for s in streams for b in records[s]])
    return torch.from_numpy(data), lengths, streams


def clip_records(clip: EncodedClip) -> dict:
    """{stream: list of U 1-D uint8 tensors (views of clip.data)}: the clip's records split again."""
    import torch

    pieces = torch.split(clip.data, clip.lengths.reshape(-1).tolist())
    count = clip.lengths.shape[1]
    return {s: list(pieces[k * count : (k + 1) * count]) for k, s in enumerate(clip.streams)}


@dataclass
class EncodedBatch:
    """A batch of EncodedClip (a list) plus labels, (B,) int64 tensor."""

    clips: list
    labels: torch.Tensor

    def pin_memory(self) -> "EncodedBatch":
        # Record tensors are small and decoded on the device; pinning them buys nothing.
        return self


def collate_encoded(samples: list[EncodedClip]) -> EncodedBatch:
    """DataLoader collate_fn for EncodedClip samples."""
    import torch

    return EncodedBatch(list(samples), torch.tensor([s.label for s in samples], dtype=torch.int64))


def _decode_stream(buffers: list, stream: str, device):
    import warnings

    from torchvision.io import ImageReadMode, decode_jpeg

    mode = ImageReadMode.RGB if stream == "rgb" else ImageReadMode.GRAY
    with warnings.catch_warnings():
        # torchvision 0.29 marks its image codecs deprecated in favour of TorchCodec; they work,
        # and are what this mode is built on, so one warning per batch would only be noise.
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(buffers, mode=mode, device=device)


def _crop_resize(frames, box: CropBox, input_size: int, flow_x_channel):
    """frames (U, c, H, W) uint8 on the device -> (U, c, s, s) float32 in uint8 units."""
    import torch.nn.functional as F

    region = frames[:, :, box.y : box.y + box.h, box.x : box.x + box.w].float()
    if (box.w, box.h) != (input_size, input_size):
        region = F.interpolate(region, size=(input_size, input_size), mode="bilinear", align_corners=False)
    if box.flip:
        region = region.flip(-1)
        if flow_x_channel is not None:
            region[:, flow_x_channel] = 255.0 - region[:, flow_x_channel]
    return region


def decode_batch(batch: EncodedBatch, device) -> tuple:
    """Decode, crop, resize, flip and normalize a batch on `device` (e.g. "cuda"; "cpu" works
    too). Returns (clips, labels): clips float32 (B, crops * segments, C, s, s) crop-major, as
    TSNDataset's CPU path, labels (B,) int64, both on `device`."""
    import torch

    clips = batch.clips
    if not clips:
        raise ValueError("empty batch")
    streams = clips[0].streams
    records = [clip_records(clip) for clip in clips]
    decoded = {}
    for stream in streams:
        buffers = [buf for clip in records for buf in clip[stream]]
        decoded[stream] = _decode_stream(buffers, stream, device)
    outputs, position = [], 0
    for clip in clips:
        modality = get_modality(clip.modality)
        count = clip.lengths.shape[1]
        # (U, c, H, W): rgb's 3 channels, or flow x and y stacked as 2 channels.
        planes = [torch.stack(decoded[s][position : position + count]) for s in streams]
        frames = torch.cat(planes, dim=1)
        position += count
        order = torch.from_numpy(clip.order).to(frames.device)
        crops = []
        for row in clip.boxes.tolist():
            box = CropBox(row[0], row[1], row[2], row[3], bool(row[4]))
            s = clip.preset.input_size
            region = _crop_resize(frames, box, s, modality.flow_x_channel)[order]
            region = region.reshape(clip.segments, modality.snippet_length, modality.record_channels, s, s)
            crops.append(modality.to_input(region, clip.bound))
        outputs.append(torch.cat(crops))
    return torch.stack(outputs), batch.labels.to(device)
