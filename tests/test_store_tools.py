"""flowkit info / verify / show on a store made by extract: the summary counts what is there,
verify passes a good store and names what is wrong in a damaged one, show draws the stored
frame and flow."""

import json
import shutil

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from extract_videos import damaged_copy, make_tree
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.store import FlowStore
from flowkit.store.inspect import summarize, verify
from flowkit.store.show import compose, render_show, show_panels
from flowkit.viz import flow_to_rgb


def _cli(args):
    from cli.flowkit_app import main

    return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    base = tmp_path_factory.mktemp("tools")
    root = base / "videos"
    make_tree(root, {"Run/a": 6, "Walk/b": 8})
    (root / "Walk" / "broken.mp4").write_text("not a video")
    path = base / "store.h5"
    content = ContentOptions(size=(64, 48), algo="farneback", warped=True)
    summary = extract([root], path, content, RunOptions(workers=0, progress=False))
    assert summary.videos_failed == 1
    return path


def test_summary_counts_what_is_stored(store_path):
    info = summarize(store_path)
    assert (info["videos"], info["videos_ok"], info["videos_failed"]) == (3, 2, 1)
    assert info["classes"] == ["Run", "Walk"]
    assert (info["frames"], info["flow_pairs"]) == (14, 12)
    assert info["streams"]["rgb"]["records"] == 14 and info["streams"]["warp_y"]["records"] == 12
    with h5py.File(store_path) as file:
        assert info["streams"]["flow_x"]["bytes"] == file["streams/flow_x/data"].shape[0]
    assert info["attrs"]["size"] == [64, 48] and info["attrs"]["algo"] == "farneback"
    result = _cli(["info", str(store_path)])
    assert result.exit_code == 0 and "videos: 3 (2 ok, 1 failed)" in result.output and "size: 64x48" in result.output
    assert json.loads(_cli(["info", str(store_path), "--json"]).output)["frames"] == 14


def test_verify_passes_a_good_store_and_checks_sources(store_path):
    assert verify(store_path) == []
    assert verify(store_path, source_root=store_path.parent / "videos") == []
    result = _cli(["verify", str(store_path)])
    assert result.exit_code == 0 and result.output.strip().endswith(": ok")


def test_verify_finds_a_changed_source(store_path, tmp_path):
    sources = tmp_path / "videos"
    shutil.copytree(store_path.parent / "videos", sources)
    with open(sources / "Run" / "a.mp4", "ab") as handle:
        handle.write(b"\0")
    changed = f"video 'Run/a': source {sources / 'Run' / 'a.mp4'} changed (sha256 differs)"
    assert verify(store_path, source_root=sources, decode=False) == [changed]


def test_verify_detects_a_corrupted_record(store_path, tmp_path):
    store = FlowStore(store_path)
    walk = store.index_of("Walk/b")
    k = store.videos[walk].flow_start + 2
    with h5py.File(store_path) as file:
        start, end = file["streams/flow_y/offsets"][k : k + 2]

    def scribble(file):
        data = file["streams/flow_y/data"]
        data[start + 8 : end - 4] = np.full(end - 12 - start, 7, np.uint8)  # keep the PNG signature, wreck the rest

    problems = verify(damaged_copy(store_path, tmp_path, scribble))
    assert problems == [
        "stream flow_y: data checksum mismatch "
        "(the bytes changed after writing; the damaged records are listed by name)",
        "video 'Walk/b', stream flow_y, frame 2: checksum mismatch (the record changed after writing)",
        "video 'Walk/b', stream flow_y, frame 2: does not decode (zstd data does not decompress to its declared size)",
    ]
    result = _cli(["verify", str(tmp_path / "damaged.h5")])
    assert result.exit_code == 1 and "stream flow_y, frame 2" in result.output and "Error:" in result.output


def test_verify_detects_bad_offsets_and_tables(store_path, tmp_path):
    def shift(file):
        offsets = file["streams/rgb/offsets"]
        offsets[3] = offsets[5]  # record 2 now runs past record 3's start: offsets decrease
        file["videos/label"][0] = 9  # no class 9

    problems = verify(damaged_copy(store_path, tmp_path, shift), decode=False)
    assert ("stream rgb, video 'Run/a', frame 3: record ends at byte" in problems[1]
            and "before it starts" in problems[1])
    assert any("stream rgb: offsets checksum mismatch" in p for p in problems), problems
    assert any("label 9 outside 0..1" in p for p in problems), problems


def test_show_draws_the_stored_frame_and_flow(store_path, tmp_path):
    store = FlowStore(store_path)
    i = store.index_of("Walk/b")
    panels, frame = show_panels(store, i, 3)
    assert frame == 3 and [title.split()[0] for title, _ in panels] == ["RGB", "flow", "warped"]
    assert (panels[0][1] == store.read("rgb", i, [3])[0]).all()
    flow, warp = store.read_flow(i, [3])[0], store.read_flow(i, [3], warped=True)[0]
    scale = max(np.hypot(*flow).max(), np.hypot(*warp).max())
    assert (panels[1][1] == flow_to_rgb(flow, max_magnitude=scale)).all()
    assert (panels[2][1] == flow_to_rgb(warp, max_magnitude=scale)).all()

    out = render_show(store_path, "Walk/b", tmp_path / "show.png", frame=3)
    picture = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert picture.shape == compose(panels).shape and (picture == compose(panels)).all()
    # The panel under the first title is the RGB frame enlarged 5x (64 px -> 320 px).
    assert (picture[28:, :320][::5, ::5] == panels[0][1]).all()


def test_show_errors_are_one_line(store_path, tmp_path):
    for args, message in [
        (["nope"], "Error: no video named 'nope'"),
        (["Walk/b", "--frame", "7"],
         "Error: frame 7 out of range: video 'Walk/b' has 8 frames and flow for frames 0..6"),
        (["Walk/broken"], "Error: video 'Walk/broken' failed at extraction"),
        (["9"], "Error: video index 9 out of range"),
    ]:
        result = _cli(["show", str(store_path), *args, "-o", str(tmp_path / "x.png")])
        assert (result.exit_code == 2 and message in result.output
                and "Traceback" not in result.output), (args, result.output)
    result = _cli(["show", str(store_path), "0", "-o", str(tmp_path / "first.png")])  # by index
    assert result.exit_code == 0 and (tmp_path / "first.png").is_file()
