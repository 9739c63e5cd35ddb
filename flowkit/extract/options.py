"""What an extraction run is asked to do: the content settings (they decide the bytes of the store)
and the run settings (where and how fast it runs; they never change the result)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from flowkit.cpus import available_cpus
from flowkit.errors import UserValueError
from flowkit.quantize import DEFAULT_BOUND
from flowkit.resample import check_fps
from flowkit.sizes import TSN_SIZE, FrameSize, check_side, check_size
from flowkit.store import format as fmt
from flowkit.store.codec import DEFAULT_JPEG_QUALITY

MIN_SIDE = 8  # pixels: the smallest frame side extraction resizes to
DEFAULT_BATCH_PAIRS = 16
BATCH_CHUNKS = 4  # a shared flow batch packs up to this many workers' chunks of batch_pairs pairs
DEFAULT_MAX_RETRIES = 2


@dataclass(frozen=True)
class ContentOptions:
    """Settings that determine the store's content; recorded in the parts folder and the store.

    size: (width, height) pixels frames are resized to before flow, None keeps each video's size.
    short_side / long_side: instead of size (which must then be None), resize each video keeping its
    aspect so that its short / long side is this many pixels (even; flowkit.sizes.scaled_size).
    fps: resample each video to this many frames per second by its timestamps (flowkit.resample),
    None keeps every frame. step: then keep every step-th frame. max_frames: keep at most this many
    frames (None: all).
    bound: flow quantization bound in pixels. algo: flowkit.flow algorithm name. flow_params:
    {OpenCV parameter name: value} for the algorithm. warped: also store warped flow. rgb: store
    RGB frames. flow_codec: 'zstd' (lossless, fast), 'png' (lossless) or 'jpeg' (lossy, dense_flow's).
    jpeg_quality: for RGB (and JPEG flow).
    """

    size: tuple[int, int] | None = TSN_SIZE
    short_side: int | None = None
    long_side: int | None = None
    fps: float | None = None
    step: int = 1
    max_frames: int | None = None
    bound: float = DEFAULT_BOUND
    algo: str = "tvl1"
    flow_params: dict = field(default_factory=dict)
    warped: bool = False
    rgb: bool = True
    flow_codec: str = fmt.DEFAULT_CODEC[fmt.FLOW_X]
    jpeg_quality: int = DEFAULT_JPEG_QUALITY

    def __post_init__(self):
        if self.size is not None:
            object.__setattr__(self, "size", check_size(self.size, minimum=MIN_SIDE))
        for name in ("short_side", "long_side"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_side(getattr(self, name), minimum=MIN_SIDE))
        given = [n for n in ("size", "short_side", "long_side") if getattr(self, n) is not None]
        if len(given) > 1:
            raise UserValueError(f"give one of {' and '.join(given)} (size must be None with a short or long side)")
        if self.fps is not None:
            object.__setattr__(self, "fps", check_fps(self.fps))
        if int(self.step) != self.step or self.step < 1:
            raise UserValueError(f"step must be an integer >= 1, got {self.step}")
        if self.max_frames is not None and (int(self.max_frames) != self.max_frames or self.max_frames < 2):
            raise UserValueError(f"max-frames must be an integer >= 2 (flow needs a pair), got {self.max_frames}")
        if not self.bound > 0:
            raise UserValueError(f"bound must be positive, got {self.bound}")
        if self.flow_codec not in fmt.CODECS:
            raise UserValueError(f"flow codec must be one of {', '.join(fmt.CODECS)}, got {self.flow_codec!r}")
        if not 1 <= int(self.jpeg_quality) <= 100:
            raise UserValueError(f"jpeg quality must be in 1..100, got {self.jpeg_quality}")

    def frame_size(self) -> FrameSize:
        """How frames are resized (flowkit.sizes.FrameSize)."""
        return FrameSize(self.size, self.short_side, self.long_side)

    def streams(self) -> dict[str, str]:
        """{stream: codec} of the store this produces."""
        streams = {fmt.RGB: "jpeg"} if self.rgb else {}
        flows = (fmt.FLOW_X, fmt.FLOW_Y) + ((fmt.WARP_X, fmt.WARP_Y) if self.warped else ())
        streams.update({s: self.flow_codec for s in flows})
        return streams

    def record(self) -> dict:
        """JSON-able dict of every setting (for the parts folder's params file and store attrs)."""
        values = asdict(self)
        values["size"] = list(self.size) if self.size is not None else None
        values["flow_params"] = dict(sorted(self.flow_params.items()))
        return values


@dataclass(frozen=True)
class RunOptions:
    """How the run executes. None of these change the store's content.

    device: 'cpu' or 'cuda'. gpus: GPU ids for 'cuda' (() = all visible). workers: CPU workers
    (Ray worker processes, or threads without Ray); 0 runs everything in this process, one video
    at a time, without Ray. address: join this Ray cluster instead of starting one. dashboard:
    start Ray's dashboard on 127.0.0.1 (local Ray only). batch_pairs: frame pairs per flow call.
    max_retries: times Ray reruns a video whose worker died. compile: torch.compile the flow
    engine (CUDA). progress: show a tqdm bar on stderr. overwrite: replace an existing output and
    discard parts from an earlier run. labels: labels source (see flowkit.extract.labels).
    shard_size: videos per shard of a sharded store (docs/store-format.md); 0 writes one file, None
    decides from the job's estimated size (flowkit.extract.shards). append: add the videos that are
    not in an existing store as new shards, without rewriting it.
    """

    device: str = "cpu"
    gpus: tuple[int, ...] = ()
    workers: int = field(default_factory=available_cpus)
    address: str | None = None
    dashboard: bool = False
    batch_pairs: int = DEFAULT_BATCH_PAIRS
    max_retries: int = DEFAULT_MAX_RETRIES
    compile: bool = False
    progress: bool = True
    overwrite: bool = False
    labels: str | None = None
    shard_size: int | None = None
    append: bool = False

    def __post_init__(self):
        if self.device not in ("cpu", "cuda"):
            raise UserValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if int(self.workers) != self.workers or self.workers < 0:
            raise UserValueError(f"workers must be an integer >= 0, got {self.workers}")
        if self.batch_pairs < 1:
            raise UserValueError(f"batch_pairs must be >= 1, got {self.batch_pairs}")
        if self.max_retries < 0:
            raise UserValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.shard_size is not None and (int(self.shard_size) != self.shard_size or self.shard_size < 0):
            raise UserValueError(f"shard size must be an integer >= 0 (videos per shard), got {self.shard_size}")
