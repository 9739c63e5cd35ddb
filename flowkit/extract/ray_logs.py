"""Keeping Ray's own messages out of the user's terminal while `flowkit extract` runs.

When a node of a cluster dies, the driver prints what the cluster pushes to it (the dead
raylet's last log lines and state dumps) between the progress bars, and Ray's Python logger adds
warnings. During a run both go to `flowkit-driver.log` in Ray's log folder instead (Ray's other
logs are already there, with log_to_driver=False); flowkit prints one line per retried task and
names this file at the end. The hook is Ray's `print_to_stdstream`, the function its driver
thread prints those messages with; on a Ray without it the messages simply stay on the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterator

LOG_NAME = "flowkit-driver.log"


class RayMessages:
    """Where Ray's messages went during a run (`path`) and how many there were (`count`)."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0


def _log_folder(ray) -> Path:
    try:
        return Path(ray._private.worker._global_node.get_logs_dir_path())
    except Exception:  # Ray's layout changed, or no local node: a folder of our own
        return Path(tempfile.mkdtemp(prefix="flowkit-ray-"))


@contextlib.contextmanager
def ray_messages_in_log(ray) -> Iterator[RayMessages]:
    """Inside the block, Ray's driver messages and its Python logger write to Ray's log folder.
    Call after ray.init (the log folder is the session's)."""
    messages = RayMessages(_log_folder(ray) / LOG_NAME)
    handle = open(messages.path, "a", encoding="utf-8")
    module: Any = getattr(getattr(ray, "_private", None), "worker", None)
    original = getattr(module, "print_to_stdstream", None)

    def to_log(data, ignore_prefix=False, **_):
        lines = data.get("lines", []) if isinstance(data, dict) else [str(data)]
        source = data.get("pid", "ray") if isinstance(data, dict) else "ray"
        handle.writelines(f"({source}) {line}\n" for line in lines)
        handle.flush()
        messages.count += 1

    logger = logging.getLogger("ray")
    saved_handlers, saved_propagate = logger.handlers[:], logger.propagate
    file_handler = logging.StreamHandler(handle)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if original is not None:
        module.print_to_stdstream = to_log
    logger.handlers, logger.propagate = [file_handler], False
    try:
        yield messages
    finally:
        if original is not None:
            module.print_to_stdstream = original
        logger.handlers, logger.propagate = saved_handlers, saved_propagate
        handle.close()
