"""TSN model behaviour: cross-modality init, partial BN, consensus values, BN-Inception structure,
weight loading, and that every trainable parameter learns."""

import pytest
import torch
from torch import nn

from tsn.models import TSN, BNInception, SegmentConsensus, build_backbone, cross_modality_init
from tsn.models.bninception import fold_caffe_input_convention
from tsn.config import TrainConfig, resolve_config
from tsn.train import build_optimizer
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)


def _clips(batch=2, segments=3, channels=3, size=32, seed=0):
    return torch.randn(batch, segments, channels, size, size, generator=torch.Generator().manual_seed(seed))


# ---- cross-modality initialization -------------------------------------------------------------

def test_cross_modality_init_averages_rgb_kernels_over_channels():
    backbone = build_backbone("bninception")
    old = backbone.body.conv1_7x7_s2.conv
    old_weight, old_bias = old.weight.detach().clone(), old.bias.detach().clone()
    new = cross_modality_init(backbone, 10)
    assert backbone.body.conv1_7x7_s2.conv is new
    assert new.weight.shape == (64, 10, 7, 7) and new.stride == (2, 2) and new.padding == (3, 3)
    mean = old_weight.mean(dim=1)
    for channel in range(10):
        torch.testing.assert_close(new.weight[:, channel], mean)
    torch.testing.assert_close(new.bias, old_bias)
    # A constant input then gives the RGB net's response to the same constant on 3 channels,
    # scaled by 10/3 (10 channels of the mean kernel instead of 3 original kernels).
    x = torch.full((1, 10, 16, 16), 0.7)
    rgb = nn.functional.conv2d(torch.full((1, 3, 16, 16), 0.7), old_weight, None, 2, 3)
    flow = nn.functional.conv2d(x, new.weight, None, 2, 3)
    torch.testing.assert_close(flow, rgb * 10 / 3, rtol=1e-4, atol=1e-4)


def test_tsn_flow_starts_from_pretrained_rgb_weights(tmp_path):
    rgb = build_backbone("tiny")
    with torch.no_grad():
        for p in rgb.parameters():
            p.normal_()
    path = tmp_path / "tiny.pt"
    torch.save(rgb.body.state_dict(), path)
    model = TSN(4, "flow", 10, arch="tiny", pretrained=str(path))
    first = model.backbone.body.layers[0]
    expected = rgb.body.layers[0].weight.mean(dim=1, keepdim=True).expand(-1, 10, -1, -1)
    torch.testing.assert_close(first.weight, expected)
    # Everything after the first conv is the pretrained net unchanged.
    torch.testing.assert_close(model.backbone.body.layers[3].weight, rgb.body.layers[3].weight)


# ---- partial BN --------------------------------------------------------------------------------

def _bn_state(model):
    return [(bn.running_mean.clone(), bn.running_var.clone()) for bn in model.batch_norms()]


@pytest.mark.parametrize("arch", ["tiny", "bninception"])
def test_partial_bn_updates_only_first_bn_statistics(arch):
    model = TSN(5, "flow", 10, arch=arch, partial_bn=True)
    model.eval()
    model.train()  # the override must re-freeze after a mode switch
    assert model.training and model.batch_norms()[0].training
    assert not any(bn.training for bn in model.batch_norms()[1:])
    before = _bn_state(model)
    model(_clips(channels=10, size=64))
    after = _bn_state(model)
    changed = [not torch.equal(b[0], a[0]) or not torch.equal(b[1], a[1]) for b, a in zip(before, after)]
    assert changed[0]
    assert not any(changed[1:]), f"{sum(changed[1:])} frozen BN layers updated their statistics"


def test_without_partial_bn_every_bn_updates():
    model = TSN(5, "rgb", 3, arch="tiny", partial_bn=False)
    before = _bn_state(model)
    model(_clips())
    after = _bn_state(model)
    assert all(not torch.equal(b[0], a[0]) for b, a in zip(before, after))


def test_partial_bn_affine_parameters_get_no_gradient_and_do_not_move():
    config = resolve_config(TrainConfig(store="x.h5", modality="flow", arch="tiny", lr=0.5))
    model = TSN(3, "flow", 10, arch="tiny", partial_bn=True, dropout=0.0)
    optimizer, _ = build_optimizer(model, config)
    first, frozen = model.batch_norms()[0], model.batch_norms()[1:]
    frozen_before = [(bn.weight.clone(), bn.bias.clone()) for bn in frozen]
    first_before = first.weight.clone()
    loss = nn.functional.cross_entropy(model(_clips(channels=10)), torch.tensor([0, 2]))
    loss.backward()
    assert all(bn.weight.grad is None and bn.bias.grad is None for bn in frozen)
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0
    optimizer.step()
    for bn, (weight, bias) in zip(frozen, frozen_before):
        assert torch.equal(bn.weight, weight) and torch.equal(bn.bias, bias)
    assert not torch.equal(first.weight, first_before)
    grouped = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not any(id(bn.weight) in grouped for bn in frozen)


def test_optim_policies_follow_the_reference_multipliers():
    flow = {g["name"]: g for g in TSN(3, "flow", 10, arch="bninception").optim_policies()}
    rgb = {g["name"]: g for g in TSN(3, "rgb", 3, arch="bninception").optim_policies()}
    assert (flow["first_conv_weight"]["lr_mult"], flow["first_conv_bias"]["lr_mult"]) == (5, 10)
    assert (rgb["first_conv_weight"]["lr_mult"], rgb["first_conv_bias"]["lr_mult"]) == (1, 2)
    assert flow["normal_bias"]["decay_mult"] == 0 and flow["bn"]["decay_mult"] == 0
    assert len(flow["first_conv_weight"]["params"]) == 1 and flow["first_conv_weight"]["params"][0].shape[1] == 10
    assert len(flow["bn"]["params"]) == 2  # the first BN's weight and bias only


# ---- consensus ---------------------------------------------------------------------------------

SCORES = torch.tensor([[[1.0, 5.0], [3.0, -1.0], [2.0, 2.0]]])  # (B=1, T=3, C=2)


def test_avg_and_max_consensus_values():
    torch.testing.assert_close(SegmentConsensus("avg", 3)(SCORES), torch.tensor([[2.0, 2.0]]))
    torch.testing.assert_close(SegmentConsensus("max", 3)(SCORES), torch.tensor([[3.0, 5.0]]))


def test_weighted_consensus_uses_softmax_of_learned_segment_weights():
    consensus = SegmentConsensus("weighted", 3)
    torch.testing.assert_close(consensus(SCORES), torch.tensor([[2.0, 2.0]]))  # starts as avg
    with torch.no_grad():
        consensus.logits.copy_(torch.tensor([0.0, 1.0, 2.0]))
    w = torch.exp(torch.tensor([0.0, 1.0, 2.0]))
    w = w / w.sum()
    expected = (SCORES[0] * w[:, None]).sum(dim=0, keepdim=True)
    torch.testing.assert_close(consensus(SCORES), expected)
    # 6 test snippets: each pair shares its training segment's weight, renormalized.
    six = torch.arange(12.0).view(1, 6, 2)
    w6 = w.repeat_interleave(2) / w.repeat_interleave(2).sum()
    torch.testing.assert_close(consensus(six), (six[0] * w6[:, None]).sum(0, keepdim=True))
    consensus(SCORES).sum().backward()
    assert consensus.logits.grad is not None and consensus.logits.grad.abs().sum() > 0


def test_unknown_consensus_is_refused():
    with pytest.raises(ValueError, match="consensus"):
        SegmentConsensus("median", 3)


# ---- BN-Inception ------------------------------------------------------------------------------

def test_bninception_shapes_and_parameter_count():
    model = BNInception().eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 128, 128)).shape == (1, 1000)
    # Block output widths of Inception v2 / BN-Inception (Ioffe & Szegedy 2015, Table 1).
    widths = [model.get_submodule(n).out_channels for n in
              ("inception_3a", "inception_3b", "inception_3c", "inception_4a", "inception_4b", "inception_4c",
               "inception_4d", "inception_4e", "inception_5a", "inception_5b")]
    assert widths == [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]
    # The reference model (Caffe, convolutions with bias) has about 11.3M parameters.
    count = sum(p.numel() for p in model.parameters())
    assert 10.5e6 < count < 11.5e6, count
    seen = {}
    model.inception_5b.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    with torch.no_grad():
        model.features(torch.randn(1, 3, 224, 224))
    assert seen["shape"] == (1, 1024, 7, 7)


def test_caffe_input_convention_is_folded_into_conv1():
    model = BNInception().eval()
    conv = model.conv1_7x7_s2.conv
    rgb = torch.rand(1, 3, 40, 40) * 255
    caffe = rgb.flip(1) - torch.tensor([104.0, 117.0, 128.0]).view(1, 3, 1, 1)
    expected = conv(caffe).detach()
    fold_caffe_input_convention(model)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    got = conv((rgb / 255 - mean) / std).detach()
    inner = (..., slice(2, -2), slice(2, -2))  # away from the zero-padded border
    torch.testing.assert_close(got[inner], expected[inner], rtol=1e-4, atol=1e-3)


def test_torchvision_weights_load_from_a_local_file(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    backbone = TSN(3, "rgb", 3, arch="resnet18", pretrained=path).backbone.eval()
    x = torch.randn(2, 3, 32, 32)
    reference.fc = nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), reference(x))
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError):
        TSN(3, "rgb", 3, arch="resnet18", pretrained=path)


# ---- gradients ---------------------------------------------------------------------------------

@pytest.mark.parametrize("arch,modality,channels,consensus", [
    ("tiny", "rgb", 3, "weighted"), ("resnet18", "flow", 10, "avg"), ("bninception", "warp", 10, "max"),
])
def test_every_trainable_parameter_receives_a_gradient(arch, modality, channels, consensus):
    model = TSN(4, modality, channels, arch=arch, consensus=consensus, partial_bn=True)
    logits = model(_clips(batch=2, channels=channels, size=64))
    assert logits.shape == (2, 4)
    nn.functional.cross_entropy(logits, torch.tensor([1, 3])).backward()
    trained = {id(p) for group in model.optim_policies() for p in group["params"]}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            assert id(parameter) in trained, f"{name} is in no optimizer group"
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
            assert parameter.grad.abs().sum() > 0, f"{name} got a zero gradient"
        else:
            assert parameter.grad is None, name


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(ValueError, match="expected input"):
        TSN(3, "flow", 10, arch="tiny")(_clips(channels=3))
