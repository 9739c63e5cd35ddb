"""gpu_check's DDP stage: `tsn train --skip-damaged` under torchrun with NCCL on two GPUs, one
training video's every flow record damaged, batch 1: ranks with nothing to train on must keep
step with the others (no hang: the run is bounded by a timeout) and finish with the same weights.

Needs two CUDA devices; the dry run (and a one-GPU machine) says "skipped" with the reason: the same
training code runs under gloo on the CPU in tests/test_store_damage.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = """
import sys
import torch
from tsn.config import TrainConfig
from tsn.train import train

store, out = sys.argv[1], sys.argv[2]
result = train(TrainConfig(store=store, modality="flow", arch="tiny", input_size=32, epochs=2, batch_size=1,
                           workers=0, eval_every=1, progress=False, skip_damaged=True, device="cuda",
                           output=out + "/run"))
if result["rank"] in (0, 1):
    torch.save({n: p.detach().cpu() for n, p in result["model"].named_parameters()}, f"{out}/rank{result['rank']}.pt")
"""


def _damage_flow(store: Path, video: str) -> None:
    """Flip one byte in every flow_x record of `video` (their checksums then fail)."""
    import h5py

    from flowkit.store import FlowStore

    with FlowStore(store) as opened:
        index = opened.index_of(video)
        start, count = opened.videos[index].flow_start, opened.num_records(index, "flow_x")
        offsets = opened._offsets["flow_x"]
        spans = [(int(offsets[start + t]), int(offsets[start + t + 1])) for t in range(count)]
    with h5py.File(store, "r+") as file:
        data = file["streams/flow_x/data"]
        for begin, _ in spans:
            data[begin + 1] = data[begin + 1] ^ 0xFF


def check(device: str, dry_run: bool, seconds_left: float) -> dict:
    """Run the stage; returns its JSON-able result."""
    if dry_run:
        return {"status": "skipped", "reason": "needs CUDA (the gloo version is tests/test_store_damage.py)"}
    import torch

    if torch.cuda.device_count() < 2:
        return {"status": "skipped", "reason": f"{torch.cuda.device_count()} CUDA device(s); DDP needs 2"}
    if seconds_left < 120:
        return {"status": "skipped", "reason": f"{seconds_left:.0f} s left"}
    from flowkit.testing import make_tiny_store

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = make_tiny_store(root / "tiny.h5", classes=3, videos_per_class=4, frames=8, size=(48, 32),
                                streams=("rgb", "flow_x", "flow_y"))
        _damage_flow(store, "move_120/v_move_120_g02")
        (root / "ddp.py").write_text(SCRIPT)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                   "--master-addr", "127.0.0.1", "--master-port", str(port), str(root / "ddp.py"), str(store),
                   str(root)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        started = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env,
                                  timeout=min(300.0, seconds_left - 30))
        except subprocess.TimeoutExpired:
            return {"status": "failed", "error": "torchrun did not finish: a hang in a collective"}
        seconds = round(time.perf_counter() - started, 1)
        if done.returncode != 0:
            return {"status": "failed", "seconds": seconds, "error": done.stderr[-1500:]}
        ranks = [torch.load(root / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
        same = all(torch.equal(value, ranks[1][name]) for name, value in ranks[0].items())
        return {"status": "ok" if same else "failed", "seconds": seconds, "ranks_have_equal_weights": same}
