"""The names a user picks from, defined once (the CLI, the config checks and the registries use them).

Import-light on purpose: no torch, so the `tsn` command can build its options at startup.
tests/test_tsn_model.py checks that the registries (backbones, modalities, training defaults)
hold exactly these names.
"""

# Input modalities: spatial (rgb, rgbdiff) and temporal (flow, warped flow) streams.
MODALITIES = ("rgb", "rgbdiff", "flow", "warp")
# The modalities whose records are flow fields (x then y planes).
FLOW_MODALITIES = ("flow", "warp")
# Backbones of tsn.models.backbones.BACKBONES; 'tiny' is a small net for tests and CPU demos.
ARCHS = ("bninception", "resnet18", "resnet50", "tiny")
# Segmental consensus functions of tsn.models.tsn.SegmentConsensus.
CONSENSUS_TYPES = ("avg", "max", "weighted")
# Where JPEG records are decoded: in the loader workers, or on the training device in batches.
DECODE_MODES = ("cpu", "device")
# Test crops per snippet: the centre one, or 4 corners + centre and their mirrors.
TEST_CROPS = (1, 10)
# Fixed positions a training crop may take: the paper's 5 (corners + centre) or tsn-pytorch's 13.
CROP_POSITIONS = (5, 13)
