"""Dual TV-L1 optical flow (Zach, Pock, Bischof 2007; Wedel et al. 2009) in torch, batched, following
OpenCV's cv::optflow::DualTVL1OpticalFlow step by step so that results track it closely:

- pyramid by cv2.resize(INTER_LINEAR) with `scale_step`, stopping before a side gets under 16 px;
- per scale, `warps` times: warp the second image and its centred gradient with the current flow
  (bicubic, zero outside), then up to `outer_iterations` blocks of a 5x5 median filter of the flow
  followed by up to `inner_iterations` iterations of thresholding, divergence, primal and dual updates;
- a scale's iterations stop once the summed squared flow change of an iteration is at most
  epsilon**2 * pixels (OpenCV's scaledEpsilon), checked after every iteration.

Batching: the N pairs of a batch are solved together. Each pair keeps its own convergence flag and
stops changing after its own last iteration, and its convergence sum is exact in any order
(flowkit.flow.convergence), so a pair's flow does not depend on the rest of its batch on any
device. Convergence is read on the host once per call of a few iterations (after every iteration in
eager CPU mode, where reading costs nothing); converged pairs then leave the working batch, so a
batch costs the sum of its pairs' iterations and ends when its last pair converges.

Implementations (TVL1Engine's `engine`): torch operators (eager or torch.compile'd; on CPU the C
solver of flowkit.flow.native_solver), or the fused Triton kernels of flowkit.flow.triton_kernels,
the default on CUDA.

Flow convention (OpenCV's): flow maps prev to next, next(p + flow(p)) ~ prev(p); (N, 2, H, W),
float32, pixels, x then y.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from flowkit.flow.convergence import ChangeTest, change_test, fixed_point_change
from flowkit.errors import UserValueError
from flowkit.flow.frames import frame_pair
from flowkit.flow.median import median_filter_opencv, median_filter_torch
from flowkit.flow.params import TVL1Params, pyramid_sizes
from flowkit.flow.resize import downscale, resize_linear
from flowkit.flow.remap import centered_gradient, warp_bicubic, warp_bilinear

if TYPE_CHECKING:
    from flowkit.flow.native_solver import NativeTVL1

FLT_EPSILON = 1.1920928955078125e-07  # std::numeric_limits<float>::epsilon(), OpenCV's |grad I|^2 floor
MAX_ITERATIONS_PER_CALL = 6  # iterations run per (compiled) call between convergence checks
INTERPOLATIONS = ("bicubic", "bilinear")
ENGINES = ("auto", "torch", "triton")
# torch.compile specializes batch sizes 1 and 2 (2 is tied to the flow's 2 channels) into graphs of
# their own; a compiled working batch never goes below this, so one graph serves every batch.
COMPILED_MIN_BATCH = 3


def forward_differences(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of u (N, C, H, W) along x and y, zero on the last column / row (OpenCV's
    `forwardGradient`): (ux, uy), each (N, C, H, W). The default gradient operator of tvl1_iteration."""
    ux = F.pad(u[..., 1:] - u[..., :-1], (0, 1))
    uy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return ux, uy


def backward_divergence(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Divergence of the dual field (px, py), each (N, C, H, W), by backward differences with zero
    outside the image (OpenCV's `divergence`, the negative adjoint of forward_differences):
    (N, C, H, W). The default divergence operator of tvl1_iteration."""
    return (px - F.pad(px[..., :-1], (1, 0))) + (py - F.pad(py[..., :-1, :], (0, 0, 1, 0)))


def tvl1_iteration(u, px, py, g, neg_inv_grad, rho_c, active, l_t, theta, taut, convergence,
                   gradient=forward_differences, divergence=backward_divergence, norm_floor: float = 0.0):
    """One TV-L1 iteration for a batch: thresholding, divergence, primal and dual updates (pure function).

    u: flow (N, C, H, W), C = 2 (x, y) or 3 (x, y, illumination when gamma > 0); px, py: dual
    variables (N, C, H, W), x and y components per flow channel; g: (N, C, H, W) the warped image
    gradient per channel (I1wx, I1wy[, gamma]); neg_inv_grad: (N, 1, H, W) -1 / max(|grad I1w|^2,
    FLT_EPSILON); rho_c: (N, 1, H, W) constant part of the residual; active: (N,) bool, the pairs still
    iterating, or None when all iterate with no convergence test (a fixed budget; `active` then comes
    back None); l_t = lambda * theta; taut = tau / theta; convergence: the test on the flow change,
    (cap, scale, limit) of flowkit.flow.convergence (floats or 0-d tensors: a fixed-point sum, the same
    for a pair whatever its batch), or a float threshold on the float sum of squared changes.
    Returns new (u, px, py, active); inactive pairs come back unchanged.

    Differentiable (autograd) use: l_t, theta and taut may be 0-d tensors; `gradient` (u -> (ux, uy))
    and `divergence` ((px, py) -> div) replace the finite differences (e.g. by learned kernels; the
    divergence should stay the negative adjoint of the gradient); norm_floor > 0 floors |grad u|^2
    under the dual step's square root, whose derivative is infinite where u is locally constant (the
    default 0 is the engine's exact formula).

    This form is what torch.compile fuses (written so that inductor keeps few intermediate buffers:
    no reduction over channels, u's change taken from the new u); tvl1_iteration_ is its in-place
    eager twin, the same formula with rounding that may differ in the last bit.
    """
    # Thresholding (TH): OpenCV's three cases are the clamp of -rho / |grad I|^2 to [-l_t, l_t].
    rho = rho_c
    for c in range(u.shape[1]):
        rho = rho + g[:, c : c + 1] * u[:, c : c + 1]
    coef = (rho * neg_inv_grad).clamp(-l_t, l_t)
    div = divergence(px, py)
    u_new = u + (div * theta + coef * g)
    if active is not None:
        keep = active[:, None, None, None]
        u_new = torch.where(keep, u_new, u)
        if isinstance(convergence, tuple):
            cap, scale, limit = convergence
            still = fixed_point_change(u_new - u, cap, scale) > limit
        else:
            still = (u_new - u).square().sum((1, 2, 3)) > convergence
    ux, uy = gradient(u_new)
    squared = ux * ux + uy * uy
    if norm_floor > 0:
        squared = squared.clamp_min(norm_floor)
    norm = torch.sqrt(squared) * taut + 1.0
    px_new, py_new = (px + taut * ux) / norm, (py + taut * uy) / norm
    if active is None:
        return u_new, px_new, py_new, None
    return u_new, torch.where(keep, px_new, px), torch.where(keep, py_new, py), active & still


def tvl1_iteration_(u, px, py, g, neg_inv_grad, rho_c, l_t: float, theta: float, taut: float,
                    test: ChangeTest | None = None) -> torch.Tensor:
    """tvl1_iteration for a batch whose pairs are all active, updating u, px, py in place; returns the
    (N,) summed squared flow change: int64 fixed point with `test` (flowkit.flow.convergence),
    float32 without. Fewer passes over memory and no full-size result allocated per operation make
    it about 2.5x faster than tvl1_iteration in eager mode.
    """
    rho = torch.addcmul(rho_c, g[:, :1], u[:, :1])
    for c in range(1, u.shape[1]):
        rho.addcmul_(g[:, c : c + 1], u[:, c : c + 1])
    coef = rho.mul_(neg_inv_grad).clamp_(-l_t, l_t)
    step = px.clone()
    step[..., 1:] -= px[..., :-1]
    step[..., 1:, :] += py[..., 1:, :] - py[..., :-1, :]
    step[..., :1, :] += py[..., :1, :]
    step = torch.addcmul(step.mul_(theta), coef, g)
    change = step.square().sum((1, 2, 3)) if test is None else fixed_point_change(step, test.cap, test.scale)
    u += step
    ux = step.zero_()  # reuse the buffer: forward differences with the last column / row at zero
    torch.sub(u[..., 1:], u[..., :-1], out=ux[..., :-1])
    uy = torch.zeros_like(u)
    torch.sub(u[..., 1:, :], u[..., :-1, :], out=uy[..., :-1, :])
    norm = torch.addcmul(ux * ux, uy, uy).sqrt_().mul_(taut).add_(1.0)
    px.add_(ux, alpha=taut).div_(norm)
    py.add_(uy, alpha=taut).div_(norm)
    return change


def _run_iterations(u, px, py, g, neg_inv_grad, rho_c, active, convergence, steps: int, l_t: float, theta: float,
                    taut: float):
    """`steps` iterations of tvl1_iteration; the unit that gets compiled. convergence: (cap, scale,
    limit) 0-d tensors (tensors, so that the values of each scale do not specialize the graph)."""
    for _ in range(steps):
        u, px, py, active = tvl1_iteration(u, px, py, g, neg_inv_grad, rho_c, active, l_t, theta, taut, convergence)
    return u, px, py, active


def _iterations_per_call(inner_iterations: int, even: bool = False) -> int:
    """Largest divisor of inner_iterations up to MAX_ITERATIONS_PER_CALL, so one compiled unit fits all.
    even: prefer an even divisor (the Triton engine's double buffers then end a chunk where they began)."""
    divisors = [k for k in range(1, MAX_ITERATIONS_PER_CALL + 1) if inner_iterations % k == 0]
    evens = [k for k in divisors if k % 2 == 0]
    return max(evens) if even and evens else max(divisors)


def triton_available() -> bool:
    """Whether the triton package is installed (it ships with torch's CUDA wheels); not imported here."""
    import importlib.util

    try:
        return importlib.util.find_spec("triton") is not None
    except (ImportError, ValueError):
        return False


def choose_engine(engine: str, device: torch.device, compile: bool, interpolation: str) -> str:
    """The implementation TVL1Engine runs, "torch" or "triton", for the `engine` asked (ENGINES).

    "auto" is "triton" on CUDA when triton is installed, compile is off and warping is bicubic, else
    "torch". "triton" off CUDA needs TRITON_INTERPRET=1 (Triton's interpreter: the kernels on CPU
    tensors, slowly; for tests). Impossible combinations raise ValueError.
    """
    if engine not in ENGINES:
        raise UserValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "auto":
        fused = device.type == "cuda" and not compile and interpolation == "bicubic" and triton_available()
        return "triton" if fused else "torch"
    if engine == "triton":
        if compile:
            raise UserValueError("compile=True compiles the torch engine; engine='triton' is fused kernels already")
        if interpolation != "bicubic":
            raise UserValueError("engine='triton' warps bicubic only; use engine='torch' for bilinear")
        if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            raise UserValueError("engine='triton' needs a CUDA device (or TRITON_INTERPRET=1, Triton's interpreter on "
                                 "the CPU, for tests)")
        if not triton_available():
            raise UserValueError("engine='triton' needs the triton package (it comes with torch's CUDA wheels)")
    return engine


def gradient_stack(i1: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W): the images i1 (N, H, W) and their centred x, y gradients, what the warp samples."""
    return torch.stack((i1, *centered_gradient(i1)), 1)


def _allow_recompiles(limit: int = 64) -> None:
    """Raise dynamo's per-function graph limit (default 8) to `limit`.

    All engines share one compiled function; each batch-size class (1; 2, which dynamo ties to the
    channel count; more), frame-size class (inductor's CPU code splits small and large) and parameter
    set is a graph of its own. Past the limit dynamo silently runs the function eagerly, many times
    slower, so a process with a few engines would quietly lose the compiled speed.
    """
    try:  # torch has no public setting for this limit: without dynamo's config module the default stays
        from torch._dynamo import config
    except ImportError:
        return
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), limit))


def image_pyramid(i0: torch.Tensor, i1: torch.Tensor, nscales: int,
                  scale_step: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(I0, I1)] from fine to coarse, as OpenCV builds it: each level cv2.resize(INTER_LINEAR) of the
    previous one by scale_step, as many levels as flowkit.flow.params.pyramid_sizes says. i0, i1: (N, H, W)."""
    levels = [(i0, i1)]
    for _ in pyramid_sizes(i0.shape[-2], i0.shape[-1], nscales, scale_step)[1:]:
        levels.append((downscale(levels[-1][0], scale_step), downscale(levels[-1][1], scale_step)))
    return levels


def linearize(i0: torch.Tensor, i1_stack: torch.Tensor, u: torch.Tensor, warp=warp_bicubic, gamma: float = 0.0):
    """Warp I1 and its gradient with the flow: the data term of one warp, linearized around u.

    i0: (N, H, W) first image; i1_stack: (N, 3, H, W) second image and its centred x, y gradient;
    u: (N, C, H, W) flow in pixels (C = 3 with the illumination channel); warp: warp_bicubic or
    warp_bilinear (differentiable in u and the images). Returns g (N, C, H, W), neg_inv_grad and
    rho_c (N, 1, H, W), tvl1_iteration's inputs.
    """
    i1w, i1wx, i1wy = warp(i1_stack, u[:, :2]).unbind(1)
    grad = i1wx * i1wx + i1wy * i1wy
    neg_inv_grad = (-1.0 / grad.clamp_min(FLT_EPSILON))[:, None]
    rho_c = (i1w - i1wx * u[:, 0] - i1wy * u[:, 1] - i0)[:, None]
    planes = [i1wx, i1wy]
    if u.shape[1] == 3:
        planes.append(torch.full_like(i1wx, gamma))
    return torch.stack(planes, 1), neg_inv_grad, rho_c


def resolve_device(device) -> torch.device:
    """A torch.device from a name, with ValueError (not a crash later) when it cannot be used."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserValueError(f"invalid device {device!r}: use 'cpu' or 'cuda[:index]'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserValueError(f"device {device!r} requested but CUDA is not available on this machine")
        index = dev.index or 0
        if index >= torch.cuda.device_count():
            raise UserValueError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA "
                                 f"device(s) exist")
    elif dev.type != "cpu":
        raise UserValueError(f"unsupported device {device!r}: use 'cpu' or 'cuda[:index]'")
    return dev


class TVL1Engine:
    """A reusable batched TV-L1 solver on one device; keeps compiled kernels between calls.

    device: "cpu", "cuda", "cuda:1", ... . engine: which implementation solves (ENGINES):
    "triton", fused Triton kernels (flowkit.flow.triton_kernels: one kernel per iteration, median
    and linearization; CUDA, or the CPU under TRITON_INTERPRET=1 for tests; bicubic warping only);
    "torch", torch operators (eager, or torch.compile'd with compile=True; on CPU the fused C solver
    unless native=False); "auto" (default): "triton" on CUDA when triton imports and compile is off,
    else "torch". compile: run the torch iterations through torch.compile (inductor: C++/OpenMP on
    CPU, Triton on CUDA); the first call pays the compilation (seconds, less with inductor's on-disk
    cache), later calls of any size and batch reuse one graph (the working batch is kept at
    COMPILED_MIN_BATCH pairs or more so that its size never specializes the graph).
    interpolation: "bicubic" (OpenCV's) or "bilinear" warping. per_iteration: in-place iterations with
    a convergence check after each (default: eager CPU) instead of chunks of masked iterations (the
    compiled and CUDA path; False lets CPU tests run that path eagerly). native: solve the per-iteration
    path with bicubic warping by flowkit.flow.native_solver (numpy, OpenCV and the fused C kernel;
    default: whenever the kernel builds; False: torch ops; True: required), `threads` pairs at a time
    (default: the CPUs this process may use). max_pairs: most pairs solved at once (default on CUDA:
    as many as fit in the device's free memory, flowkit.flow.memory; larger calls run in slices).
    A pair's flow does not depend on the other pairs of its batch, on any engine and device: every
    per-pair reduction is exact (flowkit.flow.convergence).
    `iterations` holds, after each call, the (N,) iterations each pair ran (all scales and warps; on
    the chunked torch path a converging pair counts its whole last chunk). Other keyword arguments are
    the TV-L1 parameters with OpenCV's names (see TVL1Params; `lambda` is accepted for `lambda_`).
    Call with two frame batches (see flowkit.flow.frames for accepted shapes) to get float32 flow
    (N, 2, H, W) in pixels, x then y, prev -> next (next(p + flow(p)) ~ prev(p)), on this device.
    """

    def __init__(self, device="cpu", compile: bool = False, interpolation: str = "bicubic",
                 per_iteration: bool | None = None, native: bool | None = None, threads: int | None = None,
                 engine: str = "auto", max_pairs: int | None = None, **params):
        self.params = TVL1Params.from_kwargs(**params)
        self.device = resolve_device(device)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.interpolation = interpolation
        self.compile = bool(compile)
        self.engine = choose_engine(engine, self.device, self.compile, interpolation)
        if max_pairs is not None and (int(max_pairs) != max_pairs or max_pairs < 1):
            raise ValueError(f"max_pairs must be an integer >= 1, got {max_pairs!r}")
        self.max_pairs = max_pairs
        p = self.params
        self._constants = dict(l_t=float(p.lambda_ * p.theta), theta=float(p.theta), taut=float(p.tau / p.theta))
        self.iterations: np.ndarray | None = None  # (N,) int32: iterations each pair of the last call ran
        self._native: NativeTVL1 | None = None
        self.threads = threads
        # engine="auto" falls back to torch when the Triton kernels fail before their first success
        # (a Triton or driver too old for them, say); an explicit engine="triton" raises instead.
        self._fallback = engine == "auto"
        if self.engine == "triton":
            if per_iteration or native:
                raise ValueError("per_iteration and native belong to engine='torch'")
            from flowkit.flow import triton_kernels

            self._triton = triton_kernels
            self._per_iteration = False
            self.steps_per_call = _iterations_per_call(p.inner_iterations, even=True)
        else:
            self._setup_torch(per_iteration, native, threads)

    def _setup_torch(self, per_iteration: bool | None, native: bool | None, threads: int | None) -> None:
        """The torch engine's settings (TVL1Engine's per_iteration, native, threads)."""
        p = self.params
        # Eager CPU checks convergence after each iteration (a host check costs nothing there); with
        # converged pairs dropped at once, the working batch is always all active and can use the
        # faster in-place iteration. per_iteration=False forces the chunked path of CUDA / compile.
        if per_iteration is None:
            per_iteration = not self.compile and self.device.type == "cpu"
        if per_iteration and self.compile:
            raise ValueError("per_iteration=True is the eager in-place path; it cannot be compiled")
        self._per_iteration = bool(per_iteration)
        # The per-iteration CPU path runs in the fused C kernel when it can be built (flowkit.flow.native).
        if threads is not None and (int(threads) != threads or threads < 1):
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        fusable = self._per_iteration and self.device.type == "cpu" and self.interpolation == "bicubic"
        if native and not fusable:
            raise ValueError("native=True needs the per-iteration CPU path with bicubic warping")
        self.steps_per_call = 1 if self._per_iteration else _iterations_per_call(p.inner_iterations)
        iterate = functools.partial(_run_iterations, steps=self.steps_per_call, **self._constants)
        if self.compile:
            _allow_recompiles()
        self._iterate = torch.compile(iterate, dynamic=True) if self.compile else iterate
        # Median: OpenCV's SIMD kernel on CPU; elsewhere the min/max network, which compiles into one kernel.
        if self.device.type == "cpu":
            self._median_planes = median_filter_opencv
        elif self.compile:
            self._median_planes = torch.compile(median_filter_torch, dynamic=True)
        else:
            self._median_planes = median_filter_torch
        if fusable and native is not False:
            from flowkit.flow import native as native_kernel
            from flowkit.flow.native_solver import NativeTVL1

            kernel = native_kernel.load()
            if kernel is not None:
                self._native = NativeTVL1(kernel, p, threads)
                self.engine = "native"
            elif native:
                raise ValueError("native=True, but the fused CPU TV-L1 kernel cannot be built here (see the warning)")

    def _fall_back_to_torch(self, error: Exception) -> None:
        warnings.warn(f"flowkit: the Triton TV-L1 kernels failed ({type(error).__name__}: {error}); "
                      "running the eager torch engine instead", RuntimeWarning, stacklevel=3)
        self.engine = "torch"
        self._fallback = False
        self._setup_torch(None, None, self.threads)

    def __call__(self, prev, next, initial_flow=None) -> torch.Tensor:
        """Flow for each pair: prev, next frames (N, H, W) / (N, 3, H, W) / (H, W) -> (N, 2, H, W) float32.

        initial_flow: (N, 2, H, W) starting flow in pixels, required with use_initial_flow=True.
        """
        i0, i1 = frame_pair(prev, next, self.device)
        expected = (i0.shape[0], 2, *i0.shape[1:])
        if self.params.use_initial_flow:
            if initial_flow is None:
                raise ValueError(f"use_initial_flow=True needs initial_flow of shape {expected}")
            initial_flow = torch.as_tensor(initial_flow, dtype=torch.float32, device=self.device)
            if tuple(initial_flow.shape) != expected:
                raise ValueError(f"initial_flow must have shape {expected}, got {tuple(initial_flow.shape)}")
        elif initial_flow is not None:
            raise ValueError("initial_flow given but use_initial_flow is False")
        if self._native is not None:
            start = None if initial_flow is None else initial_flow.numpy()
            flow, self.iterations = self._native.solve(i0.numpy(), i1.numpy(), start)
            return torch.from_numpy(flow)
        size = self.batch_limit(*i0.shape[-2:])
        flows, counts = [], []
        with torch.no_grad():
            # Slices of at most `size` pairs: a pair's flow does not depend on its batch-mates, so
            # slicing changes nothing but the peak memory.
            for start in range(0, i0.shape[0], size):
                part = slice(start, start + size)
                start_flow = None if initial_flow is None else initial_flow[part]
                try:
                    flow, count = self._solve(i0[part], i1[part], start_flow)
                except torch.cuda.OutOfMemoryError:
                    raise
                except Exception as error:  # any failure of kernels not yet proven on this machine
                    if not (self.engine == "triton" and self._fallback):
                        raise
                    self._fall_back_to_torch(error)
                    return self(prev, next, initial_flow)  # the first slice failed: nothing is lost
                if self.engine == "triton":
                    self._fallback = False  # the kernels work here: later errors are real ones
                flows.append(flow)
                counts.append(count)
        self.iterations = np.concatenate(counts)
        return flows[0] if len(flows) == 1 else torch.cat(flows)

    def batch_limit(self, height: int, width: int) -> int:
        """Most pairs of height x width solved at once: max_pairs if given, else on CUDA as many as
        the device's free memory holds (flowkit.flow.memory), else no limit."""
        if self.max_pairs is not None:
            return self.max_pairs
        if self.device.type != "cuda":
            return 2**31
        from flowkit.flow.memory import pairs_that_fit

        free, _ = torch.cuda.mem_get_info(self.device)
        return pairs_that_fit(free, height, width, self.engine, self.params, compiled=self.compile)

    def _pyramid(self, i0: torch.Tensor, i1: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return image_pyramid(i0, i1, self.params.nscales, self.params.scale_step)

    def _solve(self, i0: torch.Tensor, i1: torch.Tensor, initial_flow: torch.Tensor | None):
        """Flow (N, 2, H, W) of the pairs and the (N,) iterations each ran."""
        p = self.params
        n = i0.shape[0]
        if self.compile and n < COMPILED_MIN_BATCH:
            # Repeat the last pair up to the compiled graph's smallest batch (see COMPILED_MIN_BATCH).
            fill = torch.full((COMPILED_MIN_BATCH - n,), n - 1, device=i0.device)
            index = torch.cat((torch.arange(n, device=i0.device), fill))
            i0, i1 = i0[index], i1[index]
            initial_flow = None if initial_flow is None else initial_flow[index]
        levels = self._pyramid(i0, i1)
        channels = 3 if p.gamma != 0 else 2
        h, w = levels[-1][0].shape[-2:]
        u = torch.zeros(i0.shape[0], channels, h, w, device=self.device)
        if initial_flow is not None:
            # Only the coarsest scale's start matters: finer scales start from the coarser result.
            for _ in range(1, len(levels)):
                initial_flow = downscale(initial_flow, p.scale_step) * p.scale_step
            u[:, :2] = initial_flow
        counts = np.zeros(i0.shape[0], np.int32)
        solve_scale = self._solve_scale_triton if self.engine == "triton" else self._solve_scale
        for s in range(len(levels) - 1, -1, -1):
            u = solve_scale(*levels[s], u, counts)
            if s > 0:
                u = resize_linear(u, levels[s - 1][0].shape[-2:])
                u[:, :2] *= 1.0 / p.scale_step  # the illumination channel is not a displacement
        return u[:n, :2].contiguous(), counts[:n]

    def _linearize(self, i0: torch.Tensor, i1_stack: torch.Tensor, u: torch.Tensor):
        warp = warp_bicubic if self.interpolation == "bicubic" else warp_bilinear
        return linearize(i0, i1_stack, u, warp, self.params.gamma)

    def _median(self, u: torch.Tensor) -> torch.Tensor:
        """u with its x, y planes median filtered (the illumination plane is left alone, as OpenCV does)."""
        filtered = self._median_planes(u[:, :2], self.params.median_filtering)
        return torch.cat((filtered, u[:, 2:]), 1) if u.shape[1] > 2 else filtered

    def _solve_scale(self, i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor, counts: np.ndarray) -> torch.Tensor:
        """Refine u (N, C, H, W) on one pyramid scale: `warps` linearizations, each iterated to convergence.
        counts: (N,) iterations run per pair, incremented."""
        i1_stack = gradient_stack(i1)
        px = torch.zeros_like(u)
        py = torch.zeros_like(u)
        for _ in range(self.params.warps):
            g, neg_inv_grad, rho_c = self._linearize(i0, i1_stack, u)
            u, px, py = self._iterate_warp(u, px, py, g, neg_inv_grad, rho_c, counts)
        return u

    def _iterate_warp(self, u, px, py, g, neg_inv_grad, rho_c, counts: np.ndarray):
        """The median-filter / iteration blocks of one warp; returns the new (u, px, py).

        Pairs that converge leave the working batch (their state is written back and the rest is
        gathered into smaller tensors), so a batch costs the sum of its pairs' iterations rather than
        batch size x the slowest pair's. Compiled, the working batch keeps converged (inactive) pairs
        to stay at COMPILED_MIN_BATCH pairs or more.
        """
        p = self.params
        test = change_test(u.shape[1], u.shape[-2], u.shape[-1], p.epsilon)
        convergence = (torch.tensor(test.cap, device=u.device), torch.tensor(test.scale, device=u.device),
                       torch.tensor(test.limit, dtype=torch.int64, device=u.device))
        work = [u, px, py, g, neg_inv_grad, rho_c]  # the working batch: pairs `rows` of the full one
        rows = None  # None: all pairs, in order, and `work` holds the full tensors
        counted = np.arange(u.shape[0])  # rows on the host, for the iteration counts
        running = np.ones(u.shape[0], bool)  # which of them are active, on the host
        active = torch.ones(u.shape[0], dtype=torch.bool, device=u.device)
        calls_per_block = p.inner_iterations // self.steps_per_call
        floor = COMPILED_MIN_BATCH if self.compile else 1
        for _ in range(p.outer_iterations):
            if p.median_filtering > 1:
                # Converged pairs kept in a compiled working batch (below COMPILED_MIN_BATCH) stay as they are.
                if running.all():
                    work[0] = self._median(work[0])
                else:
                    work[0] = torch.where(active[:, None, None, None], self._median(work[0]), work[0])
            for _ in range(calls_per_block):
                counts[counted[running]] += self.steps_per_call
                if self._per_iteration:
                    c = self._constants
                    change = tvl1_iteration_(work[0], work[1], work[2], work[3], work[4], work[5], c["l_t"],
                                             c["theta"], c["taut"], test)
                    active = change > test.limit
                else:
                    work[0], work[1], work[2], active = self._iterate(*work, active, convergence)
                running = active.cpu().numpy()  # the one host sync per call
                remaining = int(running.sum())
                if remaining == len(running) or (len(running) <= floor and remaining > 0):
                    continue
                if rows is None:
                    u, px, py = work[:3]
                    rows = torch.arange(len(active), device=u.device)
                else:
                    u[rows], px[rows], py[rows] = work[:3]
                if remaining == 0:
                    return u, px, py
                order = np.argsort(~running, kind="stable")  # active rows first, then converged ones
                keep_host = order[: max(remaining, min(floor, len(order)))]
                keep = torch.from_numpy(keep_host).to(u.device)
                rows, active, counted, running = rows[keep], active[keep], counted[keep_host], running[keep_host]
                work = [t[keep] for t in work]
        if rows is None:
            return tuple(work[:3])
        u[rows], px[rows], py[rows] = work[:3]
        return u, px, py

    def _solve_scale_triton(self, i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor,
                            counts: np.ndarray) -> torch.Tensor:
        """_solve_scale on the fused Triton kernels. The state lives in two buffer sets that
        iterations alternate between; pairs that converge drop out of the launches (`ids`), not out
        of the tensors, so nothing is gathered or copied when they do."""
        p = self.params
        kernels = self._triton
        n, c, h, w = u.shape
        planes = gradient_stack(i1)
        u = u.contiguous()
        state = (u, torch.zeros_like(u), torch.zeros_like(u))  # the flow and the dual field (x, y)
        spare = (torch.empty_like(u), torch.empty_like(u), torch.empty_like(u))
        filtered = torch.empty_like(u) if p.median_filtering > 1 else None
        g = torch.empty_like(u)
        neg_inv_grad = torch.empty(n, 1, h, w, device=u.device)
        rho_c = torch.empty(n, 1, h, w, device=u.device)
        test = change_test(c, h, w, p.epsilon)
        steps = self.steps_per_call
        changes = torch.zeros(steps, n, dtype=torch.int64, device=u.device)
        for _ in range(p.warps):
            kernels.linearize(i0, planes, u, float(p.gamma), g, neg_inv_grad, rho_c)
            rows = np.arange(n)
            ids = torch.arange(n, dtype=torch.int32, device=u.device)
            for _ in range(p.outer_iterations):
                source = state
                if filtered is not None:
                    kernels.median(u, filtered, ids, p.median_filtering)
                    source = (filtered, state[1], state[2])
                for _ in range(p.inner_iterations // steps):
                    changes.zero_()
                    for k in range(steps):
                        target = spare if k % 2 == 0 else state
                        kernels.iterate(source, target, g, neg_inv_grad, rho_c, ids, changes, k, test,
                                        **self._constants)
                        source = target
                    if steps % 2:  # an odd chunk ends in the spare buffers: bring the live pairs back
                        index = ids.long()
                        for mine, other in zip(state, spare):
                            mine.index_copy_(0, index, other.index_select(0, index))
                    source = state
                    over = changes[:, ids.long()].cpu().numpy() > test.limit  # the one host sync per chunk
                    live = np.cumprod(np.vstack([np.ones((1, len(rows)), bool), over[:-1]]), axis=0, dtype=bool)
                    counts[rows] += live.sum(0).astype(np.int32)
                    running = over.all(0)
                    if running.all():
                        continue
                    rows = rows[running]
                    ids = ids[torch.from_numpy(running).to(u.device)]
                    if len(rows) == 0:
                        break
                if len(rows) == 0:
                    break
        return u


@functools.lru_cache(maxsize=8)
def _cached_engine(device: str, compile: bool, interpolation: str, params: TVL1Params) -> TVL1Engine:
    return TVL1Engine(device, compile, interpolation, **params.as_dict())


def tvl1(prev, next, device=None, compile: bool = False, interpolation: str = "bicubic", initial_flow=None,
         **params) -> torch.Tensor:
    """Dual TV-L1 optical flow between frame batches, as OpenCV's DualTVL1OpticalFlow computes it.

    prev, next: numpy arrays or tensors, uint8 (0..255) or float ([0, 1]), of shape (N, H, W),
    (N, 1, H, W), (N, 3, H, W) (RGB, converted to gray) or (H, W) for a single pair.
    device: where to compute (default: the input's device; CPU for numpy). compile: use torch.compile
    (pays a compilation on first use; worth it for many pairs). params: OpenCV's names and defaults,
    tau=0.25, lambda_=0.15 (or lambda), theta=0.3, nscales=5, warps=5, epsilon=0.01,
    inner_iterations=30, outer_iterations=10, scale_step=0.8, gamma=0.0, median_filtering=5,
    use_initial_flow=False (then pass initial_flow (N, 2, H, W)). Invalid values raise ValueError.

    Returns float32 (N, 2, H, W) flow in pixels, x then y, mapping prev to next:
    next(p + flow(p)) ~ prev(p).
    """
    if device is None:
        device = prev.device if isinstance(prev, torch.Tensor) else "cpu"
    engine = _cached_engine(str(resolve_device(device)), bool(compile), interpolation, TVL1Params.from_kwargs(**params))
    return engine(prev, next, initial_flow)
