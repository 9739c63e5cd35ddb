"""How many CPUs this process may use (its affinity mask, not the machine's count: a container or
`taskset` may allow fewer), for default thread and worker counts."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on (at least 1)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
