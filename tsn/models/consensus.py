"""Segmental consensus: how a TSN joins the per-snippet class scores of a video into one.

avg, max and weighted are the paper's; `temporal` is ours, the answer to the paper's remark that an
average over time cannot model temporal structure (docs/temporal-consensus.md):

    consensus(s_1..s_K) = (1 / K) sum_k W(r_k) s_k,   r_k = (k + 0.5) / K,   W(r) = sum_b phi_b(r) W_b

with s_k the (C,) scores of snippet k in temporal order, r_k its relative position in the video,
phi_b piecewise-linear hat functions on TEMPORAL_KNOTS evenly spaced knots over [0, 1], and W_b
learned (C, C) matrices initialized to the identity (so training starts from avg). Because W depends
on the relative position and not on the slot index, a model trained with 3 segments tests with 25.
"""

from __future__ import annotations

import torch
from torch import nn

from tsn.choices import CONSENSUS_TYPES

TEMPORAL_KNOTS = 3  # knots at 0, 0.5, 1: with 3 training segments every knot is identifiable


def relative_positions(count: int, device=None) -> torch.Tensor:
    """(count,) float32 centres (k + 0.5) / count of `count` equal segments of [0, 1]."""
    return (torch.arange(count, device=device, dtype=torch.float32) + 0.5) / count


def hat_basis(positions: torch.Tensor, knots: int) -> torch.Tensor:
    """Piecewise-linear interpolation weights of positions (T,) in [0, 1] on `knots` evenly spaced
    knots (0 and 1 included): (T, knots) float, each row non-negative and summing to 1."""
    if knots < 2:
        raise ValueError(f"the temporal consensus needs at least 2 knots, got {knots}")
    grid = positions[:, None] * (knots - 1) - torch.arange(knots, device=positions.device, dtype=positions.dtype)
    return (1.0 - grid.abs()).clamp_min(0.0)


class SegmentConsensus(nn.Module):
    """Combine per-snippet scores (B, T, C) into video scores (B, C); snippets in temporal order.

    avg: mean over snippets (the paper's default). max: element-wise maximum over snippets.
    weighted: sum_t w_t s_t with w = softmax(theta) over `segments` learned logits theta (zeros at
    start, so training begins as avg); softmax keeps the weights positive and summing to 1, so the
    scale of the scores does not drift. When T differs from `segments` (25 test snippets after
    training with 3), snippet t takes the weight of the training segment covering its temporal
    position, floor((t + 0.5) * segments / T), and the weights are renormalized.
    temporal: order-aware, position-dependent class mixing (module docstring); needs `classes`.
    """

    def __init__(self, kind: str = "avg", segments: int = 3, classes: int | None = None,
                 knots: int = TEMPORAL_KNOTS):
        super().__init__()
        if kind not in CONSENSUS_TYPES:
            raise ValueError(f"unknown consensus {kind!r}; choose from {', '.join(CONSENSUS_TYPES)}")
        self.kind = kind
        self.segments = segments
        if kind == "weighted":
            self.logits = nn.Parameter(torch.zeros(segments))
        if kind == "temporal":
            if not classes or classes < 1:
                raise ValueError("the temporal consensus needs the number of classes")
            hat_basis(torch.zeros(1), knots)  # checks the knot count
            self.knot_weights = nn.Parameter(torch.eye(classes).repeat(knots, 1, 1))

    def segment_weights(self, count: int) -> torch.Tensor:
        """(count,) float weights summing to 1 for `count` snippets in temporal order (weighted only)."""
        weights = torch.softmax(self.logits.float(), dim=0)
        if count != self.segments:
            position = ((torch.arange(count, device=weights.device) + 0.5) * self.segments / count).long()
            weights = weights[position.clamp_(max=self.segments - 1)]
            weights = weights / weights.sum()
        return weights

    def position_weights(self, count: int) -> torch.Tensor:
        """(count, C, C) class-mixing matrices W(r_k) of `count` snippets in temporal order (temporal only)."""
        basis = hat_basis(relative_positions(count, self.knot_weights.device), self.knot_weights.shape[0])
        return torch.einsum("tb,bij->tij", basis.to(self.knot_weights.dtype), self.knot_weights)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        if self.kind == "avg":
            return scores.mean(dim=1)
        if self.kind == "max":
            return scores.amax(dim=1)
        if self.kind == "temporal":
            mixing = self.position_weights(scores.shape[1]).to(scores.dtype)
            return torch.einsum("tij,btj->bi", mixing, scores) / scores.shape[1]
        weights = self.segment_weights(scores.shape[1]).to(scores.dtype)
        return torch.einsum("btc,t->bc", scores, weights)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, segments={self.segments}"
