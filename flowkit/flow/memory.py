"""Peak device memory of a TV-L1 batch, counted from flowkit.flow.engine's code, and the batch size
that fits in a device's free memory. Pure arithmetic: no torch.

The count is in float32 planes of the finest scale's size per pair (4 bytes per pixel each), at the
moment each engine holds the most (docs/performance.md derives each term):

- every engine: the frames as uint8 (0.5 plane), their float32 copies (2), the coarser pyramid levels
  (2 x the sum of their areas relative to the finest), the finest image and its centred gradient
  stacked (3);
- "triton": the flow and dual state (3C planes for C flow channels: 2, or 3 with gamma > 0) twice
  (the iterations alternate between two buffer sets), the median's output (C), the linearization's
  g (C), -1/|grad I|^2 and rho_c (2);
- "torch" (eager, chunked): the peak is the 5x5 median's min/max network (its most live results
  times 2 planes, beside the padded planes), while the working batch (4C + 2) and the full batch's
  state (3C) are held;
- "torch" compiled: the iteration chunk's inputs, current and output state (3 x 3C), the full
  batch's state (3C), g, -1/|grad I|^2 and rho_c (C + 2); inductor's own buffers are not counted,
  so `benchmarks.gpu_check` measures this one.
"""

from __future__ import annotations

from flowkit.flow.params import TVL1Params, pyramid_sizes

FLOAT_BYTES = 4
FREE_MEMORY_SHARE = 0.8  # of the device's free memory a batch may plan to use (the allocator's slack, other tensors)
MEDIAN_LIVE_RESULTS = {3: 10, 5: 26}  # flowkit.flow.median.median_peak_planes(k) (checked by a test)


def peak_planes(engine: str, height: int, width: int, params: TVL1Params, compiled: bool = False) -> float:
    """Peak float32 planes of height x width held per pair by `engine` ("triton" or "torch";
    compiled: torch.compile'd torch) solving pairs of that size with `params`."""
    channels = 3 if params.gamma != 0 else 2
    sizes = pyramid_sizes(height, width, params.nscales, params.scale_step)
    coarser = sum(h * w for h, w in sizes[1:]) / (height * width)
    images = 0.5 + 2 + 2 * coarser + 3
    linearized = channels + 2  # g, -1/|grad I|^2, rho_c
    state = 3 * channels  # u, p_x, p_y
    median = params.median_filtering > 1
    if engine == "triton":
        return images + 2 * state + (channels if median else 0) + linearized
    if engine != "torch":
        raise ValueError(f"no memory count for engine {engine!r}")
    if compiled:
        return images + 3 * state + state + linearized
    working = state + linearized  # the working batch: u, p, g, -1/|grad I|^2, rho_c
    iteration = 17 * channels + 4 + state  # tvl1_iteration's inputs (twice), locals and outputs, full state
    if not median:
        return images + iteration
    padded = 2 * (height + params.median_filtering - 1) * (width + params.median_filtering - 1) / (height * width)
    network = 2 * MEDIAN_LIVE_RESULTS[params.median_filtering]
    return images + max(iteration, working + state + padded + network)


def bytes_per_pair(engine: str, height: int, width: int, params: TVL1Params, compiled: bool = False) -> int:
    """Peak device bytes per pair of height x width (peak_planes x 4 bytes x pixels)."""
    return int(peak_planes(engine, height, width, params, compiled) * FLOAT_BYTES * height * width + 0.5)


def pairs_that_fit(free_bytes: int, height: int, width: int, engine: str, params: TVL1Params,
                   compiled: bool = False, share: float = FREE_MEMORY_SHARE) -> int:
    """How many pairs of height x width to solve at once with `free_bytes` of device memory free:
    share x free / bytes_per_pair, at least 1 (a single pair too large fails with the device's
    out-of-memory error rather than not running)."""
    return max(1, int(share * free_bytes) // bytes_per_pair(engine, height, width, params, compiled))
