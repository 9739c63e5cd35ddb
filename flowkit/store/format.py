"""Names and constants of the flowkit HDF5 store layout (documented in docs/store-format.md)."""

FORMAT_NAME = "flowkit-store"
# Version 2 added each video's stored frame size (the `width` and `height` columns): videos of one
# store may differ in size (--short-side / --long-side keep each video's aspect). Version-1 stores
# still read: their videos take the store's `size` attribute (0 x 0, unknown, without one).
FORMAT_VERSION = 2

RGB = "rgb"
FLOW_X, FLOW_Y = "flow_x", "flow_y"
WARP_X, WARP_Y = "warp_x", "warp_y"
ALL_STREAMS = (RGB, FLOW_X, FLOW_Y, WARP_X, WARP_Y)
# Flow streams hold one record per consecutive pair of stored frames, RGB one per frame.
FLOW_STREAMS = (FLOW_X, FLOW_Y, WARP_X, WARP_Y)

# zstd: a raw uint8 plane compressed with Zstandard behind a 6-byte header (b"ZS", height, width as
# little-endian uint16). Lossless like PNG, and decoding is one zstd decompression, much cheaper than
# PNG's inflate and unfiltering or JPEG's IDCT, so lossless flow loads faster than JPEG rawframes
# (docs/performance.md, loader throughput).
CODECS = ("jpeg", "png", "zstd")
ZSTD_MAGIC = b"ZS"
ZSTD_LEVEL = 6  # past level 6 files shrink little while encoding slows down
DEFAULT_CODEC = {RGB: "jpeg", FLOW_X: "zstd", FLOW_Y: "zstd", WARP_X: "zstd", WARP_Y: "zstd"}

STATUS_OK = "ok"
STATUS_FAILED = "failed"

# Split membership codes, as in HMDB51's split files.
SPLIT_UNUSED, SPLIT_TRAIN, SPLIT_TEST = 0, 1, 2

# Bytes per chunk of the concatenated-record datasets: small enough that reading one frame
# touches one or two chunks.
DATA_CHUNK_BYTES = 64 * 1024
OFFSETS_CHUNK = 4096

# Per stream, the CRC-32 (zlib) of every record: readers check each record they read against it, so
# a damaged record is named (video, stream, frame) instead of being decoded into wrong pixels.
RECORD_CRC = "crc32"

# An extraction's finished videos wait in `<store>.parts/` until the store is assembled.
PARTS_SUFFIX = ".parts"

VIDEO_STR_COLUMNS = ("name", "path", "sha256", "status", "error")
VIDEO_INT_COLUMNS = ("label", "num_frames", "orig_width", "orig_height", "width", "height", "warp_fallbacks")
VIDEO_INT64_COLUMNS = ("rgb_start", "flow_start")
VIDEO_FLOAT_COLUMNS = ("fps",)


def stream_length(stream: str, num_frames: int) -> int:
    """Records a video of `num_frames` stored frames has in `stream`."""
    if stream in FLOW_STREAMS:
        return max(num_frames - 1, 0)
    return num_frames
