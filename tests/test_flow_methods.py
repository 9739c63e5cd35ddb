"""The flow-methods study (benchmarks.flow_methods) at toy size: every chosen method is extracted,
measured and trained, and the table's rows and columns are filled."""

import math

import pytest

from benchmarks.flow_methods import TABLE_COLUMNS, StudyConfig, format_table, run_study

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


@pytest.mark.slow
def test_toy_study_fills_every_row_and_column(tmp_path):
    from torchvision.models.optical_flow import raft_small

    from flowkit.synth import make_dataset

    torch.manual_seed(0)
    weights = tmp_path / "raft_random.pth"
    torch.save(raft_small(weights=None).state_dict(), weights)  # random weights: no download
    data = tmp_path / "data"
    make_dataset(data, classes=2, videos_per_class=2, frames=7, size=(48, 32), seed=0, progress=False, family="motion")
    config = StudyConfig(workdir=tmp_path / "study", videos=data / "videos", labels=data,
                         methods=("tvl1", "farneback", "raft"), seeds=(0,), epochs=1, size=(48, 32),
                         tvl1_params={"nscales": 2, "warps": 1, "inner_iterations": 5, "outer_iterations": 1},
                         raft_weights=str(weights), input_size=32, test_segments=2, epe_frames=3)
    results = run_study(config)
    rows = {row["method"]: row for row in results["rows"]}
    assert list(rows) == ["tvl1", "farneback", "raft"] and len(results["rgb_top1"]) == 1
    for name, row in rows.items():
        assert row["pairs_per_s"] > 0 and row["pairs_per_cpu_s"] > 0 and row["bytes_per_frame"] > 0
        assert math.isfinite(row["epe"])
        assert len(row["flow_top1"]) == len(row["fused_top1"]) == 1
        assert all(0 <= v <= 1 for v in row["flow_top1"] + row["fused_top1"])
        assert (row["differing"] is None) == (name == "tvl1")
    assert rows["tvl1"]["iterations"] > 0 and rows["farneback"]["iterations"] is None
    assert 0 < rows["raft"]["differing"] <= 1  # random weights: a different flow
    table = format_table(results).splitlines()
    assert table[0] == "| " + " | ".join(TABLE_COLUMNS) + " |" and len(table) == 2 + 3 + 1
    for line in table[2:5]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(TABLE_COLUMNS) and "" not in cells
    assert (tmp_path / "study" / "results.md").read_text().strip() == format_table(results)
