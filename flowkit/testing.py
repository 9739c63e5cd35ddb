"""What tests and benchmarks share: a tiny synthetic flowkit store whose classes differ by motion, a
count of the activations autograd keeps (saved_activation_bytes), and a flow function that fails the
way a GPU engine does (FaultyFlow).

Used by the TSN tests and benchmarks/train_throughput.py, benchmarks/learned_flow.py; nothing here
is needed at run time.
Class c moves a random smooth texture in direction 360 * c / classes degrees at 2-4 px per
frame: the RGB frames are the translated texture and the flow (and warped flow) is that constant
velocity plus Gaussian noise, so a small net tells the classes apart from flow in a few
iterations (and from RGB differences; single RGB frames carry no class information).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from flowkit.quantize import DEFAULT_BOUND
from flowkit.store import StoreWriter, VideoRecord
from flowkit.store.encode import encode_streams
from flowkit.store.format import DEFAULT_CODEC, SPLIT_TEST, SPLIT_TRAIN
from flowkit.store.sharded_writer import ShardedStoreWriter

FLOW_NOISE = 0.5  # pixels, standard deviation


def class_velocity(label: int, classes: int, speed: float = 3.0) -> tuple[float, float]:
    """(vx, vy) in pixels per frame of class `label`: direction 2 pi label / classes."""
    angle = 2 * math.pi * label / classes
    return speed * math.cos(angle), speed * math.sin(angle)


def _moving_texture(rng, frames: int, width: int, height: int, vx: float, vy: float) -> np.ndarray:
    """(frames, H, W, 3) uint8: a smooth random texture translated by (vx, vy) per frame."""
    import cv2

    margin = int(math.ceil(frames * max(abs(vx), abs(vy)))) + 4
    big_w, big_h = width + 2 * margin, height + 2 * margin
    coarse = rng.integers(0, 256, (big_h // 6 + 2, big_w // 6 + 2, 3)).astype(np.float32)
    texture = cv2.resize(coarse, (big_w, big_h), interpolation=cv2.INTER_CUBIC)
    texture = np.clip(texture, 0, 255).astype(np.uint8)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        # dst(p) = texture(p + margin - t v): content moves by +v per frame (flow = v).
        shift = np.array([[1, 0, margin - t * vx], [0, 1, margin - t * vy]], np.float32)
        out[t] = cv2.warpAffine(texture, shift, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return out


def held_out_count(videos_per_class: int) -> int:
    """Videos per class that split 1 puts in the test subset (a quarter, at least one of two)."""
    return 0 if videos_per_class < 2 else max(1, videos_per_class // 4)


def make_tiny_store(
    path,
    classes: int = 3,
    videos_per_class: int = 4,
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    streams=("rgb", "flow_x", "flow_y", "warp_x", "warp_y"),
    seed: int = 0,
    flow_codec: str = "png",
    bound: float = DEFAULT_BOUND,
    sizes: Sequence[tuple[int, int]] | None = None,
    shard_size: int = 0,
) -> Path:
    """Write a store at `path` and return its path.

    size: (width, height). sizes: instead, the (width, height) of each video in turn (cycled), for
    stores mixing frame sizes (the store then has no `size` attribute). Videos are named
    move_<deg>/v_move_<deg>_g<j>, labelled by class; split 1 puts the last
    held_out_count(videos_per_class) videos of each class in test, the rest in train. Flow streams use
    `flow_codec` (png, or jpeg as dense_flow), RGB JPEG. shard_size > 0 writes a sharded store (an
    index at `path`, shards of that many videos beside it).
    """
    cycle = [tuple(s) for s in sizes] if sizes else [tuple(size)]
    rng = np.random.default_rng(seed)
    codecs = {s: (flow_codec if s != "rgb" else DEFAULT_CODEC[s]) for s in streams}
    names = [f"move_{round(360 * c / classes):03d}" for c in range(classes)]
    path = Path(path)
    membership = {}
    attrs: dict = {"bound": bound, "algo": "synthetic", "step": 1}
    if len(set(cycle)) == 1:
        attrs["size"] = list(cycle[0])
    writer: StoreWriter | ShardedStoreWriter = (ShardedStoreWriter(path, codecs, attrs, shard_size) if shard_size
                                                else StoreWriter(path, codecs, attrs=attrs))
    with writer:
        for label, class_name in enumerate(names):
            for j in range(videos_per_class):
                width, height = cycle[(label * videos_per_class + j) % len(cycle)]
                speed = rng.uniform(2.0, 4.0)
                vx, vy = class_velocity(label, classes, speed)
                rgb = _moving_texture(rng, frames, width, height, vx, vy)
                velocity = np.array([vx, vy], np.float32).reshape(1, 2, 1, 1)
                flow = velocity + rng.normal(0, FLOW_NOISE, (frames - 1, 2, height, width)).astype(np.float32)
                warp = velocity + rng.normal(0, FLOW_NOISE, (frames - 1, 2, height, width)).astype(np.float32)
                encoded = encode_streams(codecs, rgb=rgb, flow=flow, warp=warp, bound=bound)
                name = f"{class_name}/v_{class_name}_g{j + 1:02d}"
                record = VideoRecord(name=name, path=name + ".avi", label=label, num_frames=frames, fps=25.0,
                                     orig_width=width, orig_height=height, width=width, height=height)
                writer.add_video(record, encoded)
                held_out = j >= videos_per_class - held_out_count(videos_per_class)
                membership[name] = SPLIT_TEST if held_out else SPLIT_TRAIN
        writer.set_classes(names)
        writer.set_split(1, membership)
    return path


def saved_activation_bytes(function, *args) -> int:
    """Run function(*args) and return the bytes of the tensors autograd keeps from it for the backward
    pass (unique storages): the memory activation checkpointing saves. Peak resident memory would not
    show it reliably on CPU, where the allocator keeps freed blocks."""
    import torch

    storages = {}

    def pack(tensor):
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function(*args)
    return sum(storages.values())


# The message torch gives for a sticky CUDA error (flowkit.extract.failures classifies it as a broken device).
CUDA_ILLEGAL_ACCESS = "CUDA error: an illegal memory access was encountered"


def frame_digest(frame: np.ndarray) -> str:
    """sha1 hex digest of a (H, W) uint8 frame's bytes: how FaultyFlow recognizes a poisoned pair."""
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()


class FaultyFlow:
    """A flow function (flowkit.flow.functions' contract) that fails like a GPU engine, for tests of
    extraction's failure isolation; picklable, so it also runs inside a Ray actor.

    It computes make_flow_fn(algo, flow_params)'s flow, except that it raises torch.OutOfMemoryError
    for a call of more than `max_pairs` pairs, or for any call holding a pair whose prev frame's
    frame_digest is in `poison` (that pair fails even alone); and, when `break_once` names a file that
    does not exist yet, it creates the file and raises a RuntimeError with CUDA_ILLEGAL_ACCESS's message
    (once across processes). `calls` lists the number of pairs of each call this object received.
    """

    def __init__(self, algo: str, flow_params: dict, max_pairs: int | None = None, poison=(),
                 break_once: str | None = None):
        self.algo, self.flow_params = algo, dict(flow_params)
        self.max_pairs, self.poison = max_pairs, frozenset(poison)
        self.break_once = break_once
        self.calls: list[int] = []
        self._engine: Callable[..., np.ndarray] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_engine": None}  # the engine is built again where the object lands

    def __call__(self, prev, next) -> np.ndarray:
        import torch

        from flowkit.flow.functions import make_flow_fn

        prev, next = np.asarray(prev), np.asarray(next)
        self.calls.append(len(prev))
        if self.break_once is not None and not Path(self.break_once).exists():
            Path(self.break_once).touch()
            raise RuntimeError(CUDA_ILLEGAL_ACCESS)
        if self.max_pairs is not None and len(prev) > self.max_pairs:
            raise torch.OutOfMemoryError(f"CUDA out of memory: {len(prev)} pairs (this device holds {self.max_pairs})")
        if any(frame_digest(frame) in self.poison for frame in prev):
            raise torch.OutOfMemoryError("CUDA out of memory: a poisoned pair")
        if self._engine is None:
            self._engine = make_flow_fn(self.algo, self.flow_params)
        return self._engine(prev, next)
