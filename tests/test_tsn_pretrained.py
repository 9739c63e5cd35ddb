"""Pretrained weights in the forms they are distributed: files built here with the real key names and
shapes (random values), loaded through TSN / `tsn train --pretrained`, values checked in the layers
they belong to. Nothing is downloaded: the hub cache is a temporary folder and the downloader raises."""

import urllib.error

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from flowkit.testing import make_tiny_store
from tsn.models import TSN
from tsn.models.pretrained import BNINCEPTION_FILES, hub_checkpoint_dir, mmaction_resnet_key, resolve_pretrained
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

# Layer ids and widths of tsn-pytorch's tf_model_zoo/bninception/bn_inception.yaml: the stem
# convolutions (id, in, out, kernel), then per inception block its input width and the widths of
# its branches 1x1, 3x3_reduce, 3x3, double_3x3_reduce, double_3x3_1/_2, pool_proj (0: absent).
YAML_STEM = (("conv1_7x7_s2", 3, 64, 7), ("conv2_3x3_reduce", 64, 64, 1), ("conv2_3x3", 64, 192, 3))
YAML_BLOCKS = {
    "3a": (192, 64, 64, 64, 64, 96, 32), "3b": (256, 64, 64, 96, 64, 96, 64), "3c": (320, 0, 128, 160, 64, 96, 0),
    "4a": (576, 224, 64, 96, 96, 128, 128), "4b": (576, 192, 96, 128, 96, 128, 128),
    "4c": (576, 160, 128, 160, 128, 160, 128), "4d": (608, 96, 128, 192, 160, 192, 128),
    "4e": (608, 0, 128, 192, 192, 256, 0), "5a": (1056, 352, 192, 320, 160, 224, 128),
    "5b": (1024, 352, 192, 320, 192, 224, 128),
}
BN_PARAMS = ("weight", "bias", "running_mean", "running_var")


def yaml_layers():
    """[(conv id, in, out, kernel)] of every convolution of the yaml, each followed by `<id>_bn`."""
    layers = list(YAML_STEM)
    for block, (cin, c1, r3, c3, rd, cd, pp) in YAML_BLOCKS.items():
        name = f"inception_{block}"
        if c1:
            layers.append((f"{name}_1x1", cin, c1, 1))
        layers += [(f"{name}_3x3_reduce", cin, r3, 1), (f"{name}_3x3", r3, c3, 3),
                   (f"{name}_double_3x3_reduce", cin, rd, 1), (f"{name}_double_3x3_1", rd, cd, 3),
                   (f"{name}_double_3x3_2", cd, cd, 3)]
        if pp:
            layers.append((f"{name}_pool_proj", cin, pp, 1))
    return layers


def bninception_file(bn_shape, classifier="fc", seed=0):
    """A BN-Inception ImageNet state dict as distributed: Caffe layer ids, conv weight + bias,
    BN tensors of shape bn_shape(C), a 1000-class classifier named `classifier`."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for layer, cin, cout, kernel in yaml_layers():
        state[f"{layer}.weight"] = torch.randn(cout, cin, kernel, kernel, generator=generator) * 0.05
        state[f"{layer}.bias"] = torch.randn(cout, generator=generator) * 0.1
        for param in BN_PARAMS:
            value = torch.rand(cout, generator=generator) + (0.5 if param in ("weight", "running_var") else -0.5)
            state[f"{layer}_bn.{param}"] = value.reshape(bn_shape(cout))
    state[f"{classifier}.weight"] = torch.randn(1000, 1024, generator=generator) * 0.01
    state[f"{classifier}.bias"] = torch.zeros(1000)
    return state


@pytest.fixture(scope="module")
def tsn_pytorch_file(tmp_path_factory):
    state = bninception_file(lambda c: (1, c))
    path = tmp_path_factory.mktemp("weights") / "bn_inception-9f5701afb96c8044.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(autouse=True)
def offline_hub(tmp_path, monkeypatch):
    """An empty hub cache under tmp_path, and a downloader that fails as it does offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    def no_network(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


def test_the_tsn_pytorch_file_has_the_published_keys_and_shapes(tsn_pytorch_file):
    _, state = tsn_pytorch_file
    assert len(state) == 416
    # Shapes as the load errors reported against this file print them (tsn-pytorch #74, #104;
    # TRN-pytorch #7; MFF-pytorch #2).
    published = {"conv1_7x7_s2_bn.running_var": (1, 64), "conv1_7x7_s2_bn.weight": (1, 64),
                 "inception_4e_3x3_reduce_bn.bias": (1, 128), "inception_4e_3x3_bn.running_mean": (1, 192),
                 "inception_4e_double_3x3_1_bn.weight": (1, 256), "inception_5b_pool_proj_bn.bias": (1, 128),
                 "fc.weight": (1000, 1024)}
    assert {k: tuple(state[k].shape) for k in published} == published


def _conv1_matches_caffe(model_conv1, file_weight, file_bias):
    """The model's conv1 on tsn.data's RGB input = the file's conv1 on Caffe BGR 0..255 minus mean."""
    rgb = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(1)) * 255
    caffe = rgb.flip(1) - torch.tensor([104.0, 117.0, 128.0]).view(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = nn.functional.conv2d(caffe, file_weight, file_bias, 2, 3)
        got = model_conv1((rgb / 255 - mean) / std)
    inner = (..., slice(2, -2), slice(2, -2))  # away from the zero-padded border
    torch.testing.assert_close(got[inner], expected[inner], rtol=1e-4, atol=2e-3)


def test_tsn_pytorch_bninception_loads_with_bn_squeezed_and_caffe_input_folded(tsn_pytorch_file):
    path, state = tsn_pytorch_file
    model = TSN(101, "rgb", 3, arch="bninception", pretrained=path)
    body = model.backbone.body
    torch.testing.assert_close(body.inception_4e.get_submodule("3x3").bn.running_var,
                               state["inception_4e_3x3_bn.running_var"][0])
    torch.testing.assert_close(body.inception_5b.pool_proj.conv.weight, state["inception_5b_pool_proj.weight"])
    torch.testing.assert_close(body.conv2_3x3.bn.bias, state["conv2_3x3_bn.bias"].reshape(-1))
    _conv1_matches_caffe(body.conv1_7x7_s2.conv, state["conv1_7x7_s2.weight"], state["conv1_7x7_s2.bias"])
    assert model.fc.weight.shape == (101, 1024) and float(model.fc.weight.detach().std()) < 0.01  # re-initialized
    assert model.pretrained_report.startswith(f"loaded 414/416 tensors from {path} (tsn-pytorch BN-Inception; ")
    assert "276 BN tensors (1, C) squeezed" in model.pretrained_report
    assert model.pretrained_report.endswith("classifier re-initialized for 101 classes (the file's has 1000)")


def test_tsn_pytorch_bninception_initializes_flow_and_rgbdiff_nets_as_tsn_pytorch(tsn_pytorch_file):
    """Cross-modality init from Caffe weights: conv1 on our flow input x = (q - 127.5) / 127.5 gives
    what tsn-pytorch's averaged kernels give on its input q - 128; on our RGB differences x = d / 255
    / RGBDIFF_STD what they give on raw 0..255 differences d."""
    from tsn.data.modalities import RGBDIFF_STD

    path, state = tsn_pytorch_file
    kernel = state["conv1_7x7_s2.weight"].mean(dim=1, keepdim=True)  # tsn-pytorch's _construct_flow_model
    generator = torch.Generator().manual_seed(2)
    q = torch.randint(0, 256, (1, 10, 24, 24), generator=generator).float()
    d = torch.randint(-255, 256, (1, 15, 24, 24), generator=generator).float()
    cases = {"flow": (10, q - 128, (q - 127.5) / 127.5), "rgbdiff": (15, d, d / 255 / RGBDIFF_STD)}
    for modality, (channels, caffe_input, our_input) in cases.items():
        model = TSN(5, modality, channels, arch="bninception", pretrained=path)
        replicated = kernel.expand(-1, channels, -1, -1)
        expected = nn.functional.conv2d(caffe_input, replicated, state["conv1_7x7_s2.bias"], 2, 3)
        with torch.no_grad():
            got = model.backbone.body.conv1_7x7_s2.conv(our_input)
        inner = (..., slice(2, -2), slice(2, -2))
        torch.testing.assert_close(got[inner], expected[inner], rtol=1e-4, atol=2e-3)
        note = f"conv1 averaged over RGB for {channels} input channels, Caffe input x_caffe = "
        assert note in model.pretrained_report


def test_cadene_bninception_loads_last_linear_and_1d_bn(tmp_path):
    state = bninception_file(lambda c: (c,), classifier="last_linear", seed=3)
    state["inception_3a_1x1_bn.num_batches_tracked"] = torch.tensor(0)  # saved by torch >= 0.4.1
    path = tmp_path / "bn_inception-52deb4733.pth"
    torch.save(state, path)
    model = TSN(1000, "rgb", 3, arch="bninception", pretrained=path)
    body = model.backbone.body
    torch.testing.assert_close(body.inception_3c.double_3x3_2.bn.weight, state["inception_3c_double_3x3_2_bn.weight"])
    torch.testing.assert_close(body.inception_4a.get_submodule("1x1").conv.bias, state["inception_4a_1x1.bias"])
    _conv1_matches_caffe(body.conv1_7x7_s2.conv, state["conv1_7x7_s2.weight"], state["conv1_7x7_s2.bias"])
    # 1000 classes: the ImageNet classifier is kept.
    torch.testing.assert_close(model.fc.weight, state["last_linear.weight"])
    assert model.pretrained_report.startswith(
        f"loaded 417/417 tensors from {path} (Cadene pretrainedmodels BN-Inception; ")
    assert model.pretrained_report.endswith("classifier loaded (1000 classes)")


def test_a_partial_or_foreign_file_is_refused_with_the_names(tmp_path, tsn_pytorch_file):
    _, state = tsn_pytorch_file
    missing = {k: v for k, v in state.items() if k != "inception_4c_3x3_bn.running_mean"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"1 backbone tensors missing \(inception_4c.3x3.bn.running_mean\)"):
        TSN(3, "rgb", 3, pretrained=tmp_path / "missing.pth")
    extra = dict(state, **{"inception_6a_1x1.weight": torch.zeros(1)})
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="not a BN-Inception checkpoint key: 'inception_6a_1x1.weight'"):
        TSN(3, "rgb", 3, pretrained=tmp_path / "extra.pth")
    wrong = dict(state, **{"inception_3a_3x3.weight": torch.zeros(64, 64, 5, 5)})
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match=r"inception_3a.3x3.conv.weight has shape \(64, 64, 5, 5\), "
                                         r"the model expects \(64, 64, 3, 3\)"):
        TSN(3, "rgb", 3, pretrained=tmp_path / "wrong.pth")
    import torchvision

    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(ValueError, match="not a BN-Inception checkpoint key"):
        TSN(3, "rgb", 3, pretrained=tmp_path / "resnet18.pth")


# ---- torchvision weights by name --------------------------------------------------------------

def test_imagenet_by_name_reads_the_hub_cache(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18().eval()
    cache = hub_checkpoint_dir()
    assert cache == tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / "resnet18-f37072fd.pth")  # torchvision's DEFAULT file name
    model = TSN(7, "rgb", 3, arch="resnet18", pretrained="imagenet").eval()
    assert model.pretrained_report == (f"loaded 120/122 tensors from {cache / 'resnet18-f37072fd.pth'} (torchvision "
                                       "ResNet); classifier re-initialized for 7 classes (the file's has 1000)")
    x = torch.randn(2, 3, 32, 32)
    reference.fc = nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x), reference(x))
    # Weights names resolve to their own files (resnet18's DEFAULT is IMAGENET1K_V1, resnet50's V2).
    assert resolve_pretrained("ResNet18_Weights.IMAGENET1K_V1", "resnet18") == cache / "resnet18-f37072fd.pth"
    with pytest.raises(OSError, match="resnet50-0676ba61.pth"):
        resolve_pretrained("IMAGENET1K_V1", "resnet50")


def test_imagenet_offline_is_one_line_naming_the_file(tmp_path):
    store = make_tiny_store(tmp_path / "tiny.h5", classes=2, videos_per_class=2, frames=6, streams=("rgb",))
    from cli.tsn_app import main

    result = CliRunner().invoke(main, ["train", "--store", str(store), "--arch", "resnet50", "--pretrained", "imagenet",
                                       "--workers", "0", "-o", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    target = tmp_path / "torch_home" / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert lines == [f"Error: cannot download https://download.pytorch.org/models/resnet50-11ad3fa6.pth "
                     f"(<urlopen error [Errno -3] Temporary failure in name resolution>); place that file at {target}"]
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        TSN(3, "rgb", 3, arch="resnet50", pretrained="IMAGENET1K_V9")
    with pytest.raises(FileNotFoundError) as missing:
        TSN(3, "rgb", 3, arch="bninception", pretrained="imagenet")
    assert all(name in str(missing.value) for name in BNINCEPTION_FILES)
    assert str(hub_checkpoint_dir()) in str(missing.value)
    with pytest.raises(ValueError, match="tiny has no weights by that name"):
        TSN(3, "rgb", 3, arch="tiny", pretrained="imagenet")
    with pytest.raises(FileNotFoundError, match="no pretrained weights file at nothere.pth"):
        TSN(3, "rgb", 3, arch="tiny", pretrained="nothere.pth")


def test_bninception_imagenet_by_name_finds_either_file_in_the_cache(tmp_path, tsn_pytorch_file):
    path, _ = tsn_pytorch_file
    hub_checkpoint_dir().mkdir(parents=True)
    (hub_checkpoint_dir() / path.name).symlink_to(path)
    model = TSN(3, "rgb", 3, arch="bninception", pretrained="imagenet")
    assert "tsn-pytorch BN-Inception" in model.pretrained_report


# ---- mmaction2 checkpoints --------------------------------------------------------------------

def to_mmaction(torchvision_key):
    """torchvision ResNet key -> mmaction2's ResNet (ConvModule: conv1.conv, conv1.bn,
    layerX.Y.convN.conv / .bn, downsample.conv / .bn), written from mmaction's module layout."""
    parts = torchvision_key.split(".")
    if parts[0] == "conv1":
        return "conv1.conv." + parts[1]
    if parts[0] == "bn1":
        return "conv1.bn." + parts[1]
    block, unit, rest = ".".join(parts[:2]), parts[2], ".".join(parts[3:])
    if unit == "downsample":
        return f"{block}.downsample.{'conv' if parts[3] == '0' else 'bn'}.{'.'.join(parts[4:])}"
    if unit.startswith("bn"):
        return f"{block}.conv{unit[2:]}.bn.{rest}"
    return f"{block}.{unit}.conv.{rest}"


def mmaction_checkpoint(arch, classes, in_channels=3, seed=0):
    import torchvision

    torch.manual_seed(seed)
    net = getattr(torchvision.models, arch)()
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    state = {f"backbone.{to_mmaction(k)}": v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    state["cls_head.fc_cls.weight"] = torch.randn(classes, net.fc.in_features)
    state["cls_head.fc_cls.bias"] = torch.randn(classes)
    state["data_preprocessor.mean"] = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    state["data_preprocessor.std"] = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    meta = {"epoch": 75, "mmengine_version": "0.10.1", "dataset_meta": {"classes": [str(c) for c in range(classes)]}}
    return {"meta": meta, "state_dict": state}, net


def test_mmaction_resnet_key_mapping():
    assert mmaction_resnet_key("conv1.conv.weight") == "conv1.weight"
    assert mmaction_resnet_key("conv1.bn.running_var") == "bn1.running_var"
    assert mmaction_resnet_key("layer1.0.conv3.conv.weight") == "layer1.0.conv3.weight"
    assert mmaction_resnet_key("layer4.2.conv2.bn.num_batches_tracked") == "layer4.2.bn2.num_batches_tracked"
    assert mmaction_resnet_key("layer2.0.downsample.conv.weight") == "layer2.0.downsample.0.weight"
    assert mmaction_resnet_key("layer2.0.downsample.bn.bias") == "layer2.0.downsample.1.bias"


def test_mmaction2_resnet50_checkpoint_fine_tunes(tmp_path):
    checkpoint, net = mmaction_checkpoint("resnet50", 101)
    path = tmp_path / "tsn_r50_1x1x3_75e_ucf101_rgb_20201023-d85ab600.pth"
    torch.save(checkpoint, path)
    state = checkpoint["state_dict"]
    same = TSN(101, "rgb", 3, arch="resnet50", pretrained=path)
    body = same.backbone.body
    torch.testing.assert_close(body.layer3[2].bn2.running_var, state["backbone.layer3.2.conv2.bn.running_var"])
    torch.testing.assert_close(body.layer2[0].downsample[0].weight, state["backbone.layer2.0.downsample.conv.weight"])
    torch.testing.assert_close(body.conv1.weight, net.conv1.weight)
    torch.testing.assert_close(same.fc.weight, state["cls_head.fc_cls.weight"])
    assert same.pretrained_report.startswith(f"loaded 320/322 tensors from {path} (mmaction2 ResNet checkpoint; "
                                             "ignored data_preprocessor.mean, data_preprocessor.std)")
    assert same.pretrained_report.endswith("classifier loaded (101 classes)")
    other = TSN(51, "rgb", 3, arch="resnet50", pretrained=path)
    torch.testing.assert_close(other.backbone.body.layer4[1].conv3.weight, state["backbone.layer4.1.conv3.conv.weight"])
    assert other.pretrained_report.endswith("classifier re-initialized for 51 classes (the file's has 101)")


def test_mmaction2_flow_checkpoint_keeps_its_10_channel_conv1(tmp_path):
    checkpoint, net = mmaction_checkpoint("resnet18", 400, in_channels=10, seed=1)
    torch.save(checkpoint, tmp_path / "flow.pth")
    model = TSN(4, "flow", 10, arch="resnet18", pretrained=tmp_path / "flow.pth")
    torch.testing.assert_close(model.backbone.body.conv1.weight, net.conv1.weight)
    with pytest.raises(ValueError, match="takes 10 input channels; this model needs 3"):
        TSN(4, "rgbdiff", 15, arch="resnet18", pretrained=tmp_path / "flow.pth")
    del checkpoint["state_dict"]["backbone.layer1.0.conv1.bn.weight"]
    torch.save(checkpoint, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"1 backbone tensors missing \(layer1.0.bn1.weight\)"):
        TSN(4, "flow", 10, arch="resnet18", pretrained=tmp_path / "partial.pth")


def test_our_own_checkpoint_fine_tunes_another_dataset(tmp_path):
    from tsn.checkpoint import save_checkpoint

    source = TSN(6, "flow", 10, arch="tiny")
    save_checkpoint(tmp_path / "checkpoint.pt", source, None, None, 3, {}, [str(c) for c in range(6)])
    model = TSN(4, "flow", 10, arch="tiny", pretrained=tmp_path / "checkpoint.pt")
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    assert "flowkit TSN checkpoint" in model.pretrained_report
    assert model.pretrained_report.endswith("classifier re-initialized for 4 classes (the file's has 6)")


def test_tsn_train_prints_what_it_loaded(tmp_path, tsn_pytorch_file):
    path, _ = tsn_pytorch_file
    store = make_tiny_store(tmp_path / "tiny.h5", classes=2, videos_per_class=2, frames=8, streams=("rgb",))
    from cli.tsn_app import main

    result = CliRunner().invoke(main, ["train", "--store", str(store), "--pretrained", str(path), "--input-size", "64",
                                       "--batch-size", "2", "--epochs", "1", "--iters-per-epoch", "1", "--workers", "0",
                                       "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"pretrained: loaded 414/416 tensors from {path} (tsn-pytorch BN-Inception")
    assert lines[1] == "lr 1.5625e-05 = 0.001 x 2/128 (fine-tune recipe: tsn-pytorch's rgb; --lr overrides)"
