"""Median filtering of flow planes as cv2.medianBlur does on float32 (square window, replicated
border), with two implementations that give identical results:

- `median_filter_torch`: a selection network (min/max only) over the k*k shifted copies of the
  padded planes. Pure elementwise torch, so it runs on any device and fuses into one kernel under
  torch.compile; this is the CUDA path.
- `median_filter_opencv`: cv2.medianBlur per plane, the fastest choice on CPU (a sorting-network
  SIMD kernel), used by the CPU path.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

SUPPORTED_SIZES = (3, 5)


def _batcher_pairs(n: int) -> list[tuple[int, int]]:
    """Compare-exchange pairs (low, high) of Batcher's odd-even merge sort for n = 2**k wires."""
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


@functools.lru_cache(maxsize=None)
def selection_network(n_inputs: int, rank: int) -> tuple[tuple[str, int, int], ...]:
    """A min/max program selecting the element of the given rank (0 = smallest) among n_inputs.

    Built from Batcher's sorting network on the next power of two, with the padding wires taken as
    +inf (their compare-exchanges vanish) and every operation that cannot reach the output pruned.
    Returns steps (op, a, b) with op in {"min", "max"}; operands index a value list that starts with
    the n_inputs inputs and grows by one value per step; the last step's value is the result.
    """
    width = 1
    while width < n_inputs:
        width *= 2
    infinite = object()
    wires: list = list(range(n_inputs)) + [infinite] * (width - n_inputs)
    nodes: list[tuple[str, int, int]] = []  # node n_inputs + i is nodes[i]
    for low, high in _batcher_pairs(width):
        a, b = wires[low], wires[high]
        if b is infinite:
            continue
        if a is infinite:
            wires[low], wires[high] = b, a
            continue
        nodes.append(("min", a, b))
        wires[low] = n_inputs + len(nodes) - 1
        nodes.append(("max", a, b))
        wires[high] = n_inputs + len(nodes) - 1
    # Keep only the nodes the selected wire depends on, renumbered in creation order.
    needed, stack = set(), [wires[rank]]
    while stack:
        value = stack.pop()
        if value >= n_inputs and value not in needed:
            needed.add(value)
            _, a, b = nodes[value - n_inputs]
            stack += [a, b]
    renumber = {i: i for i in range(n_inputs)}
    program: list[tuple[str, int, int]] = []
    for value in sorted(needed):
        op, a, b = nodes[value - n_inputs]
        renumber[value] = n_inputs + len(program)
        program.append((op, renumber[a], renumber[b]))
    return tuple(program)


# Built once at import: torch.compile then sees plain constants instead of tracing the construction.
_MEDIAN_NETWORKS = {k: selection_network(k * k, k * k // 2) for k in SUPPORTED_SIZES}


def _check_size(ksize: int) -> None:
    if ksize not in SUPPORTED_SIZES:
        raise ValueError(f"median filter size must be one of {SUPPORTED_SIZES}, got {ksize}")


def median_filter_torch(planes: torch.Tensor, ksize: int = 5) -> torch.Tensor:
    """Median over a ksize x ksize window with replicated border, for each plane of (..., H, W) float.

    Any device; same values as cv2.medianBlur on float32 (a median picks one of the inputs, so the
    results are exactly equal).
    """
    _check_size(ksize)
    r = ksize // 2
    h, w = planes.shape[-2:]
    lead = planes.shape[:-2]
    padded = F.pad(planes.reshape(-1, 1, h, w), (r, r, r, r), mode="replicate")
    inputs = ksize * ksize
    values = {dy * ksize + dx: padded[..., dy : dy + h, dx : dx + w] for dy in range(ksize) for dx in range(ksize)}
    last_use = _LAST_USES[ksize]
    for step, (op, a, b) in enumerate(_MEDIAN_NETWORKS[ksize]):
        fn = torch.minimum if op == "min" else torch.maximum
        values[inputs + step] = fn(values[a], values[b])
        # Drop values no later step reads: eager torch would otherwise keep all 202 planes alive.
        for dead in {a, b}:
            if last_use[dead] == step:
                del values[dead]
    return values[inputs + len(_MEDIAN_NETWORKS[ksize]) - 1].reshape(*lead, h, w)


def _last_uses(ksize: int) -> dict[int, int]:
    """For each value of the ksize network (inputs first), the index of the last step that reads it."""
    last: dict[int, int] = {}
    for step, (_, a, b) in enumerate(_MEDIAN_NETWORKS[ksize]):
        last[a] = last[b] = step
    return last


# Computed once here rather than cached on call: torch.compile traces median_filter_torch, and a
# plain dict lookup traces cleanly where a cached function call does not.
_LAST_USES = {ksize: _last_uses(ksize) for ksize in _MEDIAN_NETWORKS}


def median_peak_planes(ksize: int = 5) -> int:
    """The most min/max results median_filter_torch holds at once (each the size of its input):
    what its eager form needs beside the padded input."""
    last = _LAST_USES[ksize]
    inputs = ksize * ksize
    live, peak = set(), 0
    for step, (_, a, b) in enumerate(_MEDIAN_NETWORKS[ksize]):
        live.add(inputs + step)
        peak = max(peak, len(live))
        live -= {v for v in (a, b) if v >= inputs and last[v] == step}
    return peak


def _offset(d: int) -> str:
    return f" + {d}" if d > 0 else f" - {-d}" if d < 0 else ""


def triton_median_source() -> str:
    """Source of flowkit/flow/triton_median.py: the selection networks as straight-line Triton code
    (Triton's compiler reads a kernel's source, so the network is written out rather than looped over)."""
    lines = ['"""Median selection networks as Triton functions. GENERATED by',
             "flowkit.flow.median.triton_median_source() from its selection_network; do not edit",
             '(tests/test_triton_engine.py checks that it is current)."""',
             "", "import triton", "import triton.language as tl", ""]
    for ksize in SUPPORTED_SIZES:
        r = ksize // 2
        lines += ["", "@triton.jit", f"def median{ksize}(src, y, x, h, w, mask):",
                  f'    """Median of the {ksize}x{ksize} window (replicated border) around flat pixels (y, x) of the',
                  '    plane at pointer src (h, w) float32."""']
        for dy in range(ksize):
            lines.append(f"    r{dy} = tl.minimum(tl.maximum(y{_offset(dy - r)}, 0), h - 1) * w")
        for dx in range(ksize):
            lines.append(f"    c{dx} = tl.minimum(tl.maximum(x{_offset(dx - r)}, 0), w - 1)")
        for dy in range(ksize):
            for dx in range(ksize):
                lines.append(f"    v{dy * ksize + dx} = tl.load(src + r{dy} + c{dx}, mask=mask, other=0.0)")
        count = ksize * ksize
        for i, (op, a, b) in enumerate(_MEDIAN_NETWORKS[ksize]):
            lines.append(f"    v{count + i} = tl.{'minimum' if op == 'min' else 'maximum'}(v{a}, v{b})")
        lines.append(f"    return v{count + len(_MEDIAN_NETWORKS[ksize]) - 1}")
        lines.append("")
    return "\n".join(lines[:-1]) + "\n"


def median_filter_opencv(planes: torch.Tensor, ksize: int = 5) -> torch.Tensor:
    """cv2.medianBlur applied to each plane of a CPU float32 tensor (..., H, W); returns a new tensor."""
    import cv2
    import numpy as np

    _check_size(ksize)
    if planes.device.type != "cpu":
        raise ValueError("median_filter_opencv needs a CPU tensor")
    src = planes.detach().contiguous().reshape(-1, *planes.shape[-2:]).numpy()
    out = np.empty_like(src)
    for i in range(src.shape[0]):
        cv2.medianBlur(src[i], ksize, dst=out[i])
    return torch.from_numpy(out).reshape(planes.shape)

