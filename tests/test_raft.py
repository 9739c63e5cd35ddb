"""RAFT as a flow algorithm (flowkit.flow.raft): the wrapper's order, channels, padding and crop with a
stub model; torchvision's raft_small with random weights (no download) for shapes, determinism and
the store's round trip; and one-line errors when weights are missing."""

import urllib.error

import numpy as np
import pytest
from click.testing import CliRunner

from flowkit.flow.raft import MIN_SIDE, SIDE_MULTIPLE, RaftFlow, raft_padding, raft_params

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


class StubRaft(torch.nn.Module):
    """Returns flow x = image1's first channel, y = image2's: shows which frame went where, and where."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, image1, image2, num_flow_updates=12):
        self.seen.append((tuple(image1.shape), num_flow_updates))
        assert torch.equal(image1[:, 0], image1[:, 2]) and torch.equal(image2[:, 0], image2[:, 1])  # gray x 3
        return [torch.zeros_like(image1[:, :2]), torch.stack((image1[:, 0], image2[:, 0]), 1)]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_small_random.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    return path


def test_wrapper_passes_prev_as_image1_and_crops_the_padding():
    rng = np.random.default_rng(0)
    prev, next = rng.integers(0, 256, (3, 2, 21, 140), dtype=np.uint8)[[0, 1]]
    stub = StubRaft()
    flow = RaftFlow(stub, updates=5, batch=1)(prev, next)
    assert flow.shape == (2, 2, 21, 140) and flow.dtype == np.float32
    # RAFT's flow maps image1 to image2, as flowkit's: prev must be image1, no sign change.
    np.testing.assert_allclose(flow[:, 0], prev / 255.0 * 2 - 1, atol=1e-6)
    np.testing.assert_allclose(flow[:, 1], next / 255.0 * 2 - 1, atol=1e-6)
    assert stub.seen == [((1, 3, 128, 144), 5)] * 2  # padded to >= 128 and a multiple of 8, batches of 1
    assert raft_padding(96, 128) == (32, 0) and raft_padding(130, 256) == (6, 0)
    assert all((s + p) % SIDE_MULTIPLE == 0 and s + p >= MIN_SIDE for s in (1, 8, 127, 129) for p in raft_padding(s, s))


@pytest.mark.slow
def test_random_weights_give_deterministic_flow_of_the_frames_shape(weights):
    from flowkit.flow.functions import make_flow_fn

    frames = np.random.default_rng(1).integers(0, 256, (4, 36, 52), dtype=np.uint8)
    flow_fn = make_flow_fn("raft", {"weights": str(weights), "updates": 2, "batch": 2})
    a = flow_fn(frames[:-1], frames[1:])
    assert a.shape == (3, 2, 36, 52) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, flow_fn(frames[:-1], frames[1:]))
    # a pair's flow does not depend on its batch
    np.testing.assert_allclose(flow_fn(frames[1:2], frames[2:3])[0], a[1], atol=1e-4)


@pytest.mark.slow
def test_extract_with_raft_round_trips_through_the_store(weights, tmp_path):
    from extract_videos import opencv_frames, write_video
    from flowkit.color import rgb_to_gray
    from flowkit.extract import ContentOptions, RunOptions, extract
    from flowkit.flow.functions import make_flow_fn
    from flowkit.quantize import quantization_step
    from flowkit.store import FlowStore

    video = write_video(tmp_path / "v" / "clip.mp4", frames=4, size=(48, 32))
    params = {"weights": str(weights), "updates": 2}
    content = ContentOptions(size=(48, 32), algo="raft", flow_params=params, bound=4.0)
    summary = extract([video], tmp_path / "raft.h5", content, RunOptions(workers=0, progress=False))
    assert summary.videos_ok == 1
    gray = rgb_to_gray(opencv_frames(video, (48, 32)))
    expected = np.clip(make_flow_fn("raft", params)(gray[:-1], gray[1:]), -4.0, 4.0)
    with FlowStore(tmp_path / "raft.h5") as store:
        assert store.attrs["algo"] == "raft" and store.attrs["flow_params"]["model"] == "small"
        stored = store.read_flow(0, range(3))
    assert stored.shape == (3, 2, 32, 48)
    assert np.abs(stored - expected).max() <= quantization_step(4.0) / 2 + 1e-4


def test_settings_and_missing_weights_are_one_line_errors(tmp_path, monkeypatch):
    from cli.flowkit_app import main

    with pytest.raises(ValueError, match="raft model must be one of small, large"):
        raft_params({"model": "huge"})
    with pytest.raises(ValueError, match="raft does not take tau"):
        raft_params({"tau": 0.2})
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    cache = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(cache))
    for args, message in [
        ([], "raft_small needs weights: put raft_small_C_T_V2-01064c6d.pth "),
        (["--raft-model", "large"], "raft_large_C_T_SKHT_V2-ff5fadd5.pth"),
        (["--flow-weights", str(tmp_path / "nope.pth")], "nope.pth not found"),
    ]:
        result = CliRunner().invoke(main, ["extract", str(video), "-o", str(tmp_path / "o.h5"), "--workers", "0",
                                           "--algo", "raft", *args])
        assert result.exit_code == 2 and message in result.output, result.output
        assert str(cache / "hub" / "checkpoints") in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(main, ["extract", str(video), "--raft-model", "small"])
    assert result.exit_code == 2 and "apply to --algo raft only" in result.output


def test_torchvision_weights_offline_say_where_to_put_the_file(tmp_path, monkeypatch):
    from torchvision.models.optical_flow import Raft_Small_Weights

    from flowkit.flow.raft import build_model

    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(type(Raft_Small_Weights.C_T_V2), "get_state_dict", offline)
    with pytest.raises(ValueError, match=r"could not get torchvision's weights \(URLError\); raft_small needs weights: "
                                         r"put raft_small_C_T_V2-01064c6d.pth"):
        build_model("small", "torchvision")


def test_flow_command_runs_raft_from_a_weights_file(weights, tmp_path):
    import cv2

    from cli.flowkit_app import main

    frames = np.random.default_rng(2).integers(0, 256, (2, 24, 40), dtype=np.uint8)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i}.png"), frame)
    result = CliRunner().invoke(main, ["flow", str(tmp_path / "0.png"), str(tmp_path / "1.png"), "-o",
                                       str(tmp_path / "f.npy"), "--algo", "raft", "--flow-weights", str(weights)])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "f.npy").shape == (2, 24, 40)
