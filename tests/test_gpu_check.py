"""benchmarks/gpu_check.py stays runnable: without CUDA it dry-runs every stage on the CPU at toy
sizes and exits 0, writing its JSON summary to --output and to $OUT."""

import json

import pytest

from benchmarks import gpu_check

pytestmark = pytest.mark.slow


def test_dry_run_exits_zero_and_writes_the_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("OUT", str(tmp_path))
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    output = tmp_path / "summary.json"
    # Every stage but cuda_tests, which runs pytest (inside pytest) on the CUDA-marked tests.
    stages = "environment,flow_sweep,memory,batch_independence,extract,oom_recovery,ddp,kernel_profile,loader"
    assert gpu_check.main(["--dry-run", "--output", str(output), "--stages", stages]) == 0
    report = json.loads(output.read_text())
    assert report == json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry_run"] and set(report["stages"]) == set(stages.split(","))
    assert all(stage["status"] in ("ok", "skipped") for stage in report["stages"].values()), report
    sweep = report["stages"]["flow_sweep"]
    accuracy = [row for row in sweep["results"] if "epe_vs_truth_px" in row]
    # The CUDA code paths (the Triton kernels under the interpreter, the chunked masked torch
    # iterations), run here on the CPU, agree with the CPU solver.
    modes = gpu_check.runnable_modes(gpu_check.DRY_PLAN, gpu_check.DRY_PLAN.batch_sizes)
    if gpu_check.missing("triton"):
        assert modes == ["eager"]
    else:
        # The Triton flow went through the interpreted child process.
        assert modes == ["eager"] and {row["mode"] for row in accuracy} == {"triton", "eager"}
        triton = next(row for row in accuracy if row["mode"] == "triton")
        assert triton["max_abs_diff_vs_cpu_engine_px"] < 1e-3
        assert report["stages"]["batch_independence"]["results"][0]["mode"] == "triton"
    assert accuracy and all(row["epe_vs_cpu_engine_px"] < 0.05 for row in accuracy)
    timed = [(row["mode"], row["batch"]) for row in sweep["results"] if "batch" in row]
    assert [batch for mode, batch in timed if mode == "eager"] == list(gpu_check.DRY_PLAN.batch_sizes["eager"])
    assert all(row["bit_identical"] for row in report["stages"]["batch_independence"]["results"])
    assert report["stages"]["memory"]["results"][0]["counted_bytes_per_pair"] > 0
    assert report["stages"]["extract"]["summary"][0].startswith("videos: 2 ok")
    assert report["stages"]["kernel_profile"]["results"][0]["kernels_per_iteration"] > 0
    # The out-of-memory stage: a call too large for the (simulated) device is split and every pair's
    # flow equals the pair solved alone; DDP needs two GPUs and says so.
    oom = report["stages"]["oom_recovery"]
    assert oom["status"] == "ok" and oom["flow_equals_pairs_alone"] and oom["calls"][:3] == [6, 3, 3], oom
    assert report["stages"]["ddp"]["status"] == "skipped"
