"""How well warped flow removes a known camera motion: metrics on flowkit.warp.synthetic scenes.

`python -m flowkit.warp.accuracy [--size WxH] [--algos tvl1-light,farneback,...]` prints one JSON line
per (flow algorithm, camera motion) with the numbers docs/warped-flow.md quotes.
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np

from flowkit.sizes import parse_size
from flowkit.warp.synthetic import CAMERA_MOTIONS, SyntheticPair, camera_homography, render_pair

# Pixels around the object (in prev and where it moves to) left out of the background: flow
# there is disturbed by occlusion and by the regularizer smoothing across the object's edge.
OBJECT_MARGIN_PX = 6
# Pixels eroded from the object's border when measuring its flow.
OBJECT_EROSION_PX = 4


def corner_error(estimated: np.ndarray, true: np.ndarray, width: int, height: int) -> float:
    """Mean distance (px) between where two (3, 3) homographies send a width x height frame's corners."""
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [width - 1, height - 1, 1], [0, height - 1, 1]], np.float64)
    a, b = corners @ np.asarray(estimated).T, corners @ np.asarray(true).T
    return float(np.linalg.norm(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:], axis=1).mean())


def background_mask(pair: SyntheticPair, valid: np.ndarray) -> np.ndarray:
    """(H, W) bool: valid pixels at least OBJECT_MARGIN_PX away from the object in prev and in next."""
    reach = int(np.ceil(np.abs(pair.object_shift).max())) + OBJECT_MARGIN_PX
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    near_object = cv2.dilate(pair.object_mask.astype(np.uint8), kernel) > 0
    return valid & ~near_object


def object_interior(pair: SyntheticPair) -> np.ndarray:
    """(H, W) bool: the object's pixels in prev, OBJECT_EROSION_PX away from its border."""
    size = 2 * OBJECT_EROSION_PX + 1
    return cv2.erode(pair.object_mask.astype(np.uint8), np.ones((size, size), np.uint8)) > 0


def scene_metrics(pair: SyntheticPair, homography, flow, warped_flow, valid) -> dict:
    """Numbers for one pair: corner error of the homography (px); mean flow magnitude on the
    background before and after warping (px) and their ratio; mean warped flow on the object vs the
    exact relative motion (largest component difference, px). Arrays: homography (3, 3), flow and
    warped_flow (2, H, W) pixels, valid (H, W) bool (numpy)."""
    homography, flow, warped_flow, valid = (np.asarray(a) for a in (homography, flow, warped_flow, valid))
    height, width = valid.shape
    background = background_mask(pair, valid)
    raw = float(np.hypot(*flow)[background].mean())
    residual = float(np.hypot(*warped_flow)[background].mean())
    interior = object_interior(pair)
    expected = pair.expected_warped_flow()[:, interior].mean(axis=1)
    measured = warped_flow[:, interior].mean(axis=1)
    return {
        "corner_error_px": corner_error(homography, pair.homography, width, height),
        "background_raw_px": raw,
        "background_warped_px": residual,
        "background_ratio": residual / raw,
        "object_expected_px": [float(v) for v in expected],
        "object_measured_px": [float(v) for v in measured],
        "object_error_px": float(np.abs(measured - expected).max()),
        "invalid_fraction": float(1.0 - valid.mean()),
    }


# Scene of the tests: a 36 x 28 object (5% of a 160 x 120 frame) moving by (4, 2) px.
OBJECT_BOX = (100, 30, 36, 28)
OBJECT_SHIFT = (4.0, 2.0)
LIGHT_TVL1 = dict(nscales=3, warps=2, inner_iterations=10, outer_iterations=3, median_filtering=1)


def flow_function(name: str):
    """Named flow functions for the report: tvl1 (defaults), tvl1-light, farneback, opencv-tvl1."""
    from flowkit.flow.functions import make_flow_fn

    algo, params = {
        "tvl1": ("tvl1", {}),
        "tvl1-light": ("tvl1", LIGHT_TVL1),
        "farneback": ("farneback", {}),
        "opencv-tvl1": ("opencv-tvl1", {}),
    }[name]
    return make_flow_fn(algo, params)


def main(argv=None) -> None:
    from flowkit.warp.warped_flow import warped_flow_batch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="160x120", help="frame size WxH (the object scales with it)")
    parser.add_argument("--algos", default="tvl1-light,farneback",
                        help="comma-separated: tvl1, tvl1-light, farneback, opencv-tvl1")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    sx, sy = width / 160, height / 120
    box = (round(OBJECT_BOX[0] * sx), round(OBJECT_BOX[1] * sy), round(OBJECT_BOX[2] * sx), round(OBJECT_BOX[3] * sy))
    for algo in args.algos.split(","):
        for camera, motion in CAMERA_MOTIONS.items():
            pair = render_pair(width, height, camera_homography(width, height, **motion), box, OBJECT_SHIFT, args.seed)
            result = warped_flow_batch(pair.prev[None], pair.next[None], flow_fn=flow_function(algo))
            fields = (result.homographies[0], result.flow[0], result.warped_flow[0], result.valid[0])
            metrics = scene_metrics(pair, *fields)
            metrics = {k: _rounded(v) for k, v in metrics.items()}
            row = {"algo": algo, "camera": camera, "size": f"{width}x{height}", "fallback": bool(result.fallback[0]),
                   "inliers": int(result.inliers[0]), **metrics}
            print(json.dumps(row), flush=True)


def _rounded(value):
    """A metric for printing: floats to 4 decimals, lists of floats to 3."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [round(x, 3) for x in value]
    return value


if __name__ == "__main__":
    main()
