"""Synthetic datasets in three families: classes that differ only in how things move ('motion'),
class pairs that differ only in the order of their frames ('order', flowkit.synth.order), and
classes that are an object kind crossed with a motion ('kind-motion'), which need both streams.

Family 'motion': every video draws its own random textures and colours for the background and for
1-3 textured objects; the class decides only the objects' motion (MOTIONS). Appearance, layout,
motion parameters and camera path come from separate random streams spawned from the caller's
generator, so for one generator state the frame at time `t_ref = frames // 2` is the same picture
for every motion: a single RGB frame carries no class information by construction.

Family 'kind-motion' (flowkit.synth.kinds): the objects are also coloured in a hue family (their
kind), in a way that keeps every pixel's gray level, so for one generator state every kind gives
the same gray frames: flow, computed on gray frames, carries no kind information by construction,
while one RGB frame shows the kind. Its classes pair kinds with motions in a cycle, so only RGB and
flow together tell every class apart.

Objects live on a world plane that wraps around with the period of the frame size, so an object
leaving on one side comes back on the other: every frame shows the same amount of moving texture,
and translation classes do not drift their objects into one half of the frame. With camera motion
the whole world (background and objects) is seen through a moving camera; the background texture is
rendered over everything the camera ever sees, so there are no empty borders.

Modules, one job each: `textures` (random textures, shared with flowkit.flow.synthetic and
flowkit.warp.synthetic), `shapes` (object masks), `motion` (object motions), `kinds` (object kinds
and the kind-motion cycle), `names` (picking a choice by name or index), `camera` (camera paths),
`affine` (the 2x3 maps they use), `render` (one video in memory, `render_video`), `order` (the
`order` family: class pairs whose videos are the same frames in opposite order,
`render_order_video`) and `dataset` (families, writing videos and UCF101-style lists, `make_dataset`).
"""

from flowkit.synth.camera import CAMERA_MOTIONS, camera_path
from flowkit.synth.dataset import (
    CLIPS_PER_GROUP,
    FAMILIES,
    FPS,
    DatasetInfo,
    SynthClass,
    SynthVideo,
    family_classes,
    make_dataset,
    split_plan,
    write_video,
)
from flowkit.synth.kinds import KINDS
from flowkit.synth.motion import MOTIONS, object_motion
from flowkit.synth.order import ORDER_CLASSES, render_order_video
from flowkit.synth.render import render_video
from flowkit.synth.shapes import random_shape_mask
from flowkit.synth.textures import random_texture

__all__ = [
    "CAMERA_MOTIONS",
    "CLIPS_PER_GROUP",
    "FAMILIES",
    "FPS",
    "KINDS",
    "MOTIONS",
    "ORDER_CLASSES",
    "DatasetInfo",
    "SynthClass",
    "SynthVideo",
    "camera_path",
    "family_classes",
    "make_dataset",
    "object_motion",
    "random_shape_mask",
    "random_texture",
    "render_order_video",
    "render_video",
    "split_plan",
    "write_video",
]
