"""Running the per-video work in this process, without Ray: inline (workers=0) or on a pool of
threads (decode, JPEG/PNG coding, torch and the fused TV-L1 kernel all release the GIL). CPU TV-L1
(flowkit.flow.native_solver) does not import torch at all, which saves a short job seconds. With TV-L1
on a GPU or on the CPU, every thread's pairs go through one FlowBatcher: the GPU sees large batches
from several videos at once, and the CPU engine solves a batch's pairs `workers` at a time, so the
cores share the work pair by pair rather than video by video (3 videos on 2 cores keep both busy)."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Iterator, Sequence

from flowkit.extract.batcher import FlowBatcher
from flowkit.extract.jobs import VideoJob
from flowkit.extract.options import BATCH_CHUNKS, ContentOptions, RunOptions
from flowkit.extract.splitting import SplittingFlow
from flowkit.extract.worker import VideoResult, local_flow_fn, run_job
from flowkit.flow.functions import torch_threads


def run_in_process(
    jobs: Sequence[VideoJob], content: ContentOptions, run: RunOptions, parts_dir: Path
) -> Iterator[VideoResult]:
    """Extract `jobs` here, yielding each video's result as it finishes (its part is written).
    workers=0: one video at a time on this thread; workers=N: N threads. On CUDA the first of
    run.gpus is used (several GPUs need Ray)."""
    if run.device == "cuda" and len(run.gpus) > 1:
        raise ValueError("without Ray, extraction uses one GPU; pass a single --gpu id, or install ray to use several")
    device = f"cuda:{run.gpus[0]}" if run.device == "cuda" else "cpu"
    threads = max(run.workers, 1)
    cpu_tvl1 = run.device == "cpu" and content.algo == "tvl1"
    engine = local_flow_fn(content, device, run.compile, threads if cpu_tvl1 else None)
    batcher = None
    if threads > 1 and (run.device == "cuda" or cpu_tvl1):
        batcher = FlowBatcher(engine, max_pairs=run.batch_pairs * BATCH_CHUNKS)
    # Either way an out-of-memory error retries smaller parts of the call (flowkit.extract.splitting).
    flow_fn = batcher if batcher is not None else SplittingFlow(engine)
    # CPU flow: one torch thread; parallelism across pairs (the engine's threads) and videos.
    # Intra-op threads on frame-sized tensors mostly wait at barriers when the cores are busy, and
    # one thread matches Ray's workers (OMP_NUM_THREADS=1).
    cpu_torch_threads = None if run.device == "cuda" else 1
    try:
        with torch_threads(cpu_torch_threads):
            if threads == 1:
                for job in jobs:
                    yield run_job(job, content, parts_dir, flow_fn, run.batch_pairs)
                return
            pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="flowkit-extract")
            try:
                queue = iter(jobs)
                running = set()
                # Keep a few videos queued per thread, not all of them: memory stays bounded.
                for job in queue:
                    running.add(pool.submit(run_job, job, content, parts_dir, flow_fn, run.batch_pairs))
                    if len(running) >= 2 * threads:
                        break
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        for job in queue:
                            running.add(pool.submit(run_job, job, content, parts_dir, flow_fn, run.batch_pairs))
                            break
                        yield future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        if batcher is not None:
            batcher.close()
