"""Flow functions on numpy frames, for the tools that compute flow pair after pair (extraction, the
`flowkit flow` command): the cheapest solver that gives the requested algorithm on the requested
device.

A flow function takes prev, next gray frames (N, H, W) uint8 (numpy, or CPU tensors) and returns
float32 (N, 2, H, W) numpy flow in pixels, x then y, prev -> next (next(p + flow(p)) ~ prev(p)).
TV-L1 on the CPU without compile runs flowkit.flow.native_solver (numpy, OpenCV and the fused C
kernel), which never imports torch; everything else goes through the torch engine or OpenCV's
backends (flowkit.flow.backends), imported only then.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable

import numpy as np

# The type of a flow function (the module docstring): (prev, next) -> (N, 2, H, W) float32 flow. The one
# definition; extraction, the batcher and the warped flow import it.
FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def make_flow_fn(algo: str, flow_params: dict, device: str = "cpu", compile: bool = False,
                 threads: int | None = None, warm_start: bool = False, fast: bool = False,
                 engine: str = "auto") -> FlowFn:
    """A flow function (module docstring) for `algo` (one of flowkit.flow.ALGORITHMS) with
    `flow_params` (OpenCV's names; raft: flowkit.flow.raft's) on `device` ("cpu", "cuda", "cuda:1").
    compile: torch.compile the TV-L1 iterations. threads: CPU TV-L1 solves that many pairs of a batch
    at once (None: the CPUs this process may use). warm_start / fast (tvl1 only): a
    flowkit.flow.warm.SequenceTVL1, whose calls take the flow of the pair before as a third argument.
    engine: the TV-L1 implementation (flowkit.flow.engine.ENGINES; "auto": fused Triton kernels on
    CUDA, the C solver on CPU). Invalid parameters raise ValueError here, before any frame is read."""
    from flowkit.errors import UserValueError
    from flowkit.flow.params import TVL1Params, check_algorithm

    check_algorithm(algo)
    if engine != "auto" and algo != "tvl1":
        raise UserValueError(f"engine applies to tvl1 only, not {algo!r}")
    if warm_start or fast:
        if algo != "tvl1":
            raise UserValueError(f"--warm-start and --fast apply to --algo tvl1 only, got {algo}")
        return _sequence_tvl1(flow_params, device, compile, threads, warm_start, fast)
    if algo == "raft":
        from flowkit.flow.raft import RaftFlow

        return RaftFlow.from_params(flow_params, device)
    if algo == "tvl1" and device == "cpu" and not compile and engine != "triton":
        from flowkit.flow import native
        from flowkit.flow.native_solver import NativeTVL1

        params = TVL1Params.from_kwargs(**flow_params)
        kernel = native.load()
        if kernel is not None:
            return NativeTVL1(kernel, params, threads)
    if algo == "tvl1":
        from flowkit.flow.engine import TVL1Engine

        solver = TVL1Engine(device=device, compile=compile, threads=threads, engine=engine, **flow_params)
        return lambda prev, next: solver(prev, next).detach().float().cpu().numpy()
    from flowkit.flow.backends import compute_flow

    return lambda prev, next: compute_flow(prev, next, algo=algo, device=device, **flow_params).numpy()


def _sequence_tvl1(flow_params: dict, device: str, compile: bool, threads: int | None, warm_start: bool,
                   fast: bool) -> FlowFn:
    """flowkit.flow.warm.SequenceTVL1 on the solver make_flow_fn would pick (the CPU kernel, else the
    torch engine)."""
    from flowkit.flow.params import TVL1Params
    from flowkit.flow.warm import SequenceTVL1

    params = TVL1Params.from_kwargs(**flow_params)
    kernel = None
    if device == "cpu" and not compile:
        from flowkit.flow import native

        kernel = native.load()
    if kernel is not None:
        from flowkit.flow.native_solver import NativeTVL1

        def make_solver(p: TVL1Params):
            return NativeTVL1(kernel, p, threads)
    else:
        def make_solver(p: TVL1Params):
            return _EngineSolver(p, device, compile, threads)
    return SequenceTVL1(make_solver, params, warm_start=warm_start, fast=fast)


class _EngineSolver:
    """The torch engine as a flowkit.flow.warm.Solver (float frames in 0..255 in, numpy out)."""

    def __init__(self, params, device: str, compile: bool, threads: int | None):
        from flowkit.flow.engine import TVL1Engine

        # The torch engine: the one whose initial-flow path the warm schedule is tested on.
        self.engine = TVL1Engine(device=device, compile=compile, threads=threads, engine="torch", **params.as_dict())

    def solve(self, i0: np.ndarray, i1: np.ndarray, initial_flow: np.ndarray | None = None) -> tuple:
        scale = np.float32(1 / 255)  # the engine takes float frames in [0, 1]
        flow = self.engine(i0 * scale, i1 * scale, initial_flow).detach().float().cpu().numpy()
        return flow, np.asarray(self.engine.iterations)


def host_array(x) -> np.ndarray:
    """x as a numpy array: numpy (and lists) as they are, a torch tensor on any device copied to the
    host. torch is never imported for it."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@contextlib.contextmanager
def torch_threads(count: int | None):
    """torch uses `count` CPU threads inside the block, its previous setting after (None: leave it).
    Never imports torch for it: when torch is not loaded (CPU TV-L1) there is nothing to set."""
    torch = sys.modules.get("torch")
    if count is None or torch is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(count)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
