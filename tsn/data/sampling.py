"""Sparse segment sampling (TSN): which records of a video feed the network.

A video's `num_records` records (RGB frames, or flow pairs) are cut into K equal segments and
one snippet of L consecutive records is taken from each: at a random position in training, at
the centre of the segment at test time. The offsets follow tsn-pytorch's TSNDataSet
(`_sample_indices`, `_get_test_indices`) and mmaction2's SampleFrames, including their handling
of videos too short for K * L records; indices past the end repeat the last record
(tsn-pytorch's behaviour, mmaction2's `repeat_last`), so any video with at least one record
yields K full snippets.
"""

from __future__ import annotations

import numpy as np


def _check(num_records: int, segments: int, length: int) -> None:
    if segments < 1 or length < 1:
        raise ValueError(f"segments and snippet length must be >= 1, got {segments} and {length}")
    if num_records < 1:
        raise ValueError("a video with no records cannot be sampled")


def random_offsets(num_records: int, segments: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Start record of each segment's snippet in training -> (segments,) int64, non-decreasing.

    With room for every snippet (num_records - length + 1 >= segments) each start is uniform
    within its own segment of width (num_records - length + 1) // segments. Shorter videos:
    sorted random starts when num_records > max(segments, length), evenly spread starts when a
    snippet fits at all, zeros otherwise (then snippet_indices repeats the last record).
    """
    _check(num_records, segments, length)
    room = num_records - length + 1  # valid start positions
    width = room // segments
    if width > 0:
        return np.arange(segments, dtype=np.int64) * width + rng.integers(0, width, size=segments)
    if num_records > max(segments, length):
        return np.sort(rng.integers(0, room, size=segments)).astype(np.int64)
    if room > 0:
        # mmaction2 rounds here, which can start a snippet past the last full one; floor keeps
        # every start valid.
        return (np.arange(segments) * room // segments).astype(np.int64)
    return np.zeros(segments, dtype=np.int64)


def centred_offsets(num_records: int, segments: int, length: int) -> np.ndarray:
    """Start record of the snippet centred in each of `segments` equal segments -> (segments,)
    int64. Deterministic; all zeros when the video is shorter than one snippet."""
    _check(num_records, segments, length)
    room = num_records - length + 1
    if room <= 0:
        return np.zeros(segments, dtype=np.int64)
    tick = room / segments
    return np.array([int(tick / 2.0 + tick * k) for k in range(segments)], dtype=np.int64)


def snippet_indices(offsets: np.ndarray, length: int, num_records: int) -> np.ndarray:
    """Records of each snippet: (segments,) starts -> (segments, length) int64 record indices in
    [0, num_records - 1]; indices past the end repeat the last record."""
    offsets = np.asarray(offsets, dtype=np.int64)
    indices = offsets[:, None] + np.arange(length, dtype=np.int64)[None, :]
    return np.minimum(indices, num_records - 1)


def sample_indices(
    num_records: int, segments: int, length: int, train: bool, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Record indices for one video: (segments, length) int64 in [0, num_records - 1]. train
    picks a random snippet per segment (rng required), otherwise the centred one."""
    if train:
        if rng is None:
            raise ValueError("training sampling needs a random generator")
        offsets = random_offsets(num_records, segments, length, rng)
    else:
        offsets = centred_offsets(num_records, segments, length)
    return snippet_indices(offsets, length, num_records)


def contiguous_runs(indices: np.ndarray, max_gap: int = 1) -> list[np.ndarray]:
    """Split sorted unique record indices (U,) into runs whose neighbours differ by at most
    max_gap, so a reader fetches each run with one access instead of the whole span."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(indices) > max_gap) + 1
    return np.split(indices, cuts)
