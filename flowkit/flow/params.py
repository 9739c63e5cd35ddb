"""The flow algorithms and their parameters, validated once (import-light: no torch, no cv2).

TV-L1 parameters have OpenCV's names and defaults, those of cv2.optflow.DualTVL1OpticalFlow_create,
so settings move over unchanged. `lambda` is a Python keyword, hence `lambda_`; a plain `lambda`
keyword is accepted too. Farneback takes cv2.calcOpticalFlowFarneback's keyword names.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields

from flowkit.errors import UserValueError

ALGORITHMS = ("tvl1", "opencv-tvl1", "farneback")
TVL1_ALGORITHMS = ("tvl1", "opencv-tvl1")  # the ones taking TVL1Params
GPU_ALGORITHMS = ("tvl1",)  # the others run on the CPU only
# cv2.calcOpticalFlowFarneback settings commonly used for previews (OpenCV's sample values).
FARNEBACK_DEFAULTS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


@dataclass(frozen=True)
class TVL1Params:
    """Dual TV-L1 settings (Zach et al. 2007, Wedel et al. 2009), as in OpenCV.

    tau: time step of the dual (numerical) scheme, in (0, 0.25] for guaranteed convergence.
    lambda_: weight of the data term; smaller gives smoother flow.
    theta: weight of the coupling between the flow and its thresholded estimate.
    nscales: number of pyramid scales (fewer are used when a scale would be under 16 px).
    warps: warpings per scale (the image is re-warped with the current flow each time).
    epsilon: stopping threshold: a scale's iterations stop once the mean squared flow change per
        pixel falls to epsilon**2 or below.
    inner_iterations / outer_iterations: iterations between median filterings / filterings per warp.
    scale_step: ratio between consecutive pyramid scales, in (0, 1).
    gamma: weight of the illumination-change term (0 disables it).
    median_filtering: side of the median filter applied to the flow between iteration blocks
        (0 or 1 disables it; OpenCV supports 3 and 5 on float flow).
    use_initial_flow: start from a given flow instead of zero.
    """

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5
    use_initial_flow: bool = False

    def __post_init__(self):
        positive = ("tau", "lambda_", "theta")
        for name in positive:
            value = getattr(self, name)
            if not _is_number(value) or not value > 0:
                raise UserValueError(f"TV-L1 parameter {_public(name)} must be a positive number, got {value!r}")
        for name in ("nscales", "warps", "inner_iterations", "outer_iterations"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise UserValueError(f"TV-L1 parameter {name} must be an integer >= 1, got {value!r}")
        if not _is_number(self.epsilon) or self.epsilon < 0:
            raise UserValueError(f"TV-L1 parameter epsilon must be a number >= 0, got {self.epsilon!r}")
        if not _is_number(self.scale_step) or not 0 < self.scale_step < 1:
            raise UserValueError(f"TV-L1 parameter scale_step must be in (0, 1), got {self.scale_step!r}")
        if not _is_number(self.gamma) or self.gamma < 0:
            raise UserValueError(f"TV-L1 parameter gamma must be a number >= 0, got {self.gamma!r}")
        if not _is_int(self.median_filtering) or self.median_filtering not in (0, 1, 3, 5):
            raise UserValueError(
                f"TV-L1 parameter median_filtering must be 0 or 1 (off), 3 or 5, got {self.median_filtering!r}"
            )
        if not isinstance(self.use_initial_flow, bool):
            raise UserValueError(f"TV-L1 parameter use_initial_flow must be a bool, got {self.use_initial_flow!r}")

    @classmethod
    def from_kwargs(cls, **kwargs) -> "TVL1Params":
        """Build from keyword arguments, accepting `lambda` for `lambda_`; unknown names raise UserValueError."""
        if "lambda" in kwargs:
            if "lambda_" in kwargs:
                raise UserValueError("give either lambda or lambda_, not both")
            kwargs["lambda_"] = kwargs.pop("lambda")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise UserValueError(f"unknown TV-L1 parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**kwargs)

    def as_dict(self) -> dict:
        """The parameters as a plain dict (keys as in this class)."""
        return asdict(self)

    def opencv_args(self) -> tuple:
        """Positional arguments of cv2.optflow.DualTVL1OpticalFlow_create in its order."""
        return (
            self.tau, self.lambda_, self.theta, self.nscales, self.warps, self.epsilon,
            self.inner_iterations, self.outer_iterations, self.scale_step, self.gamma,
            self.median_filtering, self.use_initial_flow,
        )  # fmt: skip


def _public(name: str) -> str:
    return "lambda" if name == "lambda_" else name


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_algorithm(algo: str) -> None:
    """ValueError unless `algo` is one of ALGORITHMS."""
    if algo not in ALGORITHMS:
        raise UserValueError(f"unknown flow algorithm {algo!r}; choose from {', '.join(ALGORITHMS)}")


def check_device(algo: str, device) -> None:
    """ValueError when `algo` cannot run on `device` ('cpu', 'cuda', 'cuda:1', a torch.device, or
    None for the default): only GPU_ALGORITHMS run off the CPU."""
    check_algorithm(algo)
    if device is not None and algo not in GPU_ALGORITHMS and str(device).split(":")[0] != "cpu":
        raise UserValueError(f"{algo} runs on the CPU only, got device {str(device)!r}; use the CPU, or tvl1 on a GPU")


def farneback_params(params: dict) -> dict:
    """Farneback's full settings: FARNEBACK_DEFAULTS updated with `params`; ValueError for other names."""
    unknown = sorted(set(params) - set(FARNEBACK_DEFAULTS))
    if unknown:
        tvl1 = {f.name for f in fields(TVL1Params)} | {"lambda"}
        note = " (TV-L1 parameters do not apply to farneback)" if set(unknown) <= tvl1 else ""
        takes = ", ".join(FARNEBACK_DEFAULTS)
        raise UserValueError(f"farneback does not take {', '.join(unknown)}{note}; it takes {takes}")
    return {**FARNEBACK_DEFAULTS, **params}


def resolve_flow_params(algo: str, params: dict) -> dict:
    """The full parameter set of `algo` (one of ALGORITHMS): defaults filled in, names and values
    checked, so that runs asking for the same thing in different words record the same settings.
    ValueError for an unknown algorithm, unknown names or bad values."""
    check_algorithm(algo)
    if algo in TVL1_ALGORITHMS:
        return TVL1Params.from_kwargs(**params).as_dict()
    return farneback_params(params)


MIN_PYRAMID_SIDE = 16  # OpenCV drops pyramid scales narrower or lower than this


def pyramid_sizes(height: int, width: int, nscales: int, scale_step: float) -> list[tuple[int, int]]:
    """(height, width) of each TV-L1 pyramid level, fine to coarse, as OpenCV sizes them: each level is
    cv2.resize of the one before with fx = fy = scale_step (sides rounded to nearest), at most nscales
    levels, stopping before a side gets under MIN_PYRAMID_SIDE. Both solvers build their pyramid on it."""
    sizes = [(height, width)]
    for _ in range(1, nscales):
        h, w = (int(round(side * scale_step)) for side in sizes[-1])  # saturate_cast: round half to even
        if h < MIN_PYRAMID_SIDE or w < MIN_PYRAMID_SIDE:
            break
        sizes.append((h, w))
    return sizes
