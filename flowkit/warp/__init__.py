"""Warped optical flow: flow after removing the camera's motion, as in IDT and TSN.

Convention: a homography H (3, 3) float64 maps a prev-frame pixel p (x, y, 1) to its position in
the next frame (the camera's motion). The warped next frame is next_w(p) = next(H p), and the flow
prev -> next_w keeps only the motion that is not the camera's. See docs/warped-flow.md.

Entry point: warped_flow_batch(prev, next, flow=None, flow_fn=None) -> WarpedFlowResult.
Importing this package imports numpy and cv2 (not torch, not cv2.optflow, not ray).
"""

from flowkit.warp.homography import HomographyFit, HomographyParams, check_homography, fit_homography
from flowkit.warp.warped_flow import WarpedFlowResult, warped_flow_batch
from flowkit.warp.warping import homography_sampling_grid, warp_by_homography

__all__ = [
    "HomographyFit",
    "HomographyParams",
    "WarpedFlowResult",
    "check_homography",
    "fit_homography",
    "homography_sampling_grid",
    "warp_by_homography",
    "warped_flow_batch",
]
