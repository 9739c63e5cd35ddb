"""Bytes and operations per pixel of one TV-L1 iteration as our torch code runs it, counted from the code.

    python -m benchmarks.iteration_cost

Runs the engine's pieces once on a small batch under a torch dispatch mode that sees every aten
operator the code issues, as eager CUDA would launch them (one kernel each): for each operator the
bytes it reads (its tensor inputs; a broadcast input counted at its own size) and writes (its
outputs), and the elements it produces. Totals are divided by the pixels of the batch: per pixel of
one pair, fp32, two flow channels. Pieces: the iteration (`tvl1_iteration`, the CUDA / compiled
formula, with the mask of converged pairs), the 5x5 median (`median_filter_torch`, once per outer
iteration) and the linearization (`TVL1Engine._linearize`, once per warp). A fused kernel's floor
(read the state once, write it once) is printed next to them. Prints one JSON line; the table in
docs/performance.md comes from it.
"""

from __future__ import annotations

import json
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

# The fused kernel (flowkit/flow/tvl1_cpu.c, and what a fused GPU kernel must move at least): reads
# u, px, py, g (2 planes each), neg_inv_grad and rho_c; writes u, px, py. Its arithmetic, counted in
# tvl1_cpu.c per pixel: thresholding 2 mul + 2 add + 1 mul + clamp (2); divergence 4 add per channel;
# primal 2 mul + 2 add per channel; change 2 per channel; forward differences 2 per channel; norm
# 2 mul + 1 add + sqrt + mul + add per channel; dual 2 mul + 2 add + 2 div per channel.
FUSED_FLOATS_READ, FUSED_FLOATS_WRITTEN = 10, 6
FUSED_OPS = 7 + 2 * (4 + 4 + 2 + 2 + 6 + 6)


class OpCounter(TorchDispatchMode):
    """Counts aten operators with the bytes they read and write and the elements they produce."""

    def __init__(self):
        super().__init__()
        self.ops = Counter()
        self.read = 0
        self.written = 0
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.__name__.split(".")[0]
        if name in ("view", "slice", "select", "unsqueeze", "expand", "_unsafe_view", "detach", "alias", "t",
                    "split", "unbind", "squeeze", "permute", "as_strided", "_to_copy", "lift_fresh"):
            return out  # views and bookkeeping: no kernel, no traffic
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor) and t.dim() > 0]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        self.ops[name] += 1
        self.read += sum(_storage_bytes(t) for t in inputs)
        self.written += sum(t.numel() * t.element_size() for t in outputs)
        self.elements += sum(t.numel() for t in outputs)
        return out


def _storage_bytes(t: torch.Tensor) -> int:
    """Bytes a kernel reads from t: its elements, counting a broadcast (stride 0) dimension once."""
    return int(torch.tensor([s for s, st in zip(t.shape, t.stride()) if st != 0] or [1]).prod()) * t.element_size()


def count(fn, pixels: int) -> dict:
    with OpCounter() as counter:
        fn()
    return {"kernels": sum(counter.ops.values()), "bytes_read": round(counter.read / pixels, 1),
            "bytes_written": round(counter.written / pixels, 1),
            "bytes": round((counter.read + counter.written) / pixels, 1),
            "elementwise_ops": round(counter.elements / pixels, 1), "operators": dict(counter.ops.most_common())}


def main() -> dict:
    from flowkit.flow.engine import TVL1Engine, tvl1_iteration
    from flowkit.flow.median import median_filter_torch
    from flowkit.flow.remap import centered_gradient

    n, h, w = 4, 64, 80
    pixels = n * h * w
    gen = torch.Generator().manual_seed(0)
    u, px, py, g = (torch.randn(n, 2, h, w, generator=gen) for _ in range(4))
    neg_inv_grad, rho_c = -torch.rand(n, 1, h, w, generator=gen), torch.randn(n, 1, h, w, generator=gen)
    active = torch.ones(n, dtype=torch.bool)
    engine = TVL1Engine(native=False)
    i0, i1 = torch.rand(n, h, w, generator=gen) * 255, torch.rand(n, h, w, generator=gen) * 255
    stack = torch.stack((i1, *centered_gradient(i1)), 1)
    report = {
        "benchmark": "iteration_cost", "per": "pixel of one pair, fp32, 2 flow channels",
        "iteration_eager": count(lambda: tvl1_iteration(u, px, py, g, neg_inv_grad, rho_c, active, 0.045, 0.3, 0.83,
                                                        1.0), pixels),
        "median_5x5": count(lambda: median_filter_torch(u, 5), pixels),
        "linearize": count(lambda: engine._linearize(i0, stack, u), pixels),
        "iteration_fused_floor": {"bytes_read": 4 * FUSED_FLOATS_READ, "bytes_written": 4 * FUSED_FLOATS_WRITTEN,
                                  "bytes": 4 * (FUSED_FLOATS_READ + FUSED_FLOATS_WRITTEN), "ops": FUSED_OPS,
                                  "kernels": 1},
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
