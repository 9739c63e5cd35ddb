"""gpu_check's out-of-memory stage: a real CUDA out-of-memory error, recovered by splitting the call.

On CUDA the process's share of the GPU's memory is capped (torch.cuda.set_per_process_memory_fraction)
so that a call of `pairs` pairs cannot fit while a few pairs can; the flow function of `flowkit
extract` (flowkit.flow.functions.make_flow_fn behind flowkit.extract.splitting.SplittingFlow) must
then return every pair's flow, equal to the pairs solved one at a time, after splitting. On the CPU
(the dry run) flowkit.testing.FaultyFlow raises torch.OutOfMemoryError above 3 pairs instead.
"""

from __future__ import annotations

import time

import numpy as np


def _pairs(count: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    from flowkit.flow.synthetic import synthetic_pairs

    pairs = synthetic_pairs(count, height, width)
    return np.stack([p.prev for p in pairs]), np.stack([p.next for p in pairs])


def check(device: str, dry_run: bool, seconds_left: float) -> dict:
    """Run the stage; returns its JSON-able result (status ok / failed / skipped and the figures)."""
    from flowkit.extract.splitting import SplittingFlow
    from flowkit.flow.functions import make_flow_fn

    if seconds_left < 30:
        return {"status": "skipped", "reason": f"{seconds_left:.0f} s left"}
    tvl1 = {"nscales": 3, "warps": 2, "outer_iterations": 2} if dry_run else {}
    height, width, count = (24, 32, 6) if dry_run else (256, 340, 48)
    prev, next = _pairs(count, height, width)
    started = time.perf_counter()
    if dry_run:
        from flowkit.testing import FaultyFlow

        engine = FaultyFlow("tvl1", tvl1, max_pairs=3)
        reference = make_flow_fn("tvl1", tvl1)
        cap = None
    else:
        import torch

        from flowkit.flow.memory import bytes_per_pair
        from flowkit.flow.params import TVL1Params

        engine = make_flow_fn("tvl1", tvl1, device="cuda")
        reference = engine
        engine(prev[:1], next[:1])  # kernels compiled, context made, before the cap
        torch.cuda.synchronize()
        total = torch.cuda.get_device_properties(0).total_memory
        per_pair = bytes_per_pair("triton", height, width, TVL1Params.from_kwargs(**tvl1))
        # Room for about 8 pairs above what is held now: a 48-pair call cannot fit.
        cap = (torch.cuda.memory_reserved() + 8 * per_pair) / total
        torch.cuda.set_per_process_memory_fraction(min(cap, 0.9))
    try:
        splitting = SplittingFlow(engine)
        flow = splitting(prev, next)
        seconds = time.perf_counter() - started
        alone = np.concatenate([reference(prev[k:k + 1], next[k:k + 1]) for k in range(count)])
    except Exception as exc:  # the stage's result, not a crash of the whole check
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    finally:
        if cap is not None:
            import torch

            torch.cuda.set_per_process_memory_fraction(1.0)
            torch.cuda.empty_cache()
    calls = getattr(engine, "calls", None)
    equal = bool(np.array_equal(flow, alone))
    return {"status": "ok" if equal else "failed", "pairs": count, "frame": [height, width],
            "memory_fraction_cap": None if cap is None else round(cap, 4), "seconds": round(seconds, 2),
            "calls": calls, "flow_equals_pairs_alone": equal,
            "max_abs_diff": float(np.abs(flow - alone).max())}
