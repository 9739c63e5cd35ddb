"""bf16 autocast is on by default only where the GPU computes bf16 in hardware (issue 20, finding 4):
torch.cuda.is_bf16_supported() alone also says yes on GPUs that emulate it (V100, T4)."""

import pytest
import torch

from tsn import runtime

CUDA = torch.device("cuda")


def fake_gpu(monkeypatch, capability, has_emulation_argument=True):
    """torch.cuda's answers for a GPU of this compute capability (emulated bf16 below 8.0)."""

    def is_bf16_supported(including_emulation=True):
        return capability >= (8, 0) or including_emulation

    def old_is_bf16_supported():  # torch < 2.3: no including_emulation argument, counts emulation
        return True

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported if has_emulation_argument
                        else old_is_bf16_supported)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)


@pytest.mark.parametrize("has_emulation_argument", [True, False])
@pytest.mark.parametrize("capability, native", [((7, 0), False), ((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_bf16_autocast_default_only_on_native_bf16(monkeypatch, capability, native, has_emulation_argument):
    fake_gpu(monkeypatch, capability, has_emulation_argument)
    assert torch.cuda.is_bf16_supported()  # what the old default asked: yes even on V100 / T4
    assert runtime.native_bf16(CUDA) is native
    assert runtime.amp_default(CUDA) is native


def test_bf16_autocast_default_off_on_cpu(monkeypatch):
    fake_gpu(monkeypatch, (9, 0))
    assert runtime.amp_default(torch.device("cpu")) is False
