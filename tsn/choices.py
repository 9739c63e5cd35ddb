"""The names a user picks from, defined once (the CLI, the config checks and the registries use them).

Import-light on purpose: no torch, so the `tsn` command can build its options at startup.
tests/test_tsn_model.py checks that the registries (backbones, modalities, training defaults)
hold exactly these names.
"""

# Input modalities: spatial (rgb, rgbdiff) and temporal (flow, warped flow, and flow computed inside the
# network from RGB frames by learnable TV-L1 layers) streams.
MODALITIES = ("rgb", "rgbdiff", "flow", "warp", "learned-flow")
# The modalities whose records are flow fields (x then y planes).
FLOW_MODALITIES = ("flow", "warp")
# The temporal streams: the network sees flow (the paper's temporal-stream recipe applies).
TEMPORAL_MODALITIES = ("flow", "warp", "learned-flow")
# The modality whose flow the network computes itself from RGB frames (tsn.models.learned_flow).
LEARNED_FLOW = "learned-flow"
# Backbones of tsn.models.backbones.BACKBONES; 'tiny' is a small net for tests and CPU demos.
ARCHS = ("bninception", "resnet18", "resnet50", "tiny")
# Default budget of the learned-flow TV-L1 layers (tsn.models.learned_flow): pyramid scales, warps per scale,
# iterations per warp. Kept here, import-light, so the CLI shows them; chosen by measurement (docs/results.md).
LEARNED_FLOW_SCALES, LEARNED_FLOW_WARPS, LEARNED_FLOW_ITERATIONS = 2, 2, 10
# Segmental consensus functions of tsn.models.consensus.SegmentConsensus ('temporal' is order-aware).
CONSENSUS_TYPES = ("avg", "max", "weighted", "temporal")
# Where JPEG records are decoded: in the loader workers, or on the training device in batches.
DECODE_MODES = ("cpu", "device")
# Test crops per snippet: the centre one, or 4 corners + centre and their mirrors.
TEST_CROPS = (1, 10)
# Fixed positions a training crop may take: the paper's 5 (corners + centre) or tsn-pytorch's 13.
CROP_POSITIONS = (5, 13)
