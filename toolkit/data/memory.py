"""Memory freed by the data pipeline goes back to the system, so peak memory follows the data.

glibc's malloc raises its mmap threshold each time a large block is freed, after which
tables and arrays of a few megabytes come from the heap, and memory they free is kept by the
process: loading a 1M-row table left 360 MB more resident than it holds. A fixed threshold
of 128 KiB (its starting value) keeps every large array in its own mapping, returned when
freed. Linux with glibc only; elsewhere nothing changes.

``aligned_empty`` makes arrays TensorFlow can share without copying (see
``InMemorySplit``).

``available_memory`` is what the machine (or the container's cgroup) can still give:
data.streaming: auto and the refusal of sizes that cannot fit use it. ``out_of_memory``
tells an allocation that failed from other errors, so training can report it as one line
naming what to lower.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
from pathlib import Path

import numpy as np

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_THRESHOLD = 128 << 10  # glibc's own starting value, kept from growing
_done = False


def return_freed_memory() -> None:
    """Fix glibc's mmap threshold (once per process); Arrow's pool uses the system allocator."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return
    _done = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)
    except (OSError, AttributeError):  # not glibc
        return
    import pyarrow as pa

    # mimalloc, Arrow's default, keeps freed pages for reuse: the same problem in Arrow.
    pa.set_memory_pool(pa.system_memory_pool())


# Eigen's (TensorFlow's) largest alignment: TensorFlow can hold a buffer aligned so without
# copying it (``toolkit.data.in_memory``).
ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-ordered array whose data starts on an ``ALIGNMENT``-byte boundary
    (NumPy's large arrays start 16 bytes into a page)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(size + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start : start + size].view(dtype).reshape(shape)


def is_aligned(values: np.ndarray) -> bool:
    return values.ctypes.data % ALIGNMENT == 0


CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
# cgroup v1 writes "no limit" as the largest page-aligned 64-bit number, not as "max".
_V1_UNLIMITED = 1 << 62


def available_memory(
    *, cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> int:
    """Bytes of memory available now: Linux's MemAvailable (free memory plus caches it can
    drop), else the physical memory; and no more than the process's cgroup leaves under its
    limit (a container's ``--memory``), which MemAvailable, the host's figure, does not
    know. The paths are parameters so tests can point them at files they write."""
    machine = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    machine = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if machine is None:
        machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    container = cgroup_available_memory(cgroup_root, proc_self_cgroup)
    return machine if container is None else min(machine, container)


def cgroup_available_memory(
    cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP
) -> int | None:
    """Bytes the process's memory cgroup can still take: its limit minus its usage, the
    smallest over the cgroup and its ancestors (a parent's limit binds its children too);
    None with no limit or no cgroup files. Usage counts page cache the kernel drops
    before it fails an allocation, so inactive file pages count as available, as
    MemAvailable counts them. v2 (``memory.max``) and v1 (``memory.limit_in_bytes``)."""
    try:
        lines = Path(proc_self_cgroup).read_text().splitlines()
    except OSError:
        return None
    hierarchies: list[tuple[Path, str, tuple[str, str, str]]] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2's one unified hierarchy
            hierarchies.append(
                (Path(cgroup_root), path, ("memory.max", "memory.current", "inactive_file"))
            )
        elif "memory" in controllers.split(","):
            hierarchies.append(
                (
                    Path(cgroup_root) / "memory",
                    path,
                    ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
                )
            )
    found = []
    for base, path, names in hierarchies:
        # The path is the cgroup as the host names it; in a container without its own cgroup
        # namespace the mount shows the container's cgroup at the root, so every ancestor
        # that exists is read and the root last.
        relative = Path(path.lstrip("/"))
        directories = [base / relative, *(base / parent for parent in relative.parents)]
        for directory in dict.fromkeys(directories):
            left = _cgroup_left(directory, *names)
            if left is not None:
                found.append(left)
    return min(found) if found else None


def _cgroup_left(
    directory: Path, limit_name: str, usage_name: str, inactive_name: str
) -> int | None:
    """Limit minus usage (less inactive file pages) of one cgroup directory; None when it
    sets no limit or its files cannot be read."""
    try:
        limit_text = (directory / limit_name).read_text().strip()
        if limit_text == "max":
            return None
        limit = int(limit_text)
        if limit >= _V1_UNLIMITED:
            return None
        usage = int((directory / usage_name).read_text().strip())
    except (OSError, ValueError):
        return None
    inactive = 0
    try:
        for line in (directory / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == inactive_name:
                inactive = int(value)
                break
    except (OSError, ValueError):
        pass
    return max(0, limit - max(0, usage - inactive))


def readable_bytes(size: float) -> str:
    """``2.2 TiB``, ``23 GiB``, ``512 bytes``: two significant digits at most."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            break
        size /= 1024
    if unit == "bytes":
        return f"{int(size)} bytes"
    return f"{size:.2g} {unit}" if size < 10 else f"{size:,.0f} {unit}"


# TensorFlow's words for an allocation that failed (CPU and GPU allocators, XLA), as against
# its other ResourceExhaustedErrors (a full disk, a quota).
_TENSORFLOW_OOM = re.compile(
    r"OOM when allocating|out of memory|failed to allocate memory|ran out of memory",
    re.IGNORECASE,
)


def out_of_memory(error: BaseException) -> BaseException | None:
    """The failed allocation behind ``error`` (itself, or what it was raised from): a
    ``MemoryError`` (NumPy's ``_ArrayMemoryError`` is one) or a TensorFlow
    ``ResourceExhaustedError`` saying memory ran out; None for any other error."""
    resource_exhausted = None
    tensorflow = sys.modules.get("tensorflow")  # a TensorFlow error needs TensorFlow loaded
    if tensorflow is not None:
        resource_exhausted = tensorflow.errors.ResourceExhaustedError
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return current
        if (
            resource_exhausted is not None
            and isinstance(current, resource_exhausted)
            and _TENSORFLOW_OOM.search(str(current))
        ):
            return current
        cause = current.__cause__
        current = (
            cause if cause is not None or current.__suppress_context__ else current.__context__
        )
    return None


def allocation_failure(error: BaseException) -> str:
    """What could not be allocated, in a few words from the error's own text: ``a float
    tensor of shape [100000,100000]``, ``13.1TiB``."""
    text = str(error)
    tensor = re.search(r"OOM when allocating tensor with shape\[([^\]]*)\] and type (\w+)", text)
    if tensor:
        return f"a {tensor.group(2)} tensor of shape [{tensor.group(1)}]"
    array = re.search(
        r"Unable to allocate ([\d.]+ [KMGTP]i?B) for an array with shape (\([^)]*\))", text
    )
    if array:
        return f"{array.group(1)} for an array of shape {array.group(2)}"
    size = re.search(r"(?:allocate|allocating)\s+([\d.]+\s*[KMGTP]i?B)", text)
    if size:
        return size.group(1)
    return "memory"
