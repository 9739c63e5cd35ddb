"""Fused Triton kernels of the TV-L1 engine: one kernel per inner iteration, one per median filter,
one per warp's linearization. Imported only by TVL1Engine(engine="triton"), so CPU paths never
import triton. With TRITON_INTERPRET=1 set before triton is imported they run on CPU tensors.

The arithmetic is flowkit/flow/tvl1_cpu.c's (the CPU solver's), operation for operation:

- `iterate`: thresholding, divergence, primal update and dual update of every pixel in one pass.
  The dual update of pixel p needs the new flow at p + (1, 0) and p + (0, 1), which other programs
  own, so each program recomputes the primal update there (from the old state, which it only
  reads) and writes the new state to a second set of buffers: the state is read once and written
  once per iteration. The iteration's squared change of u is summed per pair in fixed point
  (flowkit.flow.convergence), with one integer atomic add per program: exact, so a pair's sum and
  stopping iteration do not depend on its batch-mates or on the order of the programs. A pair
  whose change of an earlier iteration of the chunk was at most the limit has converged: its
  programs copy its state through unchanged.
- `median`: cv2.medianBlur's 5x5 (or 3x3) median with replicated border, one kernel; the min/max
  network is flowkit.flow.median's, written out in flowkit/flow/triton_median.py.
- `linearize`: bicubic sampling (Keys, A = -0.75, zero outside) of I1 and its centred gradient at
  p + u(p), then the data term's constants, as tvl1_cpu.c's tvl1_linearize.

Layouts: float32, C-contiguous; u, px, py, g (N, C, H, W), neg_inv_grad, rho_c (N, 1, H, W), i0
(N, H, W), the sampled planes (N, 3, H, W) (I1, dI1/dx, dI1/dy). `ids` (M,) int32 lists the pairs
(rows of N) a launch works on. Division and square root are IEEE round-to-nearest (div_rn,
sqrt_rn) and the kernels are built without fused multiply-adds (enable_fp_fusion=False, as the C
kernel is built with -ffp-contract=off), so every operation rounds as the CPU solver's does.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from flowkit.flow.convergence import ChangeTest
from flowkit.flow.triton_median import median3, median5

# Pixels per program (flat indices of one plane). The interpreter pays per program and per operation,
# not per pixel: there, one program covers a test's whole frame.
BLOCK = 4096 if os.environ.get("TRITON_INTERPRET") == "1" else 256
FLT_EPSILON = 1.1920928955078125e-07  # OpenCV's floor on |grad I|^2, as in tvl1_cpu.c


@triton.jit(do_not_specialize=["k"])
def _iteration_kernel(u_in, px_in, py_in, u_out, px_out, py_out, g_ptr, nig_ptr, rho_ptr, ids_ptr, changes_ptr,
                      n_rows, k, h, w, l_t, theta, taut, cap, scale, limit,
                      C: tl.constexpr, BLOCK: tl.constexpr):
    # Written out without helper functions: Triton's interpreter pays for every device-function call.
    pair = tl.load(ids_ptr + tl.program_id(1)).to(tl.int64)
    hw = h * w
    # The pair iterates unless an earlier iteration of this chunk converged (changes row j, column pair).
    alive = k >= 0
    for j in range(k):
        alive = alive & (tl.load(changes_ptr + j * n_rows + pair) > limit)
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = p < hw
    x = p % w
    y = p // w
    right = x < w - 1
    down = y < h - 1
    sb = pair * C * hw
    pb = pair * hw
    ma = m & alive  # this pixel, p
    mr = ma & right  # its right neighbour, p + 1
    md = ma & down  # the pixel below, p + w
    # Thresholding at p, p + 1, p + w: coef = clamp((rho_c + sum_c g_c u_c) * neg_inv_grad, -l_t, l_t).
    rho_p = tl.load(rho_ptr + pb + p, mask=ma, other=0.0)
    rho_r = tl.load(rho_ptr + pb + p + 1, mask=mr, other=0.0)
    rho_d = tl.load(rho_ptr + pb + p + w, mask=md, other=0.0)
    for c in tl.static_range(C):
        o = sb + c * hw
        rho_p = rho_p + tl.load(g_ptr + o + p, mask=ma, other=0.0) * tl.load(u_in + o + p, mask=ma, other=0.0)
        rho_r = rho_r + tl.load(g_ptr + o + p + 1, mask=mr, other=0.0) * tl.load(u_in + o + p + 1, mask=mr, other=0.0)
        rho_d = rho_d + tl.load(g_ptr + o + p + w, mask=md, other=0.0) * tl.load(u_in + o + p + w, mask=md, other=0.0)
    v = rho_p * tl.load(nig_ptr + pb + p, mask=ma, other=0.0)
    coef_p = tl.where(v < -l_t, -l_t, tl.where(v > l_t, l_t, v))
    v = rho_r * tl.load(nig_ptr + pb + p + 1, mask=mr, other=0.0)
    coef_r = tl.where(v < -l_t, -l_t, tl.where(v > l_t, l_t, v))
    v = rho_d * tl.load(nig_ptr + pb + p + w, mask=md, other=0.0)
    coef_d = tl.where(v < -l_t, -l_t, tl.where(v > l_t, l_t, v))
    total = tl.zeros([BLOCK], dtype=tl.int64)
    for c in tl.static_range(C):
        o = sb + c * hw
        u_p = tl.load(u_in + o + p, mask=m, other=0.0)
        px_p = tl.load(px_in + o + p, mask=m, other=0.0)
        py_p = tl.load(py_in + o + p, mask=m, other=0.0)
        # Divergence by backward differences, zero outside the image, at p, p + 1 and p + w.
        div_p = (px_p - tl.load(px_in + o + p - 1, mask=ma & (x > 0), other=0.0)) + (
            py_p - tl.load(py_in + o + p - w, mask=ma & (y > 0), other=0.0))
        div_r = (tl.load(px_in + o + p + 1, mask=mr, other=0.0) - px_p) + (
            tl.load(py_in + o + p + 1, mask=mr, other=0.0) - tl.load(py_in + o + p + 1 - w, mask=mr & (y > 0),
                                                                     other=0.0))
        div_d = (tl.load(px_in + o + p + w, mask=md, other=0.0) - tl.load(px_in + o + p + w - 1, mask=md & (x > 0),
                                                                           other=0.0)) + (
            tl.load(py_in + o + p + w, mask=md, other=0.0) - py_p)
        # Primal update u + theta div + coef g; its step at p is this iteration's change.
        step = div_p * theta + coef_p * tl.load(g_ptr + o + p, mask=ma, other=0.0)
        u_new = u_p + step
        u_right = tl.load(u_in + o + p + 1, mask=mr, other=0.0) + (
            div_r * theta + coef_r * tl.load(g_ptr + o + p + 1, mask=mr, other=0.0))
        u_down = tl.load(u_in + o + p + w, mask=md, other=0.0) + (
            div_d * theta + coef_d * tl.load(g_ptr + o + p + w, mask=md, other=0.0))
        # Dual update from the new flow's forward differences (zero on the last column / row).
        ux = tl.where(right, u_right - u_new, 0.0)
        uy = tl.where(down, u_down - u_new, 0.0)
        norm = tl.sqrt_rn(ux * ux + uy * uy) * taut + 1.0
        px_new = tl.div_rn(px_p + taut * ux, norm)
        py_new = tl.div_rn(py_p + taut * uy, norm)
        tl.store(u_out + o + p, tl.where(alive, u_new, u_p), mask=m)
        tl.store(px_out + o + p, tl.where(alive, px_new, px_p), mask=m)
        tl.store(py_out + o + p, tl.where(alive, py_new, py_p), mask=m)
        squared = (tl.minimum(step * step, cap) * scale).to(tl.int64)
        total += tl.where(ma, squared, 0)
    if alive:
        tl.atomic_add(changes_ptr + k * n_rows + pair, tl.sum(total, axis=0))


@triton.jit
def _median_kernel(u_ptr, out_ptr, ids_ptr, h, w, C: tl.constexpr, KSIZE: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(1)
    pair = tl.load(ids_ptr + row // C).to(tl.int64)
    c = row % C
    hw = h * w
    off = (pair * C + c) * hw
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = p < hw
    if c < 2:
        if KSIZE == 5:
            value = median5(u_ptr + off, p // w, p % w, h, w, m)
        else:
            value = median3(u_ptr + off, p // w, p % w, h, w, m)
    else:  # the illumination plane is not filtered (as OpenCV)
        value = tl.load(u_ptr + off + p, mask=m, other=0.0)
    tl.store(out_ptr + off + p, value, mask=m)


@triton.jit
def _cubic(t):
    """Keys' cubic weights (A = -0.75) of the taps at -1, 0, 1, 2 for a fraction t, as tvl1_cpu.c."""
    t1 = t + 1.0
    t2 = 1.0 - t
    t3 = t2 + 1.0
    w0 = ((-0.75 * t1 + 3.75) * t1 - 6.0) * t1 + 3.0
    w1 = ((1.25 * t - 2.25) * t) * t + 1.0
    w2 = ((1.25 * t2 - 2.25) * t2) * t2 + 1.0
    w3 = ((-0.75 * t3 + 3.75) * t3 - 6.0) * t3 + 3.0
    return w0, w1, w2, w3


@triton.jit
def _linearize_kernel(i0_ptr, planes_ptr, u_ptr, g_ptr, nig_ptr, rho_ptr, h, w, gamma, eps,
                      C: tl.constexpr, BLOCK: tl.constexpr):
    pair = tl.program_id(1).to(tl.int64)
    hw = h * w
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = p < hw
    x = p % w
    y = p // w
    sb = pair * C * hw
    pb = pair * hw
    ux = tl.load(u_ptr + sb + p, mask=m, other=0.0)
    uy = tl.load(u_ptr + sb + hw + p, mask=m, other=0.0)
    fx = x.to(tl.float32) + ux
    fy = y.to(tl.float32) + uy
    inside = m & (fx > -2.0) & (fx < w + 1.0) & (fy > -2.0) & (fy < h + 1.0)  # else every tap is outside
    x0f = tl.floor(fx)
    y0f = tl.floor(fy)
    wx0, wx1, wx2, wx3 = _cubic(fx - x0f)
    wy0, wy1, wy2, wy3 = _cubic(fy - y0f)
    x0 = tl.where(inside, x0f, 0.0).to(tl.int32) - 1
    y0 = tl.where(inside, y0f, 0.0).to(tl.int32) - 1
    base = pair * 3 * hw
    s0 = tl.zeros([BLOCK], dtype=tl.float32)
    s1 = tl.zeros([BLOCK], dtype=tl.float32)
    s2 = tl.zeros([BLOCK], dtype=tl.float32)
    for j in tl.static_range(4):
        yy = y0 + j
        row_ok = inside & (yy >= 0) & (yy < h)
        r0 = tl.zeros([BLOCK], dtype=tl.float32)
        r1 = tl.zeros([BLOCK], dtype=tl.float32)
        r2 = tl.zeros([BLOCK], dtype=tl.float32)
        for i in tl.static_range(4):
            xx = x0 + i
            ok = row_ok & (xx >= 0) & (xx < w)
            tap = base + yy * w + xx
            if i == 0:
                wx = wx0
            elif i == 1:
                wx = wx1
            elif i == 2:
                wx = wx2
            else:
                wx = wx3
            r0 = r0 + tl.load(planes_ptr + tap, mask=ok, other=0.0) * wx
            r1 = r1 + tl.load(planes_ptr + hw + tap, mask=ok, other=0.0) * wx
            r2 = r2 + tl.load(planes_ptr + 2 * hw + tap, mask=ok, other=0.0) * wx
        if j == 0:
            wy = wy0
        elif j == 1:
            wy = wy1
        elif j == 2:
            wy = wy2
        else:
            wy = wy3
        s0 = s0 + r0 * wy
        s1 = s1 + r1 * wy
        s2 = s2 + r2 * wy
    s0 = tl.where(inside, s0, 0.0)
    s1 = tl.where(inside, s1, 0.0)
    s2 = tl.where(inside, s2, 0.0)
    grad = s1 * s1 + s2 * s2
    tl.store(g_ptr + sb + p, s1, mask=m)
    tl.store(g_ptr + sb + hw + p, s2, mask=m)
    if C == 3:
        tl.store(g_ptr + sb + 2 * hw + p, tl.zeros([BLOCK], dtype=tl.float32) + gamma, mask=m)
    tl.store(nig_ptr + pb + p, tl.div_rn(tl.zeros([BLOCK], dtype=tl.float32) - 1.0, tl.maximum(grad, eps)), mask=m)
    i0 = tl.load(i0_ptr + pb + p, mask=m, other=0.0)
    tl.store(rho_ptr + pb + p, ((s0 - s1 * ux) - s2 * uy) - i0, mask=m)


def _grid(h: int, w: int, rows: int) -> tuple[int, int]:
    return (triton.cdiv(h * w, BLOCK), rows)


def iterate(state_in: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
            state_out: tuple[torch.Tensor, torch.Tensor, torch.Tensor], g: torch.Tensor, neg_inv_grad: torch.Tensor,
            rho_c: torch.Tensor, ids: torch.Tensor, changes: torch.Tensor, k: int, test: ChangeTest,
            l_t: float, theta: float, taut: float) -> None:
    """Iteration k of a chunk for the pairs `ids`: (u, px, py) of state_in -> state_out.

    changes: (steps, N) int64, zero at the chunk's start; row k receives each live pair's
    fixed-point squared change (rows < k decide which pairs are still live)."""
    u, px, py = state_in
    n, c, h, w = u.shape
    _iteration_kernel[_grid(h, w, len(ids))](u, px, py, *state_out, g, neg_inv_grad, rho_c, ids, changes,
                                             n, k, h, w, l_t, theta, taut, test.cap, test.scale, test.limit,
                                             C=c, BLOCK=BLOCK, enable_fp_fusion=False)


def median(u: torch.Tensor, out: torch.Tensor, ids: torch.Tensor, ksize: int) -> None:
    """out[ids] = u[ids] with its x, y planes median filtered (ksize 3 or 5, replicated border);
    u, out (N, C, H, W)."""
    n, c, h, w = u.shape
    _median_kernel[_grid(h, w, len(ids) * c)](u, out, ids, h, w, C=c, KSIZE=ksize, BLOCK=BLOCK)  # min/max: exact


def linearize(i0: torch.Tensor, planes: torch.Tensor, u: torch.Tensor, gamma: float, g: torch.Tensor,
              neg_inv_grad: torch.Tensor, rho_c: torch.Tensor) -> None:
    """Write g, neg_inv_grad, rho_c (the data term linearized around u) for every pair: i0 (N, H, W),
    planes (N, 3, H, W) I1 and its centred gradient, u (N, C, H, W) flow in pixels."""
    n, c, h, w = u.shape
    _linearize_kernel[_grid(h, w, n)](i0, planes, u, g, neg_inv_grad, rho_c, h, w, gamma, FLT_EPSILON,
                                      C=c, BLOCK=BLOCK, enable_fp_fusion=False)
