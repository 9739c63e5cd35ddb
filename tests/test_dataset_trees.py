"""A Kinetics-style and a Something-Something-V2-style tree, cut from real photographs, through
extract --short-side -> verify -> export-rawframes -> tsn train -> tsn test with their own
annotation files: labels, splits, landscape and portrait sizes, frame counts, the clips missing on
either side, names with spaces."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from dataset_trees import KINETICS_CLIPS, KINETICS_FRAMES, SSV2_CLIPS, SSV2_FRAMES, kinetics_tree, ssv2_tree
from flowkit.store import FlowStore
from flowkit.store.format import SPLIT_TEST, SPLIT_TRAIN, SPLIT_UNUSED
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.slow
TINY = ["--arch", "tiny", "--input-size", "32", "--batch-size", "2", "--workers", "0", "--epochs", "1",
        "--lr", "0.01"]
CODE = {"train": SPLIT_TRAIN, "validate": SPLIT_TEST, "validation": SPLIT_TEST, "test": SPLIT_UNUSED}


def _cli(app: str, *args) -> str:
    from cli.flowkit_app import main as flowkit
    from cli.tsn_app import main as tsn

    result = CliRunner().invoke(flowkit if app == "flowkit" else tsn, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _round_trip(tmp_path, videos, labels, expected: dict[str, tuple[int, int, tuple[int, int]]],
                classes: list[str]) -> str:
    """Extract (short side 32), verify, export and train/test; `expected` is {video name: (label,
    split 1 code, source (width, height))}. Returns extract's output."""
    store = tmp_path / "store.h5"
    output = _cli("flowkit", "extract", videos, "--labels", labels, "-o", store, "--workers", "0",
                  "--short-side", "32")
    _cli("flowkit", "verify", store)
    with FlowStore(store) as opened:
        assert opened.classes == classes
        got = {v.name: (v.label, int(opened.splits[1][i]), (v.width, v.height)) for i, v in enumerate(opened.videos)}
        # Aspect kept, short side 32, the long side rounded down to even: 96x54 -> 56x32, 54x96 -> 32x56.
        sized = {n: (label, code, (56, 32) if w > h else (32, 56)) for n, (label, code, (w, h)) in expected.items()}
        assert got == sized
        assert all(v.num_frames == KINETICS_FRAMES for v in opened.videos)
        first = opened.read("flow_x", 0, [0])
        assert first.shape[-2:] == (opened.videos[0].height, opened.videos[0].width)
    out = tmp_path / "rawframes"
    _cli("flowkit", "export-rawframes", store, out)
    for line in (out / "rawframes_flow_val_split_1.txt").read_text().splitlines():
        folder, count, label = line.split()  # three fields: no space left in a folder name
        assert (out / folder / f"flow_x_{int(count):05d}.jpg").is_file()
        assert not (out / folder / f"flow_x_{int(count) + 1:05d}.jpg").exists()
    run = tmp_path / "run"
    _cli("tsn", "train", "--store", store, "--modality", "flow", *TINY, "-o", run)
    _cli("tsn", "test", "--store", store, "--checkpoint", run / "checkpoint.pt", "--test-segments", "2",
         "--workers", "0", "-o", tmp_path / "flow.npz")
    with np.load(tmp_path / "flow.npz") as scores:
        tested = dict(zip((str(n) for n in scores["videos"]), scores["labels"].tolist()))
        assert scores["scores"].shape == (len(tested), len(classes))
    assert tested == {n: label for n, (label, code, _) in expected.items() if code == SPLIT_TEST}
    return output


def test_kinetics_tree(tmp_path):
    videos, annotations = kinetics_tree(tmp_path)
    classes = sorted({label for label, *_ in KINETICS_CLIPS if label})
    expected = {}
    for label, youtube_id, start, end, split, size, on_disk in KINETICS_CLIPS:
        if not on_disk:
            continue
        stem = f"{youtube_id}_{start:06d}_{end:06d}"
        name = f"test/{stem}" if split == "test" else f"{'train' if split == 'train' else 'val'}/{label}/{stem}"
        expected[name] = (classes.index(label) if label else -1, CODE[split], size)
    output = _round_trip(tmp_path, videos, annotations, expected, classes)
    assert "1 entries of" in output and "goneFromYT_000001_000011" in output


def test_ssv2_tree(tmp_path):
    videos, labels = ssv2_tree(tmp_path)
    expected = {clip_id: (-1 if template is None else template, CODE[subset], size)
                for clip_id, subset, template, size, on_disk in SSV2_CLIPS if on_disk}
    assert SSV2_FRAMES == KINETICS_FRAMES
    output = _round_trip(tmp_path, videos, labels, expected,
                         ["Pushing something from left to right", "Putting something on a surface"])
    assert "1 entries of" in output and "299" in output
