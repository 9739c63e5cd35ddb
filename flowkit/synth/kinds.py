"""The two-stream family of synthetic classes: object kinds (seen in one RGB frame, invisible to
optical flow) crossed with object motions (seen by optical flow, invisible in one frame).

A kind is a hue family (KINDS) of the objects' colours. Colouring keeps every pixel's gray level
(ITU-R BT.601 luma, flowkit.color.GRAY_WEIGHTS, what flow is computed on) exactly: the chroma added
lies in the (Cb, Cr) plane, which has no luma. So for one generator state, two kinds give the same
gray frames up to uint8 rounding (flow cannot tell them apart), while their RGB frames differ in the
objects' hue. The background keeps a faint random tint of any hue, the same for every kind.

Classes are (kind, motion) pairs arranged in a cycle (`kind_motion_pairs`): with K kinds and K
motions, kind k comes with motions k and k + 1 (mod K). Each kind then belongs to two classes and
each motion to two classes, so a stream that sees only the kind (RGB), or only the motion (flow),
is right on at most half of the videos (chance is 1 / 2K), and only the two together tell every
class apart: the point of two-stream fusion (Simonyan & Zisserman 2014; TSN, Wang et al. 2016).
"""

from __future__ import annotations

import math

import numpy as np

from flowkit.errors import UserValueError
from flowkit.color import brightness
from flowkit.synth.names import choice_index

KINDS: tuple[str, ...] = ("Red", "Green", "Blue")
# The motions of the family, in cycle order (names from flowkit.synth.motion.MOTIONS).
KIND_MOTIONS: tuple[str, ...] = ("MoveRight", "MoveLeft", "MoveUp")
# How the family's videos are rendered (flowkit.synth.render_video's keywords): objects move
# faster than the motion family's, so that they outrun the camera (a pan then blurs what plain flow
# shows of their motion without hiding it), and there are 2-3 of them, so that a crop of a frame
# seldom misses them all.
KIND_RENDER = {"motion_scale": 2.5, "objects": (2, 3)}
# Hue of each kind: the angle of its chroma in the (Cb, Cr) plane, degrees; red, green and blue
# sit about 120 degrees apart there.
KIND_HUE_DEG = (110.0, 230.0, 350.0)
HUE_SPREAD_DEG = 20.0  # an object's hue is drawn within +- this of its kind's
HUE_VARIATION_DEG = 10.0  # and varies by +- this across its texture
OBJECT_CHROMA = (35.0, 55.0)  # chroma magnitude of an object's colours, gray levels
OBJECT_GRAY_RANGE = (48.0, 208.0)  # object gray levels are mapped into this range, so chroma fits
BACKGROUND_CHROMA_KEPT = 0.1  # the background keeps this fraction of its random texture's chroma
# BT.601 chroma -> RGB: RGB offsets of a unit Cb and a unit Cr; both have zero luma (GRAY_WEIGHTS).
CB_TO_RGB = (0.0, -0.344136, 1.772)
CR_TO_RGB = (1.402, -0.714136, 0.0)


def kind_motion_pairs(count: int, motions: tuple[str, ...]) -> list[tuple[int, str]]:
    """(kind index, motion) of the first `count` classes of the cycle (kind k, motion k), (kind k,
    motion k + 1 mod K), for K = count // 2 kinds and the first K of `motions` (names from
    flowkit.synth.motion.MOTIONS). count: even, 4 .. 2 * min(len(KINDS), len(motions)); ValueError
    otherwise (with fewer than 2 kinds the cycle would not cross kinds with motions)."""
    largest = 2 * min(len(KINDS), len(motions))
    if int(count) != count or count % 2 or not 4 <= count <= largest:
        raise UserValueError(f"the kind-motion family has an even number of classes from 4 to {largest}, got {count!r}")
    kinds = int(count) // 2
    return [(kind, motions[(kind + step) % kinds]) for kind in range(kinds) for step in (0, 1)]


def kind_motion_name(kind: int, motion: str) -> str:
    """The class name of (kind, motion), UCF101-style CamelCase: e.g. RedRotateClockwise."""
    return f"{KINDS[kind]}{motion}"


def kind_index(kind: int | str) -> int:
    """An index into KINDS, given the index or the name (ValueError otherwise)."""
    return choice_index(kind, KINDS, "kind")


def draw_tint(rng: np.random.Generator) -> tuple[float, float, float]:
    """One object's colour draws, the same whatever its kind (so the random streams do not depend
    on the kind): hue offset in [-1, 1], chroma in [0, 1], hue variation phase in [0, 2 pi)."""
    return float(rng.uniform(-1, 1)), float(rng.uniform(0, 1)), float(rng.uniform(0, 2 * np.pi))


def colour_by_kind(texture: np.ndarray, kind: int, tint: tuple[float, float, float]) -> np.ndarray:
    """Recolour an RGB texture (H, W, 3) float32 in [0, 255] in the hue family of `kind`, keeping
    its structure in gray: (H, W, 3) float32 in [0, 255] whose gray level is the texture's, mapped
    linearly into OBJECT_GRAY_RANGE (the same for every kind). tint: draw_tint's values."""
    hue_offset, chroma_draw, phase = tint
    gray = brightness(texture) / 255.0
    lo, hi = OBJECT_GRAY_RANGE
    luma = lo + (hi - lo) * gray
    base_hue = math.radians(KIND_HUE_DEG[kind] + HUE_SPREAD_DEG * hue_offset)
    hue = base_hue + math.radians(HUE_VARIATION_DEG) * np.sin(2 * np.pi * gray + phase)
    chroma = OBJECT_CHROMA[0] + (OBJECT_CHROMA[1] - OBJECT_CHROMA[0]) * chroma_draw
    return _add_chroma(luma, chroma * np.cos(hue), chroma * np.sin(hue))


def desaturate(texture: np.ndarray, kept: float = BACKGROUND_CHROMA_KEPT) -> np.ndarray:
    """Move RGB colours (..., 3) float32 towards their gray level, keeping `kept` of their chroma;
    the gray level is unchanged."""
    luma = brightness(texture)[..., None]
    return (luma + kept * (texture - luma)).astype(np.float32)


def _add_chroma(luma: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) float32 = luma + cb * CB_TO_RGB + cr * CR_TO_RGB, the chroma shortened per
    pixel where a channel would leave [0, 255] (the luma stays exact)."""
    offsets = (np.asarray(cb, np.float32)[..., None] * np.asarray(CB_TO_RGB, np.float32)
               + np.asarray(cr, np.float32)[..., None] * np.asarray(CR_TO_RGB, np.float32))
    luma = np.asarray(luma, np.float32)[..., None]
    room_up = np.where(offsets > 0, (255.0 - luma) / np.maximum(offsets, 1e-6), np.inf).min(axis=-1)
    room_down = np.where(offsets < 0, luma / np.maximum(-offsets, 1e-6), np.inf).min(axis=-1)
    scale = np.minimum(1.0, np.minimum(room_up, room_down))[..., None]
    return np.clip(luma + scale * offsets, 0.0, 255.0).astype(np.float32)
