"""The learned-flow TV-L1 layers (tsn.models.learned_flow): accuracy and cost per budget, and what
training changed.

    python -m benchmarks.learned_flow [--size 64x64] [--magnitude 1.5] [--budgets 1x1x5,2x2x10,...]
                                      [--batch 60] [--checkpoint runs/x/checkpoint.pt ...]

Pairs with known flow at --size (the crop size the layers see in training): procedural textures
(flowkit.flow.synthetic) and scikit-image photographs (astronaut, coffee, chelsea, rocket) under
translation, rotation, zoom and smooth non-rigid motion up to --magnitude px, plus scikit-image's
Middlebury motorcycle stereo pair (real disparity, shrunk to --size; its flow is larger).

For each budget SxWxI (scales x warps x iterations per warp, optionally xM for a median filter of
side M) at initialization: mean end-point error against the truth (valid pixels, averaged over
pairs; the stereo pair apart), and the seconds of one forward and of one forward + backward pass
over --batch pairs (the cost of a training step's flow, with and without activation checkpointing),
median of --rounds, in CPU seconds of this process (time.process_time: with --threads 1 it is the
compute itself, whatever else the machine runs; CPU only), and the activations the forward pass keeps
for the backward one (MiB, with and without activation checkpointing). OpenCV's TV-L1 (default
parameters) gives the reference EPE on the same pairs.
With --checkpoint, the TV-L1 layers of each learned-flow checkpoint are evaluated on the same pairs
at their budget, before (the checkpoint's budget at initialization) and after training; with
--figure PNG and --store (the store it trained on), the first checkpoint is also drawn: flow of a few
test videos (centre crop at its input size) from the store, from the layers at initialization and
after training, and the learned per-layer tau, lambda, theta and difference kernels.

Prints one JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

SKIMAGE_IMAGES = ("astronaut", "coffee", "chelsea", "rocket")
MOTIONS = ("translation", "rotation", "zoom", "nonrigid")


def parse_budget(text: str) -> dict:
    """'2x2x10' or '2x2x10x5' -> UnrolledTVL1 keyword arguments."""
    values = [int(v) for v in text.lower().split("x")]
    if len(values) not in (3, 4):
        raise ValueError(f"a budget is SxWxI or SxWxIxM, got {text!r}")
    budget = dict(scales=values[0], warps=values[1], iterations=values[2])
    if len(values) == 4:
        budget["median_filtering"] = values[3]
    return budget


def make_pairs(height: int, width: int, magnitude: float, seed: int = 0):
    """(pairs, stereo): FlowPairs of textures and photographs under the four motions, and the stereo pair."""
    import skimage.data

    from flowkit.flow.synthetic import make_pair, stereo_pair, synthetic_pairs

    pairs = list(synthetic_pairs(8, height, width, magnitude=magnitude, seed=seed))
    for k, name in enumerate(SKIMAGE_IMAGES):
        image = getattr(skimage.data, name)()
        pairs += [make_pair(image, motion, (height, width), magnitude, seed=seed + k) for motion in MOTIONS]
    stereo = stereo_pair(width)
    return pairs, stereo


def _stack(pairs):
    import torch

    prev = torch.from_numpy(np.stack([p.prev for p in pairs])).float()
    nxt = torch.from_numpy(np.stack([p.next for p in pairs])).float()
    return prev, nxt


def mean_epe(flows: np.ndarray, pairs) -> float:
    """Mean over pairs of the mean end-point error on valid pixels."""
    from flowkit.flow.metrics import endpoint_error

    return float(np.mean([endpoint_error(f, p.flow, p.valid) for f, p in zip(flows, pairs)]))


def layers_epe(layers, pairs) -> float:
    import torch

    prev, nxt = _stack(pairs)
    with torch.no_grad():
        return mean_epe(layers.solve(prev, nxt).numpy(), pairs)


def opencv_epe(pairs) -> float:
    import cv2

    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    flows = [solver.calc(p.prev, p.next, None).transpose(2, 0, 1) for p in pairs]
    return mean_epe(np.stack(flows), pairs)


def step_seconds(layers, prev, nxt, backward: bool, rounds: int) -> float:
    """Median seconds of layers.solve on the batch, with a backward pass of the flow's sum if asked."""
    import torch

    times = []
    for _ in range(rounds + 1):
        layers.zero_grad(set_to_none=True)
        start = time.process_time()
        if backward:
            flow = layers.solve(prev, nxt)
            flow.square().mean().backward()
        else:
            with torch.no_grad():
                layers.solve(prev, nxt)
        times.append(time.process_time() - start)
    return statistics.median(times[1:])  # the first round warms allocators up


def _trained_layers(saved: dict):
    """(layers at initialization, trained layers) of a learned-flow checkpoint dict."""
    from tsn.models.learned_flow import UnrolledTVL1

    settings = dict(saved["model_config"]["flow"])
    trained = UnrolledTVL1(**settings)
    trained.load_state_dict({k.removeprefix("flow_layers."): v for k, v in saved["model"].items()
                             if k.startswith("flow_layers.")})
    return UnrolledTVL1(**settings), trained


def _robust_rgb(flow) -> np.ndarray:
    """flow_to_rgb with full saturation at the 99th percentile magnitude (a few border outliers would
    otherwise wash the picture out)."""
    from flowkit.viz import flow_to_rgb

    flow = np.asarray(flow, dtype=np.float32)
    return flow_to_rgb(flow, max(float(np.percentile(np.hypot(flow[0], flow[1]), 99)), 1e-6))


def draw_figure(saved: dict, store: str, path: str, videos: int = 2) -> None:
    """The --figure PNG (module docstring) for checkpoint dict `saved` trained on `store`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from tsn.data import TestCrops, TSNDataset

    size = int(saved["config"]["input_size"])
    split = int(saved["config"].get("split", 1))
    frames = TSNDataset(store, split, "test", "learned-flow", segments=1, preset=TestCrops(size, 1))
    stored = TSNDataset(store, split, "test", "flow", segments=1, preset=TestCrops(size, 1))
    before, after = _trained_layers(saved)
    labels = np.asarray(frames.labels)
    picks = [int(np.flatnonzero(labels == c)[0]) for c in sorted(set(labels.tolist()))][:videos]
    figure, axes = plt.subplots(len(picks) + 1, 4, figsize=(9, 2.3 * (len(picks) + 1)))
    for row, index in enumerate(picks):
        clip = frames[index][0]  # (1, 18, s, s) in [0, 1]
        with torch.no_grad():
            flows = [layers(clip)[0, :2] * layers.bound for layers in (before, after)]
        panels = [(clip[0, :3].permute(1, 2, 0).numpy(), frames.classes[labels[index]]),
                  (_robust_rgb(stored[index][0][0, :2] * stored.bound), "stored TV-L1 flow"),
                  (_robust_rgb(flows[0]), "layers at init"), (_robust_rgb(flows[1]), "layers trained")]
        for ax, (image, title) in zip(axes[row], panels):
            ax.imshow(image)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    values = {"init": before.tvl1_parameters(), "trained": after.tvl1_parameters()}
    for ax, name in zip(axes[-1], ("tau", "lambda", "theta")):
        for label, style in (("init", "--"), ("trained", "-")):
            ax.plot(values[label][name].detach().flatten().numpy(), style, label=label)
        ax.set_title(f"{name} per layer", fontsize=9)
        ax.set_xlabel("fine scale 0-19, coarse 20-39", fontsize=7)
        ax.legend(fontsize=7)
    kernels = {"gradient": after.gradient_kernel.detach().numpy(),
               "divergence": after.divergence_kernel.detach().numpy()}
    axes[-1][3].axis("off")
    axes[-1][3].text(0, 0.5, "\n".join(f"{k} x: {v[0].round(3)}\n{k} y: {v[1].round(3)}" for k, v in kernels.items())
                     + "\n(init: [-1, 1])", fontsize=8, family="monospace", va="center")
    figure.tight_layout()
    figure.savefig(path, dpi=70)
    plt.close(figure)


def main(argv=None) -> dict:
    import torch

    from flowkit.sizes import parse_size
    from flowkit.testing import saved_activation_bytes
    from tsn.checkpoint import load_checkpoint
    from tsn.models.learned_flow import UnrolledTVL1

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="64x64", help="WIDTHxHEIGHT of the pairs")
    parser.add_argument("--magnitude", type=float, default=1.5, help="largest flow of the synthetic motions, px")
    parser.add_argument("--budgets", default="1x1x5,1x2x10,2x1x10,2x2x5,2x2x10,2x2x20,3x2x10,3x3x10,2x2x10x5")
    parser.add_argument("--scale-step", type=float, default=None, help="pyramid ratio [default: the layers' own]")
    parser.add_argument("--batch", type=int, default=60, help="pairs per timed pass (a training step's flows)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU seconds are per process)")
    parser.add_argument("--checkpoint", action="append", default=[], help="learned-flow checkpoint(s) to evaluate")
    parser.add_argument("--figure", default=None, help="PNG drawing the first checkpoint's layers (needs --store)")
    parser.add_argument("--store", default=None, help="the store the first checkpoint trained on (--figure)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    width, height = parse_size(args.size)
    pairs, stereo = make_pairs(height, width, args.magnitude)
    batch_pairs = (pairs * (args.batch // len(pairs) + 1))[: args.batch]
    prev, nxt = _stack(batch_pairs)
    extra = {} if args.scale_step is None else {"scale_step": args.scale_step}
    rows = []
    for text in args.budgets.split(","):
        budget = parse_budget(text)
        layers = UnrolledTVL1(**budget, **extra)
        row = {"budget": text, "layers": budget["scales"] * budget["warps"] * budget["iterations"],
               "epe": round(layers_epe(layers, pairs), 4), "epe_stereo": round(layers_epe(layers, [stereo]), 3),
               "forward_s": round(step_seconds(layers, prev, nxt, False, args.rounds), 3),
               "train_step_s": round(step_seconds(layers, prev, nxt, True, args.rounds), 3)}
        layers.checkpoint = True
        row["train_step_checkpointed_s"] = round(step_seconds(layers, prev, nxt, True, args.rounds), 3)
        row["saved_checkpointed_mib"] = round(saved_activation_bytes(layers.solve, prev, nxt) / 2**20, 1)
        layers.checkpoint = False
        row["saved_mib"] = round(saved_activation_bytes(layers.solve, prev, nxt) / 2**20, 1)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    trained = []
    for path in args.checkpoint:
        saved = load_checkpoint(path)
        before, after = _trained_layers(saved)
        trained.append({"checkpoint": path, "epe_init": round(layers_epe(before, pairs), 4),
                        "epe_trained": round(layers_epe(after, pairs), 4),
                        "epe_stereo_init": round(layers_epe(before, [stereo]), 3),
                        "epe_stereo_trained": round(layers_epe(after, [stereo]), 3)})
    if args.figure and args.checkpoint:
        if not args.store:
            raise ValueError("--figure needs --store, the store the checkpoint trained on")
        draw_figure(load_checkpoint(args.checkpoint[0]), args.store, args.figure)
    result = {"benchmark": "learned_flow", "size": [width, height], "magnitude": args.magnitude,
              "pairs": len(pairs), "batch": args.batch, "threads": torch.get_num_threads(),
              "opencv_tvl1_epe": round(opencv_epe(pairs), 4), "opencv_tvl1_epe_stereo": round(opencv_epe([stereo]), 3),
              "budgets": rows, "trained": trained}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
