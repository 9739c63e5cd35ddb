"""Camera motion between two frames as a homography, estimated as in improved dense trajectories.

Direction convention (used everywhere in flowkit.warp): a homography H maps a point p of the
*prev* frame, in homogeneous pixel coordinates (x, y, 1) with pixel centres at integer
coordinates, to the position of the same scene point in the *next* frame: p_next ~ H p. This is
the camera's motion, in the same direction as the flow (prev -> next, next(p + flow(p)) ~ prev(p)).

Correspondences come from two sources, as in Wang & Schmid (ICCV 2013):
- ORB keypoints matched between the two frames (IDT used SURF, which the PyPI OpenCV build
  lacks), with Lowe's ratio test;
- strong corners of the prev frame (cv2.goodFeaturesToTrack) moved by the first-pass dense flow.
The fit is cv2.findHomography with RANSAC. IDT also masks out humans (a person detector) before
the fit; we have no detector, so RANSAC alone must reject independently moving objects: that works
while the background holds the majority of the correspondences.

A fit is rejected (identity fallback, flagged) when there are too few correspondences or inliers,
or when the homography is degenerate for a frame-to-frame camera motion (see check_homography).

Frames here are single (H, W) uint8 numpy gray images; the batched, threaded driver lives in
warped_flow.py. cv2 releases the GIL, so these functions run well in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class HomographyParams:
    """Knobs of the camera-motion fit. Defaults follow IDT where it has one."""

    ransac_threshold: float = 1.0  # px; max reprojection error of an inlier (IDT: 1)
    min_correspondences: int = 50  # fewer -> no fit, identity (IDT: more than 50)
    min_inliers: int = 25  # fewer RANSAC inliers -> identity (IDT: more than 25)
    # Ours, not IDT's: between unrelated frames (a shot cut) the flow is smooth nonsense that
    # some homography fits for a few percent of the points; a real camera step explains far more.
    min_inlier_fraction: float = 0.2
    ransac_max_iters: int = 2000
    ransac_confidence: float = 0.995
    max_flow_points: int = 1000  # corners sampled from the flow field (IDT: 1000)
    corner_quality: float = 0.001  # goodFeaturesToTrack qualityLevel (IDT: 0.001)
    corner_min_distance: int = 3  # px (IDT: 3)
    use_orb: bool = True
    orb_features: int = 1000
    orb_ratio: float = 0.75  # Lowe ratio test on Hamming distances
    # Degeneracy bounds for one frame step of a real camera:
    max_scale_change: float = 1.5  # sqrt(|det A|) of the linear part within [1/x, x]
    max_anisotropy: float = 1.5  # ratio of the singular values of the linear part (shear/squash)
    max_perspective: float = 0.2  # |h20| W + |h21| H: relative depth change across the frame
    max_corner_shift: float = 0.5  # largest frame-corner displacement, as a fraction of max(W, H)


@dataclass(frozen=True)
class HomographyFit:
    """Result for one pair: `homography` (3, 3) float64 (identity when `fallback`), the RANSAC
    inlier count, the number of correspondences offered, and why it fell back ('' if it did not)."""

    homography: np.ndarray
    inliers: int
    correspondences: int
    fallback: bool
    reason: str = ""


@dataclass(frozen=True)
class FramePairFeatures:
    """Flow-independent correspondence material for one pair, computed before the flow is known.

    orb_src, orb_dst: (M, 2) float32 matched ORB keypoints (prev, next), pixels x then y.
    corners: (K, 2) int64 strong corners of prev, pixels x then y, where the flow will be read.
    """

    orb_src: np.ndarray
    orb_dst: np.ndarray
    corners: np.ndarray


_EMPTY_POINTS = np.zeros((0, 2), np.float32)


def orb_matches(
    prev_gray: np.ndarray, next_gray: np.ndarray, params: HomographyParams
) -> tuple[np.ndarray, np.ndarray]:
    """Match ORB keypoints between two (H, W) uint8 frames. Returns (src, dst), each (M, 2)
    float32 pixel coordinates x then y in prev and next; M may be 0."""
    orb = cv2.ORB_create(nfeatures=params.orb_features)
    kp_prev, desc_prev = orb.detectAndCompute(prev_gray, None)
    kp_next, desc_next = orb.detectAndCompute(next_gray, None)
    if desc_prev is None or desc_next is None or len(kp_prev) < 2 or len(kp_next) < 2:
        return _EMPTY_POINTS, _EMPTY_POINTS
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    src, dst = [], []
    for pair in matcher.knnMatch(desc_prev, desc_next, k=2):
        if len(pair) == 2 and pair[0].distance < params.orb_ratio * pair[1].distance:
            src.append(kp_prev[pair[0].queryIdx].pt)
            dst.append(kp_next[pair[0].trainIdx].pt)
    if not src:
        return _EMPTY_POINTS, _EMPTY_POINTS
    return np.asarray(src, np.float32), np.asarray(dst, np.float32)


def strong_corners(gray: np.ndarray, params: HomographyParams) -> np.ndarray:
    """Up to params.max_flow_points Shi-Tomasi corners of an (H, W) uint8 frame, rounded to the
    pixel grid (where the flow is defined): (K, 2) int64, x then y."""
    corners = cv2.goodFeaturesToTrack(
        gray, params.max_flow_points, params.corner_quality, params.corner_min_distance
    )
    if corners is None:
        return np.zeros((0, 2), np.int64)
    height, width = gray.shape
    xy = np.rint(corners.reshape(-1, 2)).astype(np.int64)
    xy[:, 0] = xy[:, 0].clip(0, width - 1)
    xy[:, 1] = xy[:, 1].clip(0, height - 1)
    return xy


def pair_features(prev_gray: np.ndarray, next_gray: np.ndarray, params: HomographyParams) -> FramePairFeatures:
    """Everything of the correspondence search that does not need the flow (ORB matches, corners
    of prev), so it can run in a worker thread while the first flow pass runs."""
    if params.use_orb:
        orb_src, orb_dst = orb_matches(prev_gray, next_gray, params)
    else:
        orb_src, orb_dst = _EMPTY_POINTS, _EMPTY_POINTS
    return FramePairFeatures(orb_src, orb_dst, strong_corners(prev_gray, params))


def flow_correspondences(corners: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move corners (K, 2) int64 (x, y) by a flow field (2, H, W) float32 (pixels, x then y,
    prev -> next). Returns (src, dst), each (K', 2) float32; corners where the flow is not finite
    are dropped."""
    if len(corners) == 0:
        return _EMPTY_POINTS, _EMPTY_POINTS
    xs, ys = corners[:, 0], corners[:, 1]
    displacement = np.stack([flow[0, ys, xs], flow[1, ys, xs]], axis=1)
    finite = np.isfinite(displacement).all(axis=1)
    src = corners[finite].astype(np.float32)
    return src, src + displacement[finite].astype(np.float32)


def check_homography(h: np.ndarray, width: int, height: int, params: HomographyParams) -> str:
    """Why a (3, 3) homography is implausible as one frame step of a camera over a width x height
    frame, or '' if it is acceptable. Expects h normalized so h[2, 2] == 1."""
    if not np.isfinite(h).all():
        return "non-finite homography"
    linear = h[:2, :2]
    det = float(np.linalg.det(linear))
    if det <= 0:
        return "orientation flip or singular homography"
    scale = det**0.5
    if not 1.0 / params.max_scale_change <= scale <= params.max_scale_change:
        return f"scale change {scale:.3f} out of range"
    singular = np.linalg.svd(linear, compute_uv=False)
    if singular[0] > params.max_anisotropy * singular[1]:
        return f"anisotropy {singular[0] / singular[1]:.3f} too large"
    if abs(h[2, 0]) * width + abs(h[2, 1]) * height > params.max_perspective:
        return "perspective distortion too large"
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [width - 1, height - 1, 1], [0, height - 1, 1]], np.float64)
    mapped = corners @ h.T
    if (mapped[:, 2] <= 0).any():
        return "frame corner maps behind the camera"
    shift = np.abs(mapped[:, :2] / mapped[:, 2:] - corners[:, :2]).max()
    if shift > params.max_corner_shift * max(width, height):
        return f"corner shift {shift:.1f} px too large"
    return ""


def fit_homography(
    src: np.ndarray, dst: np.ndarray, width: int, height: int, params: HomographyParams
) -> HomographyFit:
    """Robust homography from correspondences src -> dst, each (M, 2) float32 pixels (x, y), for
    a width x height frame. Falls back to the identity (fallback=True, with a reason) when M or the
    inlier count is too small or the result fails check_homography."""
    identity = np.eye(3, dtype=np.float64)
    count = len(src)
    if count < max(params.min_correspondences, 4):
        return HomographyFit(identity, 0, count, True, f"only {count} correspondences")
    h, inlier_mask = cv2.findHomography(
        src,
        dst,
        cv2.RANSAC,
        params.ransac_threshold,
        maxIters=params.ransac_max_iters,
        confidence=params.ransac_confidence,
    )
    if h is None or inlier_mask is None:
        return HomographyFit(identity, 0, count, True, "RANSAC found no model")
    inliers = int(inlier_mask.sum())
    if inliers < params.min_inliers:
        return HomographyFit(identity, inliers, count, True, f"only {inliers} inliers")
    if inliers < params.min_inlier_fraction * count:
        return HomographyFit(identity, inliers, count, True, f"only {inliers} of {count} correspondences are inliers")
    if h[2, 2] == 0 or not np.isfinite(h[2, 2]):
        return HomographyFit(identity, inliers, count, True, "non-finite homography")
    h = h / h[2, 2]
    reason = check_homography(h, width, height, params)
    if reason:
        return HomographyFit(identity, inliers, count, True, reason)
    return HomographyFit(h.astype(np.float64), inliers, count, False)


def fit_pair(features: FramePairFeatures, flow: np.ndarray, params: HomographyParams) -> HomographyFit:
    """The homography of one pair from its pre-computed features and its first-pass flow
    (2, H, W) float32, pixels, prev -> next."""
    flow_src, flow_dst = flow_correspondences(features.corners, flow)
    src = np.concatenate([features.orb_src, flow_src])
    dst = np.concatenate([features.orb_dst, flow_dst])
    height, width = flow.shape[1:]
    return fit_homography(src, dst, width, height, params)
