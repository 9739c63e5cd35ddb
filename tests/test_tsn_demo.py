"""`flowkit demo` as a library call (tsn.demo): every step on tiny sizes, the table it reports
against the score files it wrote (top-1, right kind, right motion), the table's format, and its
refusal to reuse a work folder made with other data."""

import json

import numpy as np
import pytest

from flowkit.store import FlowStore
from flowkit.synth.dataset import family_classes
from tsn.demo import (DEMO_MODALITIES, FUSIONS, OPTIONAL_MODALITIES, SETTINGS_FILE, DemoConfig, _check_reuse,
                      format_table, run_demo)
from tsn.fuse import default_weights
from tsn.metrics import top_k_accuracy
from tsn.scores import load_scores

PNG_SIGNATURE = b"\x89PNG"


@pytest.mark.slow
def test_demo_reports_what_its_score_files_hold(tmp_path):
    workdir = tmp_path / "demo"
    config = DemoConfig(workdir=workdir, classes=4, videos_per_class=2, frames=7, size=(64, 48),
                        epochs=1, batch_size=4, test_segments=3, workers=0, progress=False, input_size=32,
                        flow_params={"nscales": 2, "warps": 1, "inner_iterations": 5, "outer_iterations": 1},
                        modalities=DEMO_MODALITIES + OPTIONAL_MODALITIES)
    results = run_demo(config)
    assert config.family == "kind-motion" and DemoConfig().modalities == DEMO_MODALITIES == ("rgb", "flow", "warp")
    assert results["chance"] == pytest.approx(1 / 4) and results["factor_chance"] == {"kind": 0.5, "motion": 0.5}
    factors = family_classes("kind-motion", 4)
    with FlowStore(workdir / "synth.h5") as store:
        test_videos = store.split_videos(1, "test")
        names = [store.videos[i].name for i in test_videos]
        labels = [store.videos[i].label for i in test_videos]
    assert names  # the synthetic split holds test videos
    streams = {}
    for modality in config.modalities:
        saved = load_scores(workdir / "scores" / f"{modality}.npz")
        assert saved["modality"] == modality and saved["videos"] == names and saved["labels"].tolist() == labels
        assert results["accuracy"][modality]["top1"] == pytest.approx(top_k_accuracy(saved["scores"], labels, 1))
        predicted = saved["scores"].argmax(axis=1)
        for factor in ("kind", "motion"):
            right = [getattr(factors[p], factor) == getattr(factors[t], factor) for p, t in zip(predicted, labels)]
            assert results["accuracy"][modality][factor] == pytest.approx(np.mean(right))
        streams[modality] = saved["scores"]
        assert (workdir / "runs" / modality / "curves.png").read_bytes()[:4] == PNG_SIGNATURE
    # Each fusion: the same videos, the paper's weights, the weighted sum, and its accuracy in the table.
    expected_weights = {("rgb", "flow"): [1.0, 1.5], ("rgb", "warp"): [1.0, 1.5], ("flow", "warp"): [1.0, 0.5],
                        ("rgb", "flow", "warp"): [1.0, 1.0, 0.5], ("rgb", "rgbdiff"): [1.0, 1.0]}
    assert set(expected_weights) == set(FUSIONS)
    for combination, weights in expected_weights.items():
        assert default_weights(combination) == weights
        fused = load_scores(workdir / "scores" / f"{'_'.join(combination)}.npz")
        assert fused["modality"] == "fused" and fused["videos"] == names and fused["labels"].tolist() == labels
        assert fused["weights"].tolist() == weights and fused["modalities"].tolist() == list(combination)
        np.testing.assert_allclose(fused["scores"], sum(w * streams[m] for m, w in zip(combination, weights)),
                                   rtol=1e-5, atol=1e-5)
        entry = results["accuracy"][" + ".join(combination)]
        assert entry["weights"] == weights
        assert entry["top1"] == pytest.approx(top_k_accuracy(fused["scores"], labels, 1))
    saved = json.loads((workdir / "results.json").read_text())
    assert saved["accuracy"] == results["accuracy"] and saved["chance"] == results["chance"]
    table = format_table(results)
    assert (workdir / "results.md").read_text().strip() == table
    for name, values in results["accuracy"].items():
        row = f"| {name} | {100 * values['top1']:.1f} | {100 * values['kind']:.1f} | {100 * values['motion']:.1f} |"
        assert row in table
    assert (workdir / "flow.png").read_bytes()[:4] == PNG_SIGNATURE
    assert set(results["timings"]) >= {"synth", "extract"} | {f"train_{m}" for m in config.modalities}


def test_table_format():
    """A markdown table: a header naming the stream and top-1, one row per stream and fusion
    (fusions named with ' + '), and a (chance) row; percent with one decimal."""
    results = {"chance": 1 / 6, "factor_chance": {"kind": 1 / 3, "motion": 1 / 3},
               "accuracy": {"rgb": {"top1": 0.5, "kind": 1.0, "motion": 0.5},
                            "rgb + flow": {"top1": 0.875, "kind": 0.9375, "motion": 0.90625, "weights": [1, 1.5]}}}
    assert format_table(results).splitlines() == [
        "| stream | top-1 | right kind | right motion |",
        "| --- | --- | --- | --- |",
        "| rgb | 50.0 | 100.0 | 50.0 |",
        "| rgb + flow | 87.5 | 93.8 | 90.6 |",
        "| (chance) | 16.7 | 33.3 | 33.3 |",
    ]
    motion_only = {"chance": 0.25, "accuracy": {"warp": {"top1": 0.75, "mean_class": 0.7}}}
    assert format_table(motion_only).splitlines() == [
        "| stream | top-1 | mean class acc. |",
        "| --- | --- | --- |",
        "| warp | 75.0 | 70.0 |",
        "| (chance) | 25.0 | 25.0 |",
    ]


def test_demo_refuses_a_workdir_made_with_other_settings(tmp_path):
    _check_reuse(DemoConfig(workdir=tmp_path, camera_motion="pan"), tmp_path)
    assert (tmp_path / SETTINGS_FILE).exists()
    _check_reuse(DemoConfig(workdir=tmp_path, camera_motion="pan", epochs=3), tmp_path)  # training settings may change
    with pytest.raises(ValueError, match="camera_motion"):
        _check_reuse(DemoConfig(workdir=tmp_path, camera_motion="none"), tmp_path)
