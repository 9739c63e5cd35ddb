"""Synthetic motion dataset: classes that differ only in how things move, never in appearance.

Every video draws its own random textures and colours for the background and for 1-3 textured
objects; the class decides only the objects' motion (MOTIONS). Appearance, layout, motion
parameters and camera path come from separate random streams spawned from the caller's generator,
so for one generator state the frame at time `t_ref = frames // 2` is the same picture for every
class: a single RGB frame carries no class information by construction.

Objects live on a world plane that wraps around with the period of the frame size, so an object
leaving on one side comes back on the other: every frame shows the same amount of moving texture,
and translation classes do not drift their objects into one half of the frame. With camera motion
the whole world (background and objects) is seen through a moving camera; the background texture is
rendered over everything the camera ever sees, so there are no empty borders.

Modules, one job each: `textures` (random textures, shared with flowkit.flow.synthetic and
flowkit.warp.synthetic), `shapes` (object masks), `motion` (object motions, one per class),
`camera` (camera paths), `affine` (the 2x3 maps they use), `render` (one video in memory,
`render_video`), `order` (the `order` family: class pairs whose videos are the same frames in opposite
order, `render_order_video`) and `dataset` (writing videos and UCF101-style lists, `make_dataset`).
"""

from flowkit.synth.camera import CAMERA_MOTIONS, camera_path
from flowkit.synth.dataset import (
    CLIPS_PER_GROUP,
    FAMILIES,
    FPS,
    DatasetInfo,
    SynthVideo,
    make_dataset,
    split_plan,
    write_video,
)
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
    "MOTIONS",
    "ORDER_CLASSES",
    "DatasetInfo",
    "SynthVideo",
    "camera_path",
    "make_dataset",
    "object_motion",
    "random_shape_mask",
    "random_texture",
    "render_order_video",
    "render_video",
    "split_plan",
    "write_video",
]
