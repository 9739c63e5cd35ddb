"""benchmarks/gpu_check.py stays runnable: without CUDA it dry-runs every stage on the CPU at toy
sizes and exits 0, writing its JSON summary to --output and to $OUT."""

import json

import pytest

from benchmarks import gpu_check

pytestmark = pytest.mark.slow


def test_dry_run_exits_zero_and_writes_the_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("OUT", str(tmp_path))
    output = tmp_path / "summary.json"
    # Every stage but cuda_tests, which runs pytest (inside pytest) on the CUDA-marked tests.
    stages = "environment,flow_sweep,kernel_profile,extract,loader"
    assert gpu_check.main(["--dry-run", "--output", str(output), "--stages", stages]) == 0
    report = json.loads(output.read_text())
    assert report == json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry_run"] and set(report["stages"]) == set(stages.split(","))
    assert all(stage["status"] == "ok" for stage in report["stages"].values()), report
    sweep = report["stages"]["flow_sweep"]
    accuracy = [row for row in sweep["results"] if "epe_vs_truth_px" in row]
    # The CUDA code path (chunked masked iterations), run here on the CPU, agrees with the CPU engine.
    assert accuracy and all(row["epe_vs_cpu_engine_px"] < 0.05 for row in accuracy)
    assert [row["batch"] for row in sweep["results"] if "batch" in row] == list(gpu_check.DRY_PLAN.batch_sizes)
    assert report["stages"]["extract"]["summary"][0].startswith("videos: 2 ok")
    assert report["stages"]["kernel_profile"]["results"][0]["kernels_per_iteration"] > 0
