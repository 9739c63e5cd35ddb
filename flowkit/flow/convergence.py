"""The TV-L1 convergence test of the torch and Triton engines, exact whatever the reduction order.

OpenCV stops a scale's iterations once the summed squared flow change of an iteration is at most
epsilon**2 * pixels. A float sum depends on its order, and a GPU reduction's order depends on the
shape of the batch it runs in (how many pairs, which ones), so a pair's stopping iteration, and
with it its flow, would depend on its batch-mates. Here each squared change is turned into a
fixed-point integer (floor of change * 2**shift) and the integers are summed: integer addition is
associative, so every order, every batch and every device gives the same sum, bit for bit.

Each term is capped at `cap` (> epsilon**2 * pixels: one capped term alone already fails the test,
as the true sum would) so the sum of a whole pair fits in int64; `shift` is the largest that keeps
it there. Terms below 2**-shift are dropped: at 340x256 the shift is 40, so a pair's sum is exact
to ~1e-7 of the threshold, the precision of a float32 sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INT64_HEADROOM_BITS = 62  # sums stay under 2**62, clear of int64's limit


@dataclass(frozen=True)
class ChangeTest:
    """The fixed-point convergence test of one pyramid scale.

    cap: float32 value at which a squared change is capped; scale: 2**shift (float32, exact);
    limit: the threshold epsilon**2 * pixels in fixed point, floored: a pair has converged when its
    integer sum is <= limit.
    """

    cap: float
    scale: float
    limit: int


def change_test(channels: int, height: int, width: int, epsilon: float) -> ChangeTest:
    """The ChangeTest of a (channels, height, width) flow state with OpenCV's epsilon."""
    threshold = epsilon * epsilon * height * width
    cap = float(np.float32(2.0 * threshold + 1.0))
    terms = channels * height * width
    shift = INT64_HEADROOM_BITS - math.ceil(math.log2(terms * cap))
    shift = max(0, min(shift, 100))
    scale = float(np.float32(2.0**shift))
    return ChangeTest(cap=cap, scale=scale, limit=math.floor(threshold * 2.0**shift))


def fixed_point_change(step, cap, scale):
    """Per-pair fixed-point sum of squared changes: step (N, C, H, W) float32 torch tensor (the
    iteration's change of u) -> (N,) int64, to compare with ChangeTest.limit. cap, scale: a
    ChangeTest's, as floats or 0-d float32 tensors on step's device."""
    import torch

    terms = torch.clamp(step.square(), max=cap).mul_(scale).to(torch.int64)
    return terms.sum((1, 2, 3))
