"""TSN input pipeline: segment sampling, augmentation and its presets, modalities, the dataset over
flowkit stores, loaders (with optional device-side JPEG decode) and a rawframe-folder source."""

from tsn.data.dataset import TSNDataset
from tsn.data.loader import SkippedClip, build_loader, prepare_batch, seed_worker, split_skipped
from tsn.data.modalities import MODALITIES, Modality, get_modality, input_channels
from tsn.data.presets import TestCrops, TrainCrops, train_crops
from tsn.data.rawframes import RawFramesSource

__all__ = [
    "TSNDataset", "build_loader", "prepare_batch", "seed_worker", "split_skipped", "SkippedClip",
    "MODALITIES", "Modality", "get_modality", "input_channels", "RawFramesSource", "TestCrops", "TrainCrops",
    "train_crops",
]
