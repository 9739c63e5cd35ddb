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
    values = [padded[..., dy : dy + h, dx : dx + w] for dy in range(ksize) for dx in range(ksize)]
    for op, a, b in _MEDIAN_NETWORKS[ksize]:
        fn = torch.minimum if op == "min" else torch.maximum
        values.append(fn(values[a], values[b]))
    return values[-1].reshape(*lead, h, w)


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

