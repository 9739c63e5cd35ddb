"""The frame-index arithmetic of the two loaders people point at rawframe exports, re-implemented from
reading their code (not copied): which files a video's list entry makes them open.

- yjxiong/tsn-pytorch `dataset.py` TSNDataSet: `_sample_indices` (training, random_shift),
  `_get_val_indices` (random_shift=False), `_get_test_indices` (test_mode), 1-based starts
  (offset + 1), and `get`, which reads new_length files from each start, advancing while the index
  is below the list's frame count (RGBDiff reads new_length + 1). Flow files:
  image_tmpl.format('x', idx) and ('y', idx) with image_tmpl 'flow_{}_{:05d}.jpg'.
- open-mmlab/mmaction2 1.x `SampleFrames` (_get_train_clips, _get_test_clips, keep_tail_frames,
  twice_sample, out_of_bound_opt 'loop' / 'repeat_last') then `RawframeDataset` + `RawFrameDecode`:
  frame_inds + start_index (1), filename_tmpl.format(idx) for RGB, .format('x' | 'y', idx) for Flow.

Random draws come from `draw(high)` -> an int in [0, high) (numpy's randint(high)), and
`uniform(low, high)` for keep_tail_frames, so tests can take the lowest, highest and random draws.
"""

from __future__ import annotations

import numpy as np


def tsn_pytorch_starts(num_frames: int, num_segments: int, new_length: int, mode: str, draw) -> list[int]:
    """1-based snippet starts TSNDataSet picks for a list entry of `num_frames` frames; mode
    'train' | 'val' | 'test'. Raises ValueError where tsn-pytorch's numpy randint would (high <= 0)."""
    span = num_frames - new_length + 1
    if mode == "train":
        average = span // num_segments
        if average > 0:
            starts = [segment * average + draw(average) for segment in range(num_segments)]
        elif num_frames > num_segments:
            if span <= 0:
                raise ValueError("high <= 0")  # randint(span) in _sample_indices
            starts = sorted(draw(span) for _ in range(num_segments))
        else:
            starts = [0] * num_segments
    elif mode == "val" and num_frames <= num_segments + new_length - 1:
        starts = [0] * num_segments
    else:  # val with enough frames, and test: the middle of each of num_segments equal parts
        tick = span / float(num_segments)
        starts = [int(tick / 2.0 + tick * segment) for segment in range(num_segments)]
    return [start + 1 for start in starts]


def tsn_pytorch_indices(num_frames: int, starts: list[int], new_length: int) -> list[int]:
    """File indices TSNDataSet.get opens: new_length from each start, the index advancing only
    while it is below num_frames (so it repeats the last listed frame instead of passing it)."""
    indices = []
    for start in starts:
        index = start
        for _ in range(new_length):
            indices.append(index)
            if index < num_frames:
                index += 1
    return indices


def mmaction_frame_inds(total_frames: int, clip_len: int, num_clips: int, test_mode: bool, draw, uniform=None,
                        frame_interval: int = 1, twice_sample: bool = False, out_of_bound_opt: str = "loop",
                        keep_tail_frames: bool = False, start_index: int = 1) -> list[int]:
    """File indices mmaction2's SampleFrames + RawFrameDecode open for a list entry of
    `total_frames` frames (start_index 1 = RawframeDataset's default)."""
    if test_mode:
        clip_span = (clip_len - 1) * frame_interval + 1
        if clip_len == 1:
            interval = total_frames / float(num_clips)
            base = np.arange(num_clips) * interval
            offsets = base + interval / 2.0
            if twice_sample:
                offsets = np.concatenate([offsets, base])
        else:
            max_offset = max(total_frames - clip_span, 0)
            count = num_clips * (2 if twice_sample else 1)
            if count > 1:
                offsets = np.round(np.arange(count) * (max_offset / float(num_clips - 1)))
            else:
                offsets = np.array([max_offset // 2])
    else:
        clip_span = clip_len * frame_interval
        if keep_tail_frames:
            interval = (total_frames - clip_span + 1) / float(num_clips)
            if total_frames > clip_span - 1:
                jittered = [segment * interval + uniform(0, interval) for segment in range(num_clips)]
                offsets = np.array(jittered).astype(np.int32)
            else:
                offsets = np.zeros(num_clips, np.int32)
        else:
            interval = (total_frames - clip_span + 1) // num_clips
            if interval > 0:
                offsets = np.array([segment * interval + draw(interval) for segment in range(num_clips)])
            elif total_frames > max(num_clips, clip_span):
                offsets = np.sort([draw(total_frames - clip_span + 1) for _ in range(num_clips)])
            elif interval == 0:
                offsets = np.around(np.arange(num_clips) * ((total_frames - clip_span + 1.0) / num_clips))
            else:
                offsets = np.zeros(num_clips, np.int32)
    inds = (np.asarray(offsets)[:, None] + np.arange(clip_len)[None, :] * frame_interval).reshape(-1, clip_len)
    if out_of_bound_opt == "loop":
        inds = np.mod(inds, total_frames)
    else:  # repeat_last: out-of-range positions take the clip's last in-range index
        inside = inds < total_frames
        last = np.max(inside * inds, axis=1)
        inds = inside * inds + (~inside) * last[:, None]
    return [int(i) for i in (inds.reshape(-1) + start_index).astype(np.int32)]


def draws(seed: int = 0, random_draws: int = 20):
    """(name, draw, uniform) triples: always the lowest value, always the highest, then seeded
    random ones; the indices are monotone in the draws, so the extremes bound every outcome."""
    yield "lowest", (lambda high: 0), (lambda low, high: low)
    yield "highest", (lambda high: high - 1), (lambda low, high: np.nextafter(high, low))
    rng = np.random.default_rng(seed)
    for k in range(random_draws):
        yield f"random{k}", (lambda high: int(rng.integers(high))), (lambda low, high: float(rng.uniform(low, high)))
