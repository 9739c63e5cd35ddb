"""The learned-flow TV-L1 layers (tsn.models.learned_flow): at initialization they are the engine's
TV-L1 with the same budget; gradients reach every learnable parameter; activation checkpointing
changes nothing but memory; the output is the flow modality's normalized stack; a TSN trains on them
from a store holding only RGB, and `tsn test` uses the learned parameters."""

import numpy as np
import pytest
import torch

import tsn.models.learned_flow as learned_flow
from flowkit.flow.engine import TVL1Engine
from flowkit.flow.synthetic import make_pair, synthetic_pairs
from flowkit.testing import make_tiny_store, saved_activation_bytes
from tsn.checkpoint import load_checkpoint, model_from_checkpoint
from tsn.evaluate import evaluate_checkpoint
from tsn.models import TSN, UnrolledTVL1
from tsn.config import TrainConfig
from tsn.train import train
from tsn_helpers import one_torch_thread  # noqa: F401  (autouse fixture)

skimage_data = pytest.importorskip("skimage.data")

# Budgets: the default one, and one with the median filter and OpenCV's pyramid ratio.
BUDGETS = [dict(scales=2, warps=2, iterations=10, median_filtering=1, scale_step=0.5),
           dict(scales=3, warps=2, iterations=8, median_filtering=5, scale_step=0.8)]
# Measured on these pairs (48x64, up to 2 px): mean end-point difference to the engine 3e-6 to 6e-6 px,
# largest 3.4e-3 px (a few pixels where |grad I| ~ 0 amplifies rounding; the engine's own in-place and
# out-of-place iterations differ as much). Bounds with room for other CPUs' rounding:
MEAN_DIFFERENCE_PX, MAX_DIFFERENCE_PX = 1e-4, 0.05


def _pairs():
    pairs = list(synthetic_pairs(4, 48, 64, magnitude=2.0))
    pairs += [make_pair(skimage_data.astronaut(), m, (48, 64), 2.0, seed=1) for m in ("rotation", "nonrigid")]
    prev = torch.from_numpy(np.stack([p.prev for p in pairs])).float()
    nxt = torch.from_numpy(np.stack([p.next for p in pairs])).float()
    return prev, nxt, pairs


def _engine(budget, per_iteration=False):
    return TVL1Engine("cpu", interpolation="bilinear", per_iteration=per_iteration, nscales=budget["scales"],
                      warps=budget["warps"], inner_iterations=budget["iterations"], outer_iterations=1,
                      epsilon=0.0, median_filtering=budget["median_filtering"], scale_step=budget["scale_step"])


@pytest.mark.parametrize("budget", BUDGETS, ids=["default", "median"])
def test_layers_at_init_reproduce_the_engine_with_the_same_budget(budget):
    prev, nxt, pairs = _pairs()
    with torch.no_grad():
        ours = UnrolledTVL1(**budget).solve(prev, nxt)
    engine = _engine(budget)(prev / 255, nxt / 255)  # float frames are in [0, 1] for the engine
    difference = (ours - engine).square().sum(1).sqrt()
    assert float(difference.mean()) < MEAN_DIFFERENCE_PX and float(difference.max()) < MAX_DIFFERENCE_PX
    # And it is a good flow, not just the same one: error against the truth well under the motion.
    truth = torch.from_numpy(np.stack([p.flow for p in pairs]))
    assert float((ours - truth).square().sum(1).sqrt().mean()) < 0.5


def test_without_the_norm_floor_the_layers_are_the_engines_iteration_bit_for_bit(monkeypatch):
    # The floor under sqrt (for finite derivatives) is the only thing the layers add to the engine's math.
    monkeypatch.setattr(learned_flow, "NORM_FLOOR", 0.0)
    prev, nxt, _ = _pairs()
    with torch.no_grad():
        ours = UnrolledTVL1(**BUDGETS[0]).solve(prev, nxt)
    assert torch.equal(ours, _engine(BUDGETS[0])(prev / 255, nxt / 255))


def test_gradients_reach_every_learnable_parameter_and_are_finite():
    prev, nxt, pairs = _pairs()
    truth = torch.from_numpy(np.stack([p.flow for p in pairs]))
    layers = UnrolledTVL1(learn_initial_flow=True)
    loss = (layers.solve(prev, nxt) - truth).square().sum(1).add(1e-6).sqrt().mean()
    loss.backward()
    names = dict(layers.named_parameters())
    assert set(names) == {"raw_tau", "raw_lambda", "raw_theta", "gradient_kernel", "divergence_kernel",
                          "initial_flow"}
    for name, parameter in names.items():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"{name} gets no gradient"
    # Every layer (scale, warp, iteration) has its own parameters, and each of them learns.
    assert (names["raw_lambda"].grad != 0).all() and (names["raw_theta"].grad != 0).all()


def test_a_few_gradient_steps_lower_the_flow_error():
    prev, nxt, pairs = _pairs()
    truth = torch.from_numpy(np.stack([p.flow for p in pairs]))
    layers = UnrolledTVL1(scales=1, warps=1, iterations=5)
    optimizer = torch.optim.Adam(layers.parameters(), lr=0.05)
    errors = []
    for _ in range(6):
        error = (layers.solve(prev, nxt) - truth).square().sum(1).add(1e-6).sqrt().mean()
        optimizer.zero_grad()
        error.backward()
        optimizer.step()
        errors.append(float(error.detach()))
    assert errors[-1] < 0.95 * errors[0], errors  # measured: 0.80 -> 0.73 px
    # The parameters stay positive whatever the steps did (softplus).
    assert all((v > 0).all() for v in layers.tvl1_parameters().values())


def test_activation_checkpointing_changes_no_value_and_no_gradient():
    prev, nxt, _ = _pairs()
    results = []
    for checkpoint in (False, True):
        torch.manual_seed(0)
        layers = UnrolledTVL1(scales=2, warps=2, iterations=3, checkpoint=checkpoint)
        flow = layers.solve(prev, nxt)
        flow.square().mean().backward()
        results.append((flow.detach(), [p.grad for p in layers.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=0)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_activation_checkpointing_keeps_only_each_warps_inputs():
    prev, nxt, _ = _pairs()
    kept = {checkpoint: saved_activation_bytes(UnrolledTVL1(checkpoint=checkpoint).solve, prev, nxt)
            for checkpoint in (False, True)}
    # 40 layers' activations against the inputs of 4 warps (measured: 608 vs 19 MiB for 60 pairs at 64x64).
    assert kept[True] < 0.1 * kept[False]


def test_chunked_pairs_give_the_same_flow_and_gradients(monkeypatch):
    prev, nxt, _ = _pairs()
    results, chunks = [], []
    for chunk_pixels in (learned_flow.CHECKPOINT_CHUNK_PIXELS, 2 * 48 * 64):  # all 6 pairs at once; 3 chunks of 2
        monkeypatch.setattr(learned_flow, "CHECKPOINT_CHUNK_PIXELS", chunk_pixels)
        torch.manual_seed(0)
        layers = UnrolledTVL1(scales=2, warps=2, iterations=3, checkpoint=True)
        chunks.append(layers.chunk_pairs(48, 64))
        flow = layers.solve(prev, nxt)
        flow.square().mean().backward()
        results.append((flow.detach(), [p.grad for p in layers.parameters()]))
    assert chunks[0] > len(prev) and chunks[1] == 2
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=0)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("budget", [(2, 2, 10), (1, 1, 10), (3, 1, 5), (1, 3, 4)])
def test_the_memory_estimate_follows_what_autograd_keeps(budget):
    scales, warps, iterations = budget
    prev, nxt, _ = _pairs()
    for checkpoint in (False, True):
        layers = UnrolledTVL1(scales=scales, warps=warps, iterations=iterations, checkpoint=checkpoint)
        kept = saved_activation_bytes(layers.solve, prev, nxt)
        estimate = layers.kept_bytes(*prev.shape)
        assert 0.8 * kept < estimate < 1.25 * kept, (checkpoint, estimate, kept)
    # Checkpointed, the backward pass adds one chunk's warp, recomputed, whatever the batch.
    layers = UnrolledTVL1(scales=scales, warps=warps, iterations=iterations, checkpoint=True)
    one_warp = saved_activation_bytes(UnrolledTVL1(scales=1, warps=1, iterations=iterations).solve, prev, nxt)
    assert 0.8 * one_warp < layers.recompute_bytes(*prev.shape) < 1.25 * one_warp
    chunk = layers.chunk_pairs(112, 112)
    assert layers.recompute_bytes(10 * chunk, 112, 112) == layers.recompute_bytes(chunk, 112, 112)


def test_the_default_learned_flow_run_fits_8_gb_at_batch_8_on_the_tiny_arch():
    from tsn.config import flow_memory_note, resolve_config

    config = resolve_config(TrainConfig(store="s.h5", modality="learned-flow", arch="tiny", batch_size=8))
    assert config.flow_checkpoint and config.input_size == 112 and config.segments == 3
    layers = UnrolledTVL1(checkpoint=config.flow_checkpoint)
    pairs = 8 * 3 * 5
    assert layers.backward_bytes(pairs, 112, 112) < 1 * 2**30  # the TV-L1 layers' share of 8 GB
    assert UnrolledTVL1(checkpoint=False).backward_bytes(pairs, 112, 112) > 3 * 2**30
    note = flow_memory_note(config)
    assert note.startswith("learned flow: estimated peak 0.") and "120 pairs of 112x112 per step" in note
    assert "checkpointed per warp" in note and "--no-flow-checkpoint: 3." in note
    assert flow_memory_note(resolve_config(TrainConfig(store="s.h5", modality="flow"))) is None


def test_output_is_the_flow_modalitys_normalized_stack():
    # 6 RGB frames of a texture moving right by 1.5 px per frame -> x1, y1, ..., x5, y5 / bound.
    rng = np.random.default_rng(3)
    import cv2

    base = cv2.resize(rng.uniform(0, 1, (12, 14, 3)).astype(np.float32), (56, 48), interpolation=cv2.INTER_CUBIC)
    base = base.clip(0, 1)
    frames = [cv2.warpAffine(base, np.float32([[1, 0, 1.5 * t], [0, 1, 0]]), (56, 48), borderMode=cv2.BORDER_REFLECT)
              for t in range(6)]
    snippet = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # (6, 3, H, W) in [0, 1]
    layers = UnrolledTVL1(bound=4.0)
    with torch.no_grad():
        stack = layers(snippet.reshape(1, 18, 48, 56))
        gray = torch.from_numpy(np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])) * 255
        pairs = layers.solve(gray[:-1], gray[1:])
    assert stack.shape == (1, 10, 48, 56)
    torch.testing.assert_close(stack[0], (pairs / 4.0).clamp(-1, 1).reshape(10, 48, 56), atol=1e-4, rtol=0)
    inner = stack[0, :, 8:-8, 8:-8]
    assert abs(float(inner[0::2].median()) - 1.5 / 4.0) < 0.05 and abs(float(inner[1::2].median())) < 0.05


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="median_filtering"):
        UnrolledTVL1(median_filtering=4)
    with pytest.raises(ValueError, match="warps"):
        UnrolledTVL1(warps=0)
    with pytest.raises(ValueError, match="RGB snippets"):
        UnrolledTVL1()(torch.zeros(1, 4, 16, 16))
    with pytest.raises(ValueError, match="learned-flow"):
        TSN(3, "flow", 10, arch="tiny", flow={"scales": 1})


def test_tsn_learned_flow_trains_from_an_rgb_only_store_and_tests_with_the_learned_layers(tmp_path, capsys):
    store = make_tiny_store(tmp_path / "rgb.h5", classes=2, videos_per_class=4, frames=12, streams=("rgb",))
    result = train(TrainConfig(store=str(store), modality="learned-flow", epochs=1, iters_per_epoch=2, lr=0.05,
                               arch="tiny", input_size=32, batch_size=3, workers=0, progress=False,
                               flow_scales=1, flow_warps=1, flow_iterations=3, output=str(tmp_path / "run")))
    assert "learned flow: estimated peak" in capsys.readouterr().err  # stated before training
    saved = load_checkpoint(result["checkpoint"])
    assert saved["model_config"]["flow"] == {"scales": 1, "warps": 1, "iterations": 3, "median_filtering": 1,
                                             "scale_step": 0.5, "checkpoint": True, "learn_initial_flow": False,
                                             "bound": 20.0}
    start = UnrolledTVL1(scales=1, warps=1, iterations=3).state_dict()
    learned = {k.removeprefix("flow_layers."): v for k, v in saved["model"].items() if k.startswith("flow_layers.")}
    assert set(learned) == set(start) and any(not torch.equal(learned[k], start[k]) for k in start)
    model = model_from_checkpoint(saved)
    torch.testing.assert_close(model.flow_layers.raw_lambda, learned["raw_lambda"])
    scores = evaluate_checkpoint(store, result["checkpoint"], tmp_path / "s.npz", test_segments=4, workers=0,
                                 progress=False)
    assert scores["modality"] == "learned-flow" and scores["videos"] == 2


def test_flow_layer_options_need_the_learned_flow_modality(tmp_path):
    with pytest.raises(ValueError, match="apply to --modality learned-flow"):
        train(TrainConfig(store=str(tmp_path / "none.h5"), modality="flow", flow_iterations=5))
