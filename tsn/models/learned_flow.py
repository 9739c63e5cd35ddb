"""TV-L1 optical flow unrolled into network layers and trained with the action classifier (the
`learned-flow` modality; TVNet, Fan et al. CVPR 2018, did this for TV-L1).

The layers are flowkit's engine, not a copy of it: the image pyramid, the linearization around the
current flow, the median filter and each iteration are flowkit.flow.engine's pure functions, run
under autograd with a fixed budget (`scales` x `warps` x `iterations`, no convergence test),
bilinear warping (differentiable in the flow) and these learnable parameters:

- per iteration of every warp of every scale ("layer"), the positive tau, lambda and theta
  (softplus of a free parameter), initialized to OpenCV's 0.25, 0.15, 0.3;
- the two-tap kernels of the forward-difference gradient and of the backward-difference
  divergence (x and y), initialized to the finite differences (-1, 1) with OpenCV's border rules;
- optionally a coarse initial flow (2 x INITIAL_FLOW_GRID^2, coarsest-scale pixels), zero at start.

At initialization the layers compute what TVL1Engine(interpolation='bilinear', nscales=scales,
warps=warps, inner_iterations=iterations, outer_iterations=1, epsilon=0, median_filtering=...)
computes (tests/test_learned_flow.py bounds the difference). The output is what the `flow`
modality feeds the network: flow divided by the store's bound and clipped to [-1, 1] (the stored
flow's quantization range), channels x1, y1, ..., x5, y5.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from flowkit.flow.engine import image_pyramid, linearize, tvl1_iteration
from flowkit.flow.frames import to_gray_batch
from flowkit.flow.median import median_filter_torch
from flowkit.flow.params import TVL1Params, pyramid_sizes
from flowkit.flow.remap import centered_gradient, warp_bilinear
from flowkit.flow.resize import resize_linear
from flowkit.quantize import DEFAULT_BOUND
from tsn.choices import LEARNED_FLOW_ITERATIONS, LEARNED_FLOW_SCALES, LEARNED_FLOW_WARPS

# Budget defaults (tsn.choices, where the CLI reads them), chosen by measurement (docs/results.md).
DEFAULT_SCALES, DEFAULT_WARPS, DEFAULT_ITERATIONS = LEARNED_FLOW_SCALES, LEARNED_FLOW_WARPS, LEARNED_FLOW_ITERATIONS
DEFAULT_MEDIAN = 1  # no median filter: see docs/results.md (costly under autograd, little gain at this budget)
DEFAULT_SCALE_STEP = 0.5
# |grad u|^2 floor under the dual step's square root: its derivative is infinite where u is locally
# constant (always on the last row and column). 1e-6 px^2 changes the flow by far less than 1e-4 px.
NORM_FLOOR = 1e-6
INITIAL_FLOW_GRID = 4
# With activation checkpointing the pairs are solved in chunks of at most this many pixels (whole pairs,
# at least one): the backward pass recomputes one chunk's warp at a time, so its peak follows the chunk.
CHECKPOINT_CHUNK_PIXELS = 2**19
# Float32 (H, W) planes per pair that autograd keeps for the backward pass, at the scale's size, read
# off the code (tests/test_learned_flow.py checks the estimate against what autograd saves): per layer,
# tvl1_iteration's residual, its product with -1/|grad I|^2 and its clamp, the divergence, the new
# flow, its x and y gradients, their squared norm and its root, the dual steps' numerators (4) and
# denominator, the new duals (4); per warp, linearize's sampling grid, the warped image and its
# gradients, their squared norm, its clamp and inverse, the residual's constant part and the pieces
# of the bilinear sampling; per checkpointed warp, only its inputs: the flow, the duals and the images.
PLANES_PER_LAYER = 23
PLANES_PER_WARP = 23
PLANES_PER_CHECKPOINTED_WARP = 9
BYTES_PER_PLANE_PIXEL = 4  # float32
# Initial two taps of the gradient (weights of u at p, p + 1) and of the divergence (of p at p - 1, p).
FINITE_DIFFERENCE = (-1.0, 1.0)


def inverse_softplus(value: float) -> float:
    """x with softplus(x) = value (> 0)."""
    return value + math.log(-math.expm1(-value))


class UnrolledTVL1(nn.Module):
    """Learnable TV-L1 layers: RGB snippet frames -> the normalized flow stack of the flow modality.

    scales: pyramid scales (fewer when a scale would be under 16 px; the finest ones' parameters are
    used). warps: linearizations per scale. iterations: TV-L1 iterations per warp. median_filtering:
    1 (off), 3 or 5, the median filter applied to the flow before each warp's iterations (OpenCV's).
    scale_step: pyramid ratio. checkpoint: recompute each warp's layers in the backward pass instead
    of keeping their activations (activation checkpointing: memory of one warp instead of all, about
    one more forward pass of compute), the pairs solved in chunks of CHECKPOINT_CHUNK_PIXELS so that
    the recomputation's memory does not grow with the batch. learn_initial_flow: learn a coarse
    starting flow. bound: the flow quantization bound (pixels) the output is divided by, the store's.
    backward_bytes() estimates the memory a training step keeps for the backward pass.
    """

    def __init__(self, scales: int = DEFAULT_SCALES, warps: int = DEFAULT_WARPS, iterations: int = DEFAULT_ITERATIONS,
                 median_filtering: int = DEFAULT_MEDIAN, scale_step: float = DEFAULT_SCALE_STEP,
                 checkpoint: bool = False, learn_initial_flow: bool = False, bound: float = DEFAULT_BOUND):
        super().__init__()
        # TVL1Params checks the budget and the filter the way the engine does.
        start = TVL1Params(nscales=scales, warps=warps, inner_iterations=iterations, scale_step=scale_step,
                           median_filtering=median_filtering)
        if not bound > 0:
            raise ValueError(f"bound must be positive, got {bound}")
        self.scales, self.warps, self.iterations = int(scales), int(warps), int(iterations)
        self.median_filtering, self.scale_step = int(median_filtering), float(scale_step)
        self.checkpoint, self.bound = bool(checkpoint), float(bound)
        shape = (self.scales, self.warps, self.iterations)
        self.raw_tau = nn.Parameter(torch.full(shape, inverse_softplus(start.tau)))
        self.raw_lambda = nn.Parameter(torch.full(shape, inverse_softplus(start.lambda_)))
        self.raw_theta = nn.Parameter(torch.full(shape, inverse_softplus(start.theta)))
        # Rows x, y; columns the two taps.
        self.gradient_kernel = nn.Parameter(torch.tensor([FINITE_DIFFERENCE, FINITE_DIFFERENCE]))
        self.divergence_kernel = nn.Parameter(torch.tensor([FINITE_DIFFERENCE, FINITE_DIFFERENCE]))
        self.initial_flow = None
        if learn_initial_flow:
            self.initial_flow = nn.Parameter(torch.zeros(2, INITIAL_FLOW_GRID, INITIAL_FLOW_GRID))

    def config(self) -> dict:
        """Constructor arguments: UnrolledTVL1(**layers.config()) rebuilds the layers a state dict fits."""
        return {"scales": self.scales, "warps": self.warps, "iterations": self.iterations,
                "median_filtering": self.median_filtering, "scale_step": self.scale_step,
                "checkpoint": self.checkpoint, "learn_initial_flow": self.initial_flow is not None,
                "bound": self.bound}

    def tvl1_parameters(self) -> dict[str, torch.Tensor]:
        """The positive per-layer parameters {'tau', 'lambda', 'theta'}, each (scales, warps,
        iterations) float32, scale 0 the finest."""
        return {"tau": F.softplus(self.raw_tau), "lambda": F.softplus(self.raw_lambda),
                "theta": F.softplus(self.raw_theta)}

    def gradient(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Learned forward differences of u (N, C, H, W), zero on the last column / row: (ux, uy)."""
        k = self.gradient_kernel
        ux = F.pad(k[0, 0] * u[..., :-1] + k[0, 1] * u[..., 1:], (0, 1))
        uy = F.pad(k[1, 0] * u[..., :-1, :] + k[1, 1] * u[..., 1:, :], (0, 0, 0, 1))
        return ux, uy

    def divergence(self, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
        """Learned backward-difference divergence of (px, py), each (N, C, H, W), zero outside."""
        k = self.divergence_kernel
        div_x = k[0, 1] * px + F.pad(k[0, 0] * px[..., :-1], (1, 0))
        div_y = k[1, 1] * py + F.pad(k[1, 0] * py[..., :-1, :], (0, 0, 1, 0))
        return div_x + div_y

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (N, 3 (L + 1), H, W) float RGB in [0, 1], L + 1 consecutive frames per snippet, R, G, B
        each -> (N, 2 L, H, W) float32 flow between consecutive frames divided by `bound`, clipped to
        [-1, 1], channels x1, y1, ..., xL, yL. Computed in float32 even under autocast."""
        n, channels, h, w = frames.shape
        if channels % 3 or channels < 6:
            raise ValueError(f"expected RGB snippets (N, 3 x frames, H, W) of 2 frames or more, "
                             f"got {tuple(frames.shape)}")
        with torch.autocast(frames.device.type, enabled=False):
            gray = to_gray_batch(frames.float().reshape(-1, 3, h, w)).view(n, channels // 3, h, w)
            prev = gray[:, :-1].reshape(-1, h, w)
            next = gray[:, 1:].reshape(-1, h, w)
            flow = self.solve(prev, next)
            return (flow / self.bound).clamp(-1.0, 1.0).reshape(n, -1, h, w)

    def chunk_pairs(self, height: int, width: int) -> int | None:
        """Pairs of height x width solved together when checkpointing (None: all at once)."""
        return max(1, CHECKPOINT_CHUNK_PIXELS // (height * width)) if self.checkpoint else None

    def kept_bytes(self, pairs: int, height: int, width: int) -> int:
        """Estimated bytes autograd keeps from a forward pass of `pairs` pairs of height x width pixels
        until the backward pass: every layer's and warp's saved planes (PLANES_PER_LAYER, PLANES_PER_WARP)
        at each pyramid scale's size; with checkpointing, each warp's inputs only
        (PLANES_PER_CHECKPOINTED_WARP)."""
        pixels = sum(h * w for h, w in pyramid_sizes(height, width, self.scales, self.scale_step))
        planes = PLANES_PER_WARP + self.iterations * PLANES_PER_LAYER
        if self.checkpoint:
            planes = PLANES_PER_CHECKPOINTED_WARP
        return pairs * pixels * self.warps * planes * BYTES_PER_PLANE_PIXEL

    def recompute_bytes(self, pairs: int, height: int, width: int) -> int:
        """Estimated bytes of the one checkpointed warp the backward pass recomputes at a time: one
        chunk's warp at the finest scale (0 without checkpointing)."""
        chunk = self.chunk_pairs(height, width)
        if chunk is None:
            return 0
        planes = PLANES_PER_WARP + self.iterations * PLANES_PER_LAYER
        return min(pairs, chunk) * height * width * planes * BYTES_PER_PLANE_PIXEL

    def backward_bytes(self, pairs: int, height: int, width: int) -> int:
        """Estimated peak bytes the layers hold in a training step's backward pass for `pairs` pairs
        of height x width pixels: kept_bytes + recompute_bytes."""
        return self.kept_bytes(pairs, height, width) + self.recompute_bytes(pairs, height, width)

    def solve(self, prev: torch.Tensor, next: torch.Tensor) -> torch.Tensor:
        """Flow prev -> next in pixels (next(p + flow(p)) ~ prev(p)): gray (N, H, W) in 0..255 ->
        (N, 2, H, W) float32, x then y. Differentiable in the parameters and the frames. Pairs are
        independent: with checkpointing they are solved in chunks (chunk_pairs), same values."""
        chunk = self.chunk_pairs(*prev.shape[-2:])
        if chunk is not None and prev.shape[0] > chunk and torch.is_grad_enabled():
            return torch.cat([self._solve(prev[i:i + chunk], next[i:i + chunk])
                              for i in range(0, prev.shape[0], chunk)])
        return self._solve(prev, next)

    def _solve(self, prev: torch.Tensor, next: torch.Tensor) -> torch.Tensor:
        levels = image_pyramid(prev, next, self.scales, self.scale_step)
        h, w = levels[-1][0].shape[-2:]
        u = prev.new_zeros(prev.shape[0], 2, h, w)
        if self.initial_flow is not None:
            u = u + resize_linear(self.initial_flow, (h, w))
        parameters = self.tvl1_parameters()
        for s in range(len(levels) - 1, -1, -1):
            i0, i1 = levels[s]
            i1_stack = torch.stack((i1, *centered_gradient(i1)), 1)
            px, py = torch.zeros_like(u), torch.zeros_like(u)
            for k in range(self.warps):
                layers = {name: values[s, k] for name, values in parameters.items()}
                block = functools.partial(self._warp, layers)
                if self.checkpoint and torch.is_grad_enabled():
                    from torch.utils.checkpoint import checkpoint

                    u, px, py = checkpoint(block, i0, i1_stack, u, px, py, use_reentrant=False)
                else:
                    u, px, py = block(i0, i1_stack, u, px, py)
            if s > 0:
                u = resize_linear(u, levels[s - 1][0].shape[-2:]) * (1.0 / self.scale_step)
        return u

    def _warp(self, layers: dict, i0, i1_stack, u, px, py):
        """One warp: linearize around u, median filter, then `iterations` TV-L1 layers."""
        g, neg_inv_grad, rho_c = linearize(i0, i1_stack, u, warp_bilinear)
        if self.median_filtering > 1:
            u = median_filter_torch(u, self.median_filtering)
        for i in range(self.iterations):
            tau, lambda_, theta = layers["tau"][i], layers["lambda"][i], layers["theta"][i]
            u, px, py, _ = tvl1_iteration(u, px, py, g, neg_inv_grad, rho_c, None, lambda_ * theta, theta, tau / theta,
                                          None, gradient=self.gradient, divergence=self.divergence,
                                          norm_floor=NORM_FLOOR)
        return u, px, py

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config().items())
