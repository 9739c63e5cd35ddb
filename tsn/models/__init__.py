"""TSN networks: BN-Inception, the backbone registry and the segment network itself."""

from tsn.models.backbones import BACKBONES, Backbone, build_backbone
from tsn.models.bninception import BNInception, load_bninception_weights
from tsn.models.tsn import CONSENSUS_TYPES, DEFAULT_DROPOUT, MODALITIES, TSN, SegmentConsensus, cross_modality_init

__all__ = [
    "BACKBONES", "Backbone", "build_backbone", "BNInception", "load_bninception_weights",
    "CONSENSUS_TYPES", "DEFAULT_DROPOUT", "MODALITIES", "TSN", "SegmentConsensus", "cross_modality_init",
]
