"""How many CPUs this process may use, for default thread and worker counts: not the machine's count
but the least of its affinity mask (`taskset`, Slurm's and cgroup cpusets), its cgroup's CPU quota
(cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`: a container's or a job's --cpus), and
the CPUs a scheduler handed this process (`use_cpus`: a Ray task's num_cpus).

`use_cpus` also sizes the thread pools of OpenCV and torch (when torch is loaded: this module never
imports it), so a worker given n cores runs n threads, not one per core of the node.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from pathlib import Path

_assigned: int | None = None  # set by use_cpus


def available_cpus() -> int:
    """CPUs this process may run on (at least 1): min(affinity, cgroup quota, use_cpus' count)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    quota = _process_quota(os.getpid())
    if quota is not None:
        count = min(count, quota)
    if _assigned is not None:
        count = min(count, _assigned)
    return max(1, count)


def use_cpus(count: int) -> None:
    """This process was given `count` CPUs (>= 1) by a scheduler (a Ray task's num_cpus): from now on
    available_cpus() answers at most `count`, and OpenCV's and torch's (if loaded) thread pools have
    `count` threads. ValueError when count < 1."""
    global _assigned
    if int(count) != count or count < 1:
        raise ValueError(f"cpus must be an integer >= 1, got {count!r}")
    _assigned = int(count)
    threads = available_cpus()
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@functools.lru_cache(maxsize=1)
def _process_quota(pid: int) -> int | None:
    """cgroup_cpu_quota() of this process, read once per process (pid: a forked child reads again)."""
    return cgroup_cpu_quota()


def cgroup_cpu_quota(proc_self: str | os.PathLike = "/proc/self") -> int | None:
    """The CPUs the cgroup CPU quota of the process lets it use (the quota over the period, rounded up;
    the smallest along the cgroup's ancestors), or None without a quota (or without cgroups).

    proc_self: the process's /proc folder; its `mountinfo` says where cgroup v2 and v1's `cpu`
    controller are mounted and its `cgroup` which cgroup the process is in."""
    proc = Path(proc_self)
    try:
        memberships = _memberships((proc / "cgroup").read_text())
        mounts = (proc / "mountinfo").read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in mounts:
        mount = _cgroup_mount(line)
        if mount is None:
            continue
        version, root, mount_point = mount
        cgroup = memberships.get(version)
        if cgroup is None:
            continue
        for folder in _cgroup_folders(Path(mount_point), root, cgroup):
            limit = _v2_limit(folder) if version == "v2" else _v1_limit(folder)
            if limit is not None:
                limits.append(limit)
    return min(limits) if limits else None


def _memberships(text: str) -> dict[str, str]:
    """{'v2' or 'v1': cgroup path} from /proc/<pid>/cgroup lines ("0::/path", "4:cpu,cpuacct:/path")."""
    found = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if parts[0] == "0" and controllers == "":
            found["v2"] = path
        elif "cpu" in controllers.split(","):
            found["v1"] = path
    return found


def _cgroup_mount(line: str) -> tuple[str, str, str] | None:
    """(version, root inside the hierarchy, mount point) of a mountinfo line mounting cgroup v2 or v1's
    cpu controller; None for any other line."""
    left, sep, right = line.partition(" - ")
    fields, tail = left.split(), right.split()
    if not sep or len(fields) < 5 or len(tail) < 3:
        return None
    root, mount_point = _unescape(fields[3]), _unescape(fields[4])
    if tail[0] == "cgroup2":
        return "v2", root, mount_point
    if tail[0] == "cgroup" and "cpu" in tail[2].split(","):
        return "v1", root, mount_point
    return None


def _unescape(field: str) -> str:
    """mountinfo escapes spaces, tabs, newlines and backslashes as octal (\\040...)."""
    return field.encode().decode("unicode_escape") if "\\" in field else field


def _cgroup_folders(mount_point: Path, root: str, cgroup: str) -> list[Path]:
    """The process's cgroup folder under the mount and each ancestor up to the mount point. A cgroup
    outside the mounted root (a container seeing only its own cgroup, mounted at its root) is the
    mount point itself."""
    relative = os.path.relpath(cgroup, root) if root != "/" else cgroup.lstrip("/")
    if relative == "." or relative.startswith(".."):
        relative = ""
    folder = mount_point / relative
    folders = [folder]
    while folder != mount_point and mount_point in folder.parents:
        folder = folder.parent
        folders.append(folder)
    return folders


def _v2_limit(folder: Path) -> int | None:
    """CPUs from a cgroup v2 cpu.max ("max 100000" or "<quota> <period>"), None without a limit."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else _cpus(quota, period)


def _v1_limit(folder: Path) -> int | None:
    """CPUs from cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us (quota -1: no limit)."""
    try:
        quota = (folder / "cpu.cfs_quota_us").read_text().strip()
        period = (folder / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _cpus(quota, period)


def _cpus(quota: str, period: str) -> int | None:
    """ceil(quota / period) CPUs (at least 1), None when the quota is no limit or unreadable."""
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:
        return None
    return max(1, math.ceil(q / p))
