"""Extraction against a hostile or damaged filesystem: symbolic links are followed or reported, a
damaged part is extracted again, --dashboard without its packages and a killed run's missing store
are one clear line, labels can be attached to a store extracted without them."""

import os
import sys

import pytest
from click.testing import CliRunner

from extract_videos import make_tree, store_content
from flowkit.extract import ContentOptions, RunOptions, extract
from flowkit.extract.parts import parts_dir_for
from flowkit.store import FlowStore

CONTENT = ContentOptions(size=(32, 24), algo="farneback")
INLINE = RunOptions(workers=0, progress=False)


def _flowkit(*args):
    from cli.flowkit_app import main

    return CliRunner().invoke(main, [str(a) for a in args])


def _interrupted_before_assembly(root, output, monkeypatch):
    """Run extract until every part is written, then stop it (as a kill would) before the store is assembled."""
    from flowkit.extract import pipeline

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "assemble_store", killed)
        with pytest.raises(KeyboardInterrupt):
            extract([root], output, CONTENT, INLINE)
    return sorted(parts_dir_for(output).glob("*.npz"))


def test_symbolic_links_are_followed_or_reported(tmp_path):
    elsewhere, root = tmp_path / "elsewhere", tmp_path / "videos"
    make_tree(elsewhere, {"Jump/a": 4, "Jump/b": 4, "Jump/c": 4}, size=(32, 24))
    make_tree(root, {"Run/r": 4}, size=(32, 24))
    (root / "Jump").symlink_to(elsewhere / "Jump")  # a class folder that is a link
    (root / "Run" / "solo.mp4").symlink_to(elsewhere / "Jump" / "a.mp4")  # a video that is a link
    (root / "Run" / "loop.mp4").symlink_to(root / "Run" / "loop.mp4")
    (root / "Run" / "gone.mp4").symlink_to(tmp_path / "missing.mp4")
    (root / "Run" / "up").symlink_to(root)
    result = _flowkit("extract", root, "-o", tmp_path / "s.h5",
                      "--workers", "0", "--size", "32x24", "--algo", "farneback")
    assert result.exit_code == 0, result.output
    with FlowStore(tmp_path / "s.h5") as store:
        assert [v.name for v in store.videos] == ["Jump/a", "Jump/b", "Jump/c", "Run/r", "Run/solo"]
        assert store.classes == ["Jump", "Run"]
    notes = [line for line in result.output.splitlines() if line.startswith("note: skipped")]
    assert notes == [
        f"note: skipped {root}/Run/gone.mp4: a symbolic link to {tmp_path}/missing.mp4, which does not exist",
        f"note: skipped {root}/Run/loop.mp4: a symbolic link loop",
        f"note: skipped {root}/Run/up: a symbolic link to {root}, a folder it is inside (a loop)",
    ]


def test_a_damaged_part_is_extracted_again(tmp_path, monkeypatch):
    root = tmp_path / "videos"
    make_tree(root, {f"C{k % 2}/v{k}": 5 for k in range(4)}, size=(32, 24))
    extract([root], tmp_path / "reference.h5", CONTENT, INLINE)
    output = tmp_path / "store.h5"
    parts = _interrupted_before_assembly(root, output, monkeypatch)
    truncated, flipped = parts[1], parts[2]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a member: only the zip's CRC-32 notices
    flipped.write_bytes(bytes(data))

    summary = extract([root], output, CONTENT, INLINE)
    assert (summary.videos_ok, summary.videos_failed, summary.resumed, summary.videos_processed) == (4, 0, 2, 2)
    damaged = [note for note in summary.notes if " is damaged " in note]
    assert damaged == [f"part {truncated.name} is damaged (BadZipFile: File is not a zip file): extracting C0/v2 again",
                       f"part {flipped.name} is damaged (BadZipFile: Bad CRC-32 for file 'rgb.data.npy'): "
                       "extracting C1/v1 again"], summary.notes
    assert store_content(output) == store_content(tmp_path / "reference.h5")


def test_a_killed_runs_missing_store_points_to_its_parts(tmp_path, monkeypatch):
    root = tmp_path / "videos"
    make_tree(root, {"A/a": 4, "B/b": 4}, size=(32, 24))
    output = tmp_path / "store.h5"
    _interrupted_before_assembly(root, output, monkeypatch)
    for command in ("info", "verify"):
        result = _flowkit(command, output)
        assert result.exit_code == 2 and result.output == (
            f"Error: no store at {output}; {output}.parts holds an interrupted extraction (2 video(s) done): "
            "run the same `flowkit extract` command again to resume it\n")


@pytest.mark.skipif(not __import__("importlib").util.find_spec("ray"), reason="ray is not installed")
def test_dashboard_without_its_packages_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.dashboard.optional_deps", None)  # as if aiohttp & co. were missing
    root = tmp_path / "videos"
    make_tree(root, {"A/a": 4}, size=(32, 24))
    result = _flowkit("extract", root, "-o", tmp_path / "s.h5", "--workers", "1", "--dashboard")
    assert result.exit_code == 2, result.output
    assert (result.output.startswith("Error: --dashboard needs Ray's dashboard packages")
            and result.output.count("\n") == 1)
    assert 'pip install "ray[default]"' in result.output
    assert os.listdir(tmp_path) == ["videos"]  # no parts folder, no store


def test_labels_are_attached_to_a_store_extracted_without_them(tmp_path):
    root = tmp_path / "videos"
    make_tree(root, {"Run/v_Run_g01_c01": 4, "Run/v_Run_g02_c01": 4, "Walk/v_Walk_g01_c01": 4}, size=(32, 24))
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Walk\n2 Run\n")
    (lists / "trainlist01.txt").write_text("Run/v_Run_g01_c01.avi 2\nWalk/v_Walk_g01_c01.avi 1\n")
    (lists / "testlist01.txt").write_text("Run/v_Run_g02_c01.avi\n")
    store = tmp_path / "s.h5"
    extract([root], store, CONTENT, INLINE)
    before = store_content(store)
    with FlowStore(store) as opened, pytest.raises(ValueError) as caught:
        opened.split_videos(1, "train")
    error = str(caught.value)
    assert f"`flowkit set-labels {store} --labels LABELS`" in error and "no need to extract again" in error

    result = _flowkit("set-labels", store, "--labels", lists)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{store}: 2 classes, 3 videos labelled, 0 without a label",
        "split 1: 2 train, 1 test",
    ]
    with FlowStore(store) as opened:
        assert opened.classes == ["Walk", "Run"]
        assert [v.label for v in opened.videos] == [1, 1, 0]
        assert [opened.videos[i].name for i in opened.split_videos(1, "test")] == ["Run/v_Run_g02_c01"]
    after = store_content(store)
    assert {k for k in before if before[k] != after.get(k)} == {"classes", "videos/label"}  # frames and flow untouched
    assert not list(tmp_path.glob("*.partial"))
