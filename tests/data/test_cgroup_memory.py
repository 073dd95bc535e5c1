"""available_memory stays within the process's memory cgroup (a container's limit), which
the host's MemAvailable does not know: data.streaming: auto chose to load a table whole in a
container with a small limit. The cgroup files are ones the test writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.data.memory import available_memory, cgroup_available_memory

MIB = 1 << 20
V1_UNLIMITED = "9223372036854771712"  # what cgroup v1 writes for no limit


def _machine_available() -> int:
    """MemAvailable as the kernel reports it, read here rather than through the toolkit."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    # Every Linux since 3.14 reports it, and available_memory reads it first: its absence
    # is a failure to look into, not a case to skip.
    pytest.fail("no MemAvailable in /proc/meminfo")


def _write(directory: Path, **files: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("_dot_", ".")).write_text(text + "\n")


def _proc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc_self_cgroup"
    path.write_text(text)
    return path


def test_v2_limit_minus_usage_less_inactive_file(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(
        root / "app",
        memory_dot_max=str(256 * MIB),
        memory_dot_current=str(100 * MIB),
        memory_dot_stat=f"anon {80 * MIB}\nfile {20 * MIB}\ninactive_file {15 * MIB}",
    )
    proc = _proc(tmp_path, "0::/app\n")
    expected = 256 * MIB - (100 * MIB - 15 * MIB)
    assert cgroup_available_memory(root, proc) == expected
    assert _machine_available() > expected  # else the machine's figure would be the minimum
    assert available_memory(cgroup_root=root, proc_self_cgroup=proc) == expected


def test_v2_a_parent_limit_binds_its_child(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "a", memory_dot_max=str(128 * MIB), memory_dot_current=str(64 * MIB))
    _write(root / "a" / "b", memory_dot_max="max", memory_dot_current=str(10 * MIB))
    proc = _proc(tmp_path, "0::/a/b\n")
    assert available_memory(cgroup_root=root, proc_self_cgroup=proc) == 64 * MIB


def test_v2_container_without_cgroup_namespace_reads_the_root(tmp_path: Path) -> None:
    # /proc/self/cgroup names the host's path, the mount shows the container's cgroup at /.
    root = tmp_path / "cgroup"
    _write(root, memory_dot_max=str(512 * MIB), memory_dot_current=str(12 * MIB))
    proc = _proc(tmp_path, "0::/docker/0123abcd\n")
    assert available_memory(cgroup_root=root, proc_self_cgroup=proc) == 500 * MIB


def test_v1_limit_in_bytes(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "memory", memory_dot_limit_in_bytes=V1_UNLIMITED, memory_dot_usage_in_bytes="1")
    _write(
        root / "memory" / "job" / "7",
        memory_dot_limit_in_bytes=str(300 * MIB),
        memory_dot_usage_in_bytes=str(50 * MIB),
        memory_dot_stat=f"cache {30 * MIB}\ntotal_inactive_file {10 * MIB}",
    )
    proc = _proc(tmp_path, "5:devices:/job/7\n4:memory:/job/7\n0::/\n")
    assert available_memory(cgroup_root=root, proc_self_cgroup=proc) == 260 * MIB


def test_no_limit_leaves_the_machine_figure(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "app", memory_dot_max="max", memory_dot_current=str(100 * MIB))
    _write(root / "memory", memory_dot_limit_in_bytes=V1_UNLIMITED, memory_dot_usage_in_bytes="1")
    proc = _proc(tmp_path, "4:memory:/\n0::/app\n")
    assert cgroup_available_memory(root, proc) is None
    before = _machine_available()
    measured = available_memory(cgroup_root=root, proc_self_cgroup=proc)
    after = _machine_available()
    # MemAvailable moves with other processes between the readings: a tolerance of 5%.
    assert min(before, after) * 0.95 <= measured <= max(before, after) * 1.05


def test_usage_over_the_limit_is_nothing_left(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root, memory_dot_max=str(64 * MIB), memory_dot_current=str(70 * MIB))
    proc = _proc(tmp_path, "0::/\n")
    assert available_memory(cgroup_root=root, proc_self_cgroup=proc) == 0
