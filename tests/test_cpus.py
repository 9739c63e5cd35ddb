"""The one CPU count: affinity, cgroup v2 and v1 quotas (read from fake /proc and cgroup files), and
the CPUs a scheduler assigns (use_cpus), which also size OpenCV's and torch's thread pools."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowkit import cpus
from flowkit.cpus import available_cpus, cgroup_cpu_quota


def fake_proc(tmp_path: Path, cgroup: str, mounts: list[tuple[str, str, str, str]]) -> Path:
    """A /proc/self folder: `cgroup` as its cgroup file, and mountinfo lines for
    (root, mount point, fstype, super options)."""
    proc = tmp_path / "proc"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup)
    lines = [f"{30 + i} 23 0:{28 + i} {root} {point} rw,relatime - {fstype} {fstype} {options}"
             for i, (root, point, fstype, options) in enumerate(mounts)]
    lines.insert(0, "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw")
    (proc / "mountinfo").write_text("\n".join(lines) + "\n")
    return proc


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_cgroup_v2_quota_is_the_smallest_along_the_ancestors(tmp_path):
    mount = tmp_path / "cgroup"
    proc = fake_proc(tmp_path, "0::/slurm/job_7/step_0\n", [("/", str(mount), "cgroup2", "rw")])
    write(mount / "cpu.max", "max 100000")  # the root: no limit
    write(mount / "slurm" / "cpu.max", "1600000 100000")
    write(mount / "slurm" / "job_7" / "cpu.max", "250000 100000")  # 2.5 CPUs: 3 threads
    write(mount / "slurm" / "job_7" / "step_0" / "cpu.max", "max 100000")
    assert cgroup_cpu_quota(proc) == 3


def test_cgroup_v2_without_a_quota(tmp_path):
    mount = tmp_path / "cgroup"
    proc = fake_proc(tmp_path, "0::/user.slice\n", [("/", str(mount), "cgroup2", "rw")])
    write(mount / "user.slice" / "cpu.max", "max 100000")
    assert cgroup_cpu_quota(proc) is None


def test_cgroup_v2_in_a_container_sees_its_own_cgroup_at_the_mount(tmp_path):
    """A container's cgroup file names a host path; its mount holds that cgroup at its root."""
    mount = tmp_path / "cgroup"
    proc = fake_proc(tmp_path, "0::/docker/abc\n", [("/docker/abc", str(mount), "cgroup2", "rw")])
    write(mount / "cpu.max", "200000 100000")
    assert cgroup_cpu_quota(proc) == 2
    outside = fake_proc(tmp_path / "moved", "0::/elsewhere\n", [("/docker/abc", str(mount), "cgroup2", "rw")])
    assert cgroup_cpu_quota(outside) == 2


def test_cgroup_v1_cfs_quota(tmp_path):
    mount = tmp_path / "cpu,cpuacct"
    proc = fake_proc(tmp_path, "5:memory:/job\n4:cpu,cpuacct:/job\n0::/\n",
                     [("/", str(tmp_path / "memory"), "cgroup", "rw,memory"),
                      ("/", str(mount), "cgroup", "rw,cpu,cpuacct")])
    write(mount / "cpu.cfs_quota_us", "-1")
    write(mount / "cpu.cfs_period_us", "100000")
    write(mount / "job" / "cpu.cfs_quota_us", "300000")
    write(mount / "job" / "cpu.cfs_period_us", "100000")
    write(tmp_path / "memory" / "job" / "cpu.cfs_quota_us", "100000")  # not the cpu controller: ignored
    write(tmp_path / "memory" / "job" / "cpu.cfs_period_us", "100000")
    assert cgroup_cpu_quota(proc) == 3


def test_cgroup_v1_without_a_quota_and_no_cgroups_at_all(tmp_path):
    mount = tmp_path / "cpu"
    proc = fake_proc(tmp_path, "4:cpu:/\n", [("/", str(mount), "cgroup", "rw,cpu")])
    write(mount / "cpu.cfs_quota_us", "-1")
    write(mount / "cpu.cfs_period_us", "100000")
    assert cgroup_cpu_quota(proc) is None
    assert cgroup_cpu_quota(tmp_path / "no-such-proc") is None


def test_available_cpus_is_the_least_of_affinity_quota_and_assignment(monkeypatch):
    affinity = len(os.sched_getaffinity(0))
    monkeypatch.setattr(cpus, "_assigned", None)
    monkeypatch.setattr(cpus, "_process_quota", lambda pid: None)
    assert available_cpus() == affinity
    monkeypatch.setattr(cpus, "_process_quota", lambda pid: 1)
    assert available_cpus() == 1
    monkeypatch.setattr(cpus, "_process_quota", lambda pid: affinity + 5)
    assert available_cpus() == affinity


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to see a smaller count")
def test_affinity_mask_is_honoured_in_a_child():
    one = sorted(os.sched_getaffinity(0))[0]
    code = "import os; os.sched_setaffinity(0, {%d}); from flowkit.cpus import available_cpus; print(available_cpus())"
    out = subprocess.run([sys.executable, "-c", code % one], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_use_cpus_sizes_opencv_and_torch_threads():
    """In a fresh process (the setting is process-wide): what a Ray task does with its num_cpus."""
    code = ("import cv2, torch; from flowkit.cpus import use_cpus, available_cpus; use_cpus(1); "
            "print(cv2.getNumThreads(), torch.get_num_threads(), available_cpus())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1", "1"]
    with pytest.raises(ValueError):
        cpus.use_cpus(0)
