"""`flowkit extract`: videos to one HDF5 store (RGB, TV-L1 flow, warped flow), on CPU workers, GPUs
or a Ray cluster, resumable after a crash.

Modules: jobs (which videos, names, safe paths), labels (class labels and splits from list files),
options (content vs run settings), worker (one video: decode, flow, encode), batcher (GPU batches
across videos), local / ray_runner (where the workers run), parts (per-video files of a run),
assemble (parts -> store or shard), shards (the shards of a sharded run and the processes that build
them while extraction runs), pipeline (`extract`), summary (the end-of-run report).
Importing this package imports neither torch nor ray.
"""

from flowkit.extract.options import ContentOptions, RunOptions
from flowkit.extract.pipeline import extract
from flowkit.extract.summary import Summary, format_summary

__all__ = ["ContentOptions", "RunOptions", "Summary", "extract", "format_summary"]
