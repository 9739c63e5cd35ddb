"""`flowkit extract` end to end in this process (workers=0): what is stored is what OpenCV decodes
and what the flow engine computes, bad videos are reported while the others complete, names stay
inside their folders, and bad options are one-line errors."""

import json
import re

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import make_tree, opencv_frames, store_content, write_video
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.extract.jobs import default_output, part_filename, plan_jobs
from flowkit.extract.parts import parts_dir_for, prepare_parts_dir
from flowkit.quantize import quantization_step
from flowkit.store import FlowStore
from flowkit.store.codec import DEFAULT_JPEG_QUALITY, decode_image, encode_image
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, STATUS_FAILED, STATUS_OK
from flowkit.store.names import safe_join

SIZE = (64, 48)
FAST_TVL1 = dict(nscales=3, warps=2, inner_iterations=5, outer_iterations=1)
INLINE = RunOptions(workers=0, progress=False)


def _cli(args):
    from cli.flowkit_app import main

    return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos") / "clips"
    return root, make_tree(root, {"Run/v_Run_g01_c01": 9, "Run/v_Run_g02_c01": 14, "Walk/v_Walk_g01_c01": 11})


def test_store_holds_opencv_frames_and_engine_flow(videos, tmp_path):
    from flowkit.flow import TVL1Engine

    root, paths = videos
    summary = extract([root], tmp_path / "out.h5", ContentOptions(size=SIZE, flow_params=FAST_TVL1), INLINE)
    assert (summary.videos_ok, summary.videos_failed) == (3, 0)
    store = FlowStore(tmp_path / "out.h5")
    assert [v.name for v in store.videos] == sorted(paths)
    assert store.classes == ["Run", "Walk"] and [v.label for v in store.videos] == [0, 0, 1]
    assert store.attrs["size"] == list(SIZE) and store.attrs["flow_params"]["nscales"] == 3
    engine = TVL1Engine(**FAST_TVL1)
    step = quantization_step(store.bound)
    for i, video in enumerate(store.videos):
        expected = opencv_frames(paths[video.name], SIZE)
        assert video.num_frames == len(expected)  # OpenCV's decode count
        assert video.path == f"{video.name}.mp4" and len(video.sha256) == 64 and video.status == STATUS_OK
        # Exactly OpenCV's frames after the store's JPEG coding (same encoder, same quality).
        rgb = store.read("rgb", i, range(video.num_frames))
        coded = [decode_image(encode_image(f, "jpeg", DEFAULT_JPEG_QUALITY), color=True) for f in expected]
        assert (rgb == coded).all()
        gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in expected])
        flow = engine(gray[:-1], gray[1:]).numpy()
        stored = store.read_flow(i, range(video.num_frames - 1))
        assert stored.shape == flow.shape
        assert np.abs(stored - np.clip(flow, -store.bound, store.bound)).max() <= step / 2 + 1e-4
    assert summary.frames == 9 + 14 + 11 and summary.frames_processed == summary.frames
    assert not parts_dir_for(tmp_path / "out.h5").exists()  # removed after assembly


def test_step_max_frames_and_streams(videos, tmp_path):
    root, paths = videos
    content = ContentOptions(size=SIZE, algo="farneback", step=2, max_frames=5, rgb=False, warped=True)
    extract([root / "Run"], tmp_path / "s.h5", content, INLINE)
    store = FlowStore(tmp_path / "s.h5")
    assert set(store.streams) == {"flow_x", "flow_y", "warp_x", "warp_y"}
    counts = {v.name: v.num_frames for v in store.videos}
    # Names are relative to the folder given; step 2 of 9 and 14 frames -> 5 and 7, capped at 5.
    assert counts == {"v_Run_g01_c01": 5, "v_Run_g02_c01": 5}
    assert store.num_records(0, "warp_x") == 4


def test_warped_flow_matches_the_warp_module(videos, tmp_path):
    from flowkit.extract.worker import make_flow_fn
    from flowkit.warp import warped_flow_batch

    root, paths = videos
    content = ContentOptions(size=SIZE, algo="farneback", warped=True)
    extract([paths["Walk/v_Walk_g01_c01"]], tmp_path / "w.h5", content, INLINE)
    store = FlowStore(tmp_path / "w.h5")
    frames = opencv_frames(paths["Walk/v_Walk_g01_c01"], SIZE)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    result = warped_flow_batch(gray[:-1], gray[1:], flow_fn=make_flow_fn("farneback", {}))
    stored = store.read_flow(0, range(len(frames) - 1), warped=True)
    expected = np.clip(result.warped_flow, -20, 20)
    assert np.abs(stored - expected).max() <= quantization_step(20) / 2 + 1e-4
    assert store.videos[0].warp_fallbacks == int(result.fallback.sum())


def test_bad_videos_are_reported_and_the_others_complete(videos, tmp_path):
    root, paths = videos
    data = tmp_path / "mixed"
    good = write_video(data / "ok" / "good.mp4", frames=8)
    (data / "bad").mkdir()
    (data / "bad" / "text.mp4").write_text("this is not a video\n")
    (data / "bad" / "empty.avi").write_bytes(b"")
    whole = paths["Run/v_Run_g02_c01"].read_bytes()
    (data / "bad" / "truncated.mp4").write_bytes(whole[: len(whole) // 3])  # moov atom cut off
    result = _cli(["extract", str(data), "-o", str(tmp_path / "m.h5"), "--cpu", "--workers", "0",
                   "--size", "64x48", "--algo", "farneback"])
    assert result.exit_code == 1, result.output
    for name in ("bad/text", "bad/empty", "bad/truncated"):
        assert re.search(rf"{name} \(.+\)", result.output), result.output  # names it and says why
    assert "1 ok, 3 failed" in result.output
    store = FlowStore(tmp_path / "m.h5")
    status = {v.name: (v.status, v.error, v.num_frames) for v in store.videos}
    assert status["ok/good"] == (STATUS_OK, "", len(opencv_frames(good)))
    assert status["bad/empty"][0] == STATUS_FAILED and "empty" in status["bad/empty"][1]
    assert status["bad/text"][0] == STATUS_FAILED and status["bad/text"][1]
    assert status["bad/truncated"][0] == STATUS_FAILED and status["bad/truncated"][2] == 0


def test_labels_folder_sets_classes_and_splits(videos, tmp_path):
    root, _ = videos
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_bytes(b"1 Walk\r\n2 Run\r\n")
    (lists / "trainlist01.txt").write_bytes(b"Run/v_Run_g01_c01.avi 2\r\nWalk/v_Walk_g01_c01.avi 1\r\n")
    (lists / "testlist01.txt").write_bytes(b"Run/v_Run_g02_c01.avi\r\n")
    extract([root], tmp_path / "l.h5", ContentOptions(size=SIZE, algo="farneback"),
            RunOptions(workers=0, progress=False, labels=str(lists)))
    store = FlowStore(tmp_path / "l.h5")
    assert store.classes == ["Walk", "Run"]
    assert [v.label for v in store.videos] == [1, 1, 0]
    assert store.splits[1].tolist() == [SPLIT_TRAIN, SPLIT_TEST, SPLIT_TRAIN]


def test_existing_output_and_changed_settings_are_refused(videos, tmp_path):
    root, _ = videos
    output = tmp_path / "o.h5"
    content = ContentOptions(size=SIZE, algo="farneback")
    extract([root / "Walk"], output, content, INLINE)
    with pytest.raises(FileExistsError, match="--overwrite"):
        extract([root / "Walk"], output, content, INLINE)
    extract([root / "Walk"], output, content, RunOptions(workers=0, progress=False, overwrite=True))
    # An interrupted run with other settings: refuse to mix, unless --overwrite.
    other_settings = {"format_version": 1, **ContentOptions(size=(32, 24)).record()}
    prepare_parts_dir(parts_dir_for(output), other_settings, overwrite=False)
    with pytest.raises(ValueError, match=r"other settings \(.*size.*--overwrite"):
        extract([root / "Walk"], output, content, INLINE)
    summary = extract([root / "Walk"], output, content, RunOptions(workers=0, progress=False, overwrite=True))
    assert summary.videos_ok == 1 and summary.resumed == 0


def test_cli_option_errors_are_one_line(videos, tmp_path):
    root, _ = videos
    for args, message in [
        (["--gpu", "99"], "Error: --gpu"),
        (["--gpu", "zero"], "Error: --gpu takes GPU ids"),
        (["--algo", "nope"], "Error: unknown flow algorithm 'nope'"),
        (["--algo", "farneback", "--tau", "0.2"], "TV-L1 parameters do not apply to farneback"),
        (["--labels", str(root)], "Error: labels:"),
    ]:
        result = _cli(["extract", str(root), "-o", str(tmp_path / "e.h5"), "--workers", "0", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, (args, result.output)
    assert not (tmp_path / "e.h5").exists()


def test_names_are_relative_unique_and_safe(tmp_path):
    a = write_video(tmp_path / "a" / "x" / "clip.mp4", frames=3)
    b = write_video(tmp_path / "b" / "x" / "clip.mp4", frames=3)
    jobs = plan_jobs([tmp_path / "a", a])  # the same file twice is listed once
    assert [(j.name, j.rel_path, j.folder) for j in jobs] == [("x/clip", "x/clip.mp4", "x")]
    with pytest.raises(ValueError, match="both be named 'x/clip'"):
        plan_jobs([tmp_path / "a", tmp_path / "b"])
    # A list file naming videos outside its folder: names relative to the common folder, no '..'.
    listing = tmp_path / "lists" / "all.txt"
    listing.parent.mkdir()
    listing.write_text(f"../a/x/clip.mp4\n{b}\n")
    assert [j.name for j in plan_jobs([listing])] == ["a/x/clip", "b/x/clip"]
    assert default_output([tmp_path / "a"]).name == "a.h5"
    for bad in ["../evil", "a/../../evil", "/etc/passwd", "a//b", "a/./b", "a\\..\\b", "", "a\x00b"]:
        with pytest.raises(ValueError):
            safe_join(tmp_path, bad)
    assert safe_join(tmp_path, "a/b") == tmp_path / "a" / "b"
    flat = part_filename("../../etc/passwd")
    assert "/" not in flat and not flat.startswith(".") and flat.endswith(".npz")
    assert part_filename("a/b") != part_filename("a_b")


def test_summary_is_machine_readable(videos, tmp_path):
    root, _ = videos
    summary = extract([root / "Walk"], tmp_path / "j.h5", ContentOptions(size=SIZE, algo="farneback"), INLINE)
    record = json.loads(json.dumps(summary.to_dict()))
    assert record["videos_ok"] == 1 and record["frames"] == 11 and record["engine"] == "in-process"


def test_small_jobs_run_here_and_large_ones_on_ray(monkeypatch, videos, tmp_path):
    """Ray's start-up is paid only where it pays: a cluster, several GPUs, or many videos per worker."""
    from flowkit.extract import pipeline, ray_runner

    monkeypatch.setattr(ray_runner, "ray_available", lambda: True)
    monkeypatch.setattr(ray_runner, "ray_running", lambda: False)

    def engine(videos, **run):
        return pipeline._runner(RunOptions(**run), videos, [])[1]

    small = pipeline.RAY_MIN_VIDEOS_PER_WORKER * 2 - 1
    assert engine(small, workers=2).startswith("in-process threads")
    assert engine(small + 1, workers=2) == "ray"
    assert engine(1, workers=2, address="auto") == "ray"
    assert engine(1, workers=2, device="cuda", gpus=(0, 1)) == "ray"
    assert engine(1000, workers=0) == "in-process"
    monkeypatch.setattr(ray_runner, "ray_running", lambda: True)  # already started: no start-up to save
    assert engine(1, workers=2) == "ray"
    # A small job with 2 workers, for real: threads in this process, the same store as inline.
    root, _ = videos
    content = ContentOptions(size=SIZE, flow_params=FAST_TVL1)
    monkeypatch.setattr(ray_runner, "ray_running", lambda: False)
    summary = extract([root], tmp_path / "threads.h5", content, RunOptions(workers=2, progress=False))
    assert summary.engine.startswith("in-process threads") and summary.videos_ok == 3
    extract([root], tmp_path / "inline.h5", content, INLINE)
    assert store_content(tmp_path / "threads.h5") == store_content(tmp_path / "inline.h5")
