"""TSN networks: BN-Inception, the backbone registry and the segment network itself."""

from tsn.models.backbones import BACKBONES, Backbone, build_backbone
from tsn.models.bninception import BNInception
from tsn.models.pretrained import read_pretrained, resolve_pretrained
from tsn.models.tsn import CONSENSUS_TYPES, MODALITIES, TSN, SegmentConsensus, cross_modality_init

__all__ = [
    "BACKBONES", "Backbone", "build_backbone", "BNInception", "read_pretrained", "resolve_pretrained",
    "CONSENSUS_TYPES", "MODALITIES", "TSN", "SegmentConsensus", "cross_modality_init",
]
