import numpy as np
import pytest
import torch

from flowkit.quantize import dequantize_flow, quantization_step, quantize_flow


@pytest.mark.parametrize("bound", [20.0, 5.0])
def test_round_trip_error_within_half_step(bound):
    flow = np.random.default_rng(0).uniform(-bound, bound, (2, 50, 60)).astype(np.float32)
    back = dequantize_flow(quantize_flow(flow, bound), bound)
    assert np.abs(back - flow).max() <= quantization_step(bound) / 2 + 1e-5


def test_dense_flow_convention_endpoints_and_saturation():
    q = quantize_flow(np.array([-100.0, -20.0, 20.0, 100.0, -19.95]), 20.0)
    assert q.tolist() == [0, 0, 255, 255, 0]
    # round(255 * (v + B) / 2B) as in dense_flow
    assert quantize_flow(np.array([0.0]), 20.0)[0] == round(255 * 20 / 40)


def test_torch_and_numpy_agree():
    flow = np.random.default_rng(1).normal(0, 10, (3, 2, 8, 8)).astype(np.float32)
    qn = quantize_flow(flow)
    qt = quantize_flow(torch.from_numpy(flow))
    assert qt.dtype == torch.uint8 and np.array_equal(qt.numpy(), qn)
    assert np.allclose(dequantize_flow(qt).numpy(), dequantize_flow(qn))


def test_bad_bound():
    with pytest.raises(ValueError):
        quantize_flow(np.zeros(3), 0)
