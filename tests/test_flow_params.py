"""flowkit.flow.params: the one place flow algorithms, their parameters and devices are checked."""

import pytest

import flowkit.flow as ff
from flowkit.flow.params import (
    FARNEBACK_DEFAULTS,
    TVL1Params,
    check_algorithm,
    check_device,
    farneback_params,
    resolve_flow_params,
)


def test_same_request_in_other_words_resolves_the_same():
    defaults = TVL1Params().as_dict()
    assert resolve_flow_params("tvl1", {}) == defaults
    assert resolve_flow_params("opencv-tvl1", {"lambda": 0.1}) == resolve_flow_params("tvl1", {"lambda_": 0.1})
    assert resolve_flow_params("tvl1", {"tau": 0.25}) == defaults  # the default spelled out
    assert resolve_flow_params("farneback", {}) == FARNEBACK_DEFAULTS
    assert resolve_flow_params("farneback", {"levels": 5}) == {**FARNEBACK_DEFAULTS, "levels": 5}


def test_unknown_algorithms_names_and_values_are_refused():
    assert ff.ALGORITHMS == ("tvl1", "opencv-tvl1", "farneback", "raft")
    with pytest.raises(ValueError, match="unknown flow algorithm 'pwc'; choose from tvl1, opencv-tvl1, farneback, raf"):
        resolve_flow_params("pwc", {})
    with pytest.raises(ValueError, match="unknown TV-L1 parameter"):
        resolve_flow_params("tvl1", {"levels": 3})
    with pytest.raises(ValueError, match="tau must be a positive number"):
        resolve_flow_params("opencv-tvl1", {"tau": 0})
    with pytest.raises(ValueError, match=r"farneback does not take winsz; it takes pyr_scale, levels"):
        farneback_params({"winsz": 9})
    # TV-L1 names given to farneback (e.g. `flowkit extract --algo farneback --tau 0.2`) say so.
    with pytest.raises(ValueError, match=r"farneback does not take lambda, tau \(TV-L1 parameters do not apply"):
        resolve_flow_params("farneback", {"tau": 0.2, "lambda": 0.1})
    check_algorithm("farneback")


@pytest.mark.parametrize("device", ["cpu", None, "cpu:0"])
def test_every_algorithm_runs_on_the_cpu(device):
    for algo in ff.ALGORITHMS:
        check_device(algo, device)


def test_only_tvl1_and_raft_run_on_gpus():
    check_device("tvl1", "cuda:1")
    check_device("raft", "cuda")
    for algo in ("opencv-tvl1", "farneback"):
        with pytest.raises(ValueError, match=f"^{algo} runs on the CPU only, got device 'cuda'"):
            check_device(algo, "cuda")
