"""--fps: which frames resampling by timestamps keeps (flowkit.resample's rule against a brute-force
oracle, variable frame rate included), and that decoding real videos applies it, then --step."""

import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import opencv_frames, textured_frames, write_vfr_mkv, write_video
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.resample import FpsSelector, select_by_fps, tolerance
from flowkit.store import FlowStore
from flowkit.video import VideoDecodeError, _timestamp, read_frames


def _oracle(timestamps, fps):
    """For each output time k / F up to the last timestamp, the first frame at or after it, give or
    take flowkit.resample's tolerance (a set: times sharing a frame keep it once)."""
    start, early = timestamps[0], tolerance(fps)
    kept = set()
    k = 0
    while start + k / fps <= timestamps[-1] + early:
        kept.add(next(i for i, t in enumerate(timestamps) if t - start >= k / fps - early))
        k += 1
    return sorted(kept)


@pytest.mark.parametrize("source_fps, fps, expected", [
    (30, 10, [0, 3, 6, 9, 12, 15, 18]),
    (25, 12.5, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]),
    (30, 12.5, [0, 3, 5, 8, 10, 12, 15, 17]),
    (30, 30, list(range(20))),
    (10, 30, list(range(20))),  # a slower source: every frame once, never duplicated
])
def test_constant_rates(source_fps, fps, expected):
    timestamps = [i / source_fps for i in range(20)]
    assert select_by_fps(timestamps, fps) == expected == _oracle(timestamps, fps)
    # Timestamps in milliseconds, as WebM / Matroska keep them (33, 67, 100), land on the same frames.
    assert select_by_fps([round(t * 1000) / 1000 for t in timestamps], fps) == expected


def test_variable_frame_rate_matches_the_oracle():
    rng = np.random.default_rng(0)
    for _ in range(50):
        gaps = rng.choice([1 / 60, 1 / 30, 1 / 24, 0.2], size=60, p=[0.3, 0.4, 0.2, 0.1])
        timestamps = list(0.5 + np.concatenate([[0], np.cumsum(gaps)]))  # a stream starting at 0.5 s
        for fps in (5, 10, 12.5, 24, 30, 60):
            kept = select_by_fps(timestamps, fps)
            assert kept == _oracle(timestamps, fps)
            assert len(set(kept)) == len(kept) and kept[0] == 0


def test_a_pause_keeps_the_frame_after_it_once_and_backward_stamps_are_dropped():
    # 10 fps, then nothing for 1 s, then 10 fps again; resampled to 5 fps.
    timestamps = [0.0, 0.1, 0.2, 0.3, 1.3, 1.4, 1.5, 1.6]
    # Output times 0.4 .. 1.2 s all fall on frame 4 (1.3 s): kept once; then 1.4 s -> 5, 1.6 s -> 7.
    assert select_by_fps(timestamps, 5) == [0, 2, 4, 5, 7] == _oracle(timestamps, 5)
    # A timestamp going back counts as the previous one: it never opens an output time.
    assert select_by_fps([0.0, 0.2, 0.1, 0.4], 5) == [0, 1, 3]
    with pytest.raises(ValueError, match="positive"):
        FpsSelector(0)


class _FakeCapture:
    def __init__(self, milliseconds):
        self.milliseconds = milliseconds

    def get(self, prop):
        return self.milliseconds


def test_missing_timestamps_fall_back_to_the_container_rate():
    assert _timestamp(_FakeCapture(400.0), 10, 25.0, "v") == 0.4  # the decoder's own
    assert _timestamp(_FakeCapture(0.0), 0, 25.0, "v") == 0.0
    assert _timestamp(_FakeCapture(0.0), 10, 25.0, "v") == 0.4  # none after frame 0: index / fps
    with pytest.raises(VideoDecodeError, match="no frame timestamps and no frame rate"):
        _timestamp(_FakeCapture(-1.0), 3, 0.0, "v")


@pytest.mark.parametrize("source_fps, fps, step, kept", [
    (30, 10, 1, [0, 3, 6, 9]),
    (30, 10, 2, [0, 6]),          # --step after --fps: every 2nd of the resampled frames
    (25, 12.5, 1, [0, 2, 4, 6, 8, 10]),
    (30, 60, 1, list(range(12))),  # faster than the source: all frames, no duplicates
])
def test_decoding_resamples_written_videos(tmp_path, source_fps, fps, step, kept):
    video = write_video(tmp_path / "v.mp4", frames=12, size=(48, 32), fps=source_fps)
    frames = read_frames(video, size=None, fps=fps, step=step)
    oracle = opencv_frames(video)
    assert len(frames) == len(kept) and (frames == oracle[kept]).all()
    assert len(read_frames(video, size=None, fps=fps, step=step, max_frames=2)) == min(2, len(kept))


@pytest.mark.parametrize("times_ms, fps, kept", [
    ([0, 10, 20, 100, 110, 300, 310, 320, 500, 700], 10, [0, 3, 5, 8, 9]),  # variable frame rate
    ([round(i * 1000 / 30) for i in range(10)], 30, list(range(10))),  # 30 fps in whole ms: 33, 67, 100
    ([round(i * 1000 / 30) for i in range(10)], 10, [0, 3, 6, 9]),
])
def test_decoding_resamples_a_variable_frame_rate_file_by_its_timestamps(tmp_path, times_ms, fps, kept):
    video = write_vfr_mkv(tmp_path / "vfr.mkv", textured_frames(len(times_ms), (48, 32)), times_ms)
    assert select_by_fps([t / 1000 for t in times_ms], fps) == kept
    frames = read_frames(video, size=None, fps=fps)
    oracle = opencv_frames(video)
    assert len(oracle) == len(times_ms) and len(frames) == len(kept) and (frames == oracle[kept]).all()


def test_extract_with_fps_records_the_rate(tmp_path):
    from cli.flowkit_app import main

    video = write_video(tmp_path / "clips" / "v.mp4", frames=12, size=(48, 32), fps=30)
    out = tmp_path / "f.h5"
    result = CliRunner().invoke(main, ["extract", str(video), "-o", str(out), "--workers", "0", "--algo", "farneback",
                                       "--size", "48x32", "--fps", "10"])
    assert result.exit_code == 0, result.output
    with FlowStore(out) as store:
        assert store.attrs["fps"] == 10.0 and store.videos[0].num_frames == 4 and store.videos[0].fps == 30.0
    result = CliRunner().invoke(main, ["extract", str(video), "-o", str(out), "--fps", "0", "--overwrite"])
    assert result.exit_code == 2 and "fps must be a positive number" in result.output, result.output
    summary = extract([video], tmp_path / "g.h5", ContentOptions(size=(48, 32), fps=10, step=2, algo="farneback"),
                      RunOptions(workers=0, progress=False))
    assert summary.frames == 2
