"""TSN networks: BN-Inception, the backbone registry, the segment network, its consensus and the
learnable TV-L1 layers of the learned-flow modality."""

from tsn.models.backbones import BACKBONES, Backbone, build_backbone
from tsn.models.bninception import BNInception
from tsn.models.consensus import SegmentConsensus
from tsn.models.learned_flow import UnrolledTVL1
from tsn.models.pretrained import read_pretrained, resolve_pretrained
from tsn.models.tsn import CONSENSUS_TYPES, MODALITIES, TSN, cross_modality_init

__all__ = [
    "BACKBONES", "Backbone", "build_backbone", "BNInception", "read_pretrained", "resolve_pretrained",
    "CONSENSUS_TYPES", "MODALITIES", "TSN", "SegmentConsensus", "UnrolledTVL1", "cross_modality_init",
]
