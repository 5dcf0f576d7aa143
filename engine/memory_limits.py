"""How much memory a CPU run may use: the smaller of what the kernel has and what our memory cgroup leaves.

``/proc/meminfo`` describes the host. Inside a container, a Slurm job or a hosted notebook the process
sits in a memory cgroup whose limit is lower: in a 4 GiB group the default training planned for the
host's 23 GiB and was OOM-killed (exit 137, nothing printed) while MemAvailable still read 23 GiB. So a
CPU run may use the smallest of

    MemAvailable                              + this process's RSS
    limit - (usage - inactive page cache)     + this process's RSS      for our cgroup and each parent
                                                                        (never more than the limit)

RSS is added back because the plan's estimate counts the whole process (weights already loaded
included), and that RSS is already inside both MemAvailable's "used" and the group's usage. Inactive
file pages are subtracted from the usage (``usage - inactive_file`` is the "working set" that Docker and
Kubernetes report) because the kernel reclaims them before it kills anything; with no ``memory.stat``
nothing is subtracted. A parent's limit may be the tighter one (a Slurm job's step inside the job,
a pod's container inside the pod), so every ancestor up to the hierarchy's mount point is read.

cgroup v2: ``0::/path`` in /proc/self/cgroup, ``memory.max`` ("max" = no limit), ``memory.current``.
cgroup v1: the line whose controllers include ``memory``, ``memory.limit_in_bytes`` (no limit reads as
~2^63 rounded to a page), ``memory.usage_in_bytes``. Mount points come from /proc/self/mountinfo (a
container sees its own group as the mount's root), else the usual /sys/fs/cgroup[/memory].

Everything is read under ``root`` (default "/") so tests can build a fake tree; anything missing or
unreadable counts as "no limit here", never an error.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

NO_LIMIT_V1 = 2**60  # v1 writes "unlimited" as 2^63 - page size; no real machine has an exabyte


@dataclass(frozen=True)
class CgroupLimit:
    """The tightest memory cgroup level: its limit and what it uses now."""

    path: str  # the group's directory (under root)
    version: int  # 1 or 2
    limit: int
    usage: int
    inactive_file: int  # reclaimable page cache, subtracted from usage

    @property
    def free(self) -> int:
        return max(self.limit - max(self.usage - self.inactive_file, 0), 0)


@dataclass(frozen=True)
class MemoryBudget:
    """Bytes a CPU run may use, and what bounds them."""

    bytes: int
    meminfo_bytes: int | None  # MemAvailable + RSS
    cgroup: CgroupLimit | None  # the tightest cgroup level, None when no limit is set anywhere
    rss: int

    @property
    def bound_by_cgroup(self) -> bool:
        return self.cgroup is not None and (
            self.meminfo_bytes is None or self.cgroup.free + self.rss < self.meminfo_bytes
        )

    @property
    def bound(self) -> str | None:
        """What a one-line notice adds when the cgroup is the tighter bound: "cgroup limit 4.0 GiB"."""
        cgroup = self.cgroup
        return f"cgroup limit {cgroup.limit / 2**30:.1f} GiB" if cgroup is not None and self.bound_by_cgroup else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def process_rss(root: str | Path = "/") -> int:
    """This process's resident bytes (/proc/self/statm), 0 when unknown."""
    text = _read(Path(root) / "proc/self/statm")
    try:
        return int(text.split()[1]) * os.sysconf("SC_PAGE_SIZE") if text else 0
    except (ValueError, IndexError, OSError):
        return 0


def meminfo_available(root: str | Path = "/") -> int | None:
    """MemAvailable in bytes, None when unknown."""
    text = _read(Path(root) / "proc/meminfo")
    if not text:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            try:
                return int(line.split()[1]) * 1024
            except (ValueError, IndexError):
                return None
    return None


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(root: Path) -> list[tuple[int, str, str]]:
    """(version, mount root inside the hierarchy, mount point) of the memory cgroup hierarchies."""
    found = []
    for line in (_read(root / "proc/self/mountinfo") or "").splitlines():
        head, sep, tail = line.partition(" - ")
        fields, extra = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(extra) < 3:
            continue
        fstype, options = extra[0], extra[2].split(",")
        if fstype == "cgroup2":
            found.append((2, _unescape(fields[3]), _unescape(fields[4])))
        elif fstype == "cgroup" and "memory" in options:
            found.append((1, _unescape(fields[3]), _unescape(fields[4])))
    if not found:  # no mountinfo: the usual places
        found = [(2, "/", "/sys/fs/cgroup"), (1, "/", "/sys/fs/cgroup/memory")]
    return found


def _own_groups(root: Path) -> dict[int, str]:
    """{version: this process's group path} from /proc/self/cgroup (v1: the memory controller's line)."""
    groups: dict[int, str] = {}
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            groups.setdefault(2, path.strip())
        elif "memory" in controllers.split(","):
            groups[1] = path.strip()
    return groups


def _levels(root: Path, mount_root: str, mount_point: str, group: str) -> list[Path]:
    """The group's directory and its parents up to the mount point, innermost first."""
    base = root / mount_point.lstrip("/")
    outside = ".." in group.split("/")  # a group outside our cgroup namespace's view
    group, mount_root = (posixpath.normpath("/" + p.strip("/")) for p in (group, mount_root))
    if outside:
        group = "/"  # the mount is the nearest we can see of our group
    elif mount_root != "/" and (group == mount_root or group.startswith(mount_root + "/")):
        group = group[len(mount_root) :] or "/"
    elif mount_root != "/":
        group = "/"  # the mount shows a group that is not ours by name (namespaced): the mount is our group
    parts = [p for p in group.split("/") if p]
    return [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _level_limit(directory: Path, version: int) -> CgroupLimit | None:
    if version == 2:
        limit, usage = _read_int(directory / "memory.max"), _read_int(directory / "memory.current")
        stat_key = "inactive_file"
    else:
        limit, usage = _read_int(directory / "memory.limit_in_bytes"), _read_int(directory / "memory.usage_in_bytes")
        stat_key = "total_inactive_file"
        if limit is not None and limit >= NO_LIMIT_V1:
            limit = None
    if limit is None or usage is None:
        return None
    inactive = 0
    for line in (_read(directory / "memory.stat") or "").splitlines():
        key, _, value = line.partition(" ")
        if key == stat_key:
            try:
                inactive = min(int(value), usage)
            except ValueError:
                pass
            break
    return CgroupLimit(str(directory), version, limit, usage, inactive)


def cgroup_limit(root: str | Path = "/") -> CgroupLimit | None:
    """The level of this process's memory cgroups (v2 and v1, each group and its parents) that leaves the
    least free memory, or None when no level sets a limit (or nothing can be read)."""
    root = Path(root)
    groups = _own_groups(root)
    tightest: CgroupLimit | None = None
    for version, mount_root, mount_point in _mounts(root):
        if version not in groups:
            continue
        for directory in _levels(root, mount_root, mount_point, groups[version]):
            level = _level_limit(directory, version)
            if level is not None and (tightest is None or level.free < tightest.free):
                tightest = level
    return tightest


def cpu_memory_budget(root: str | Path = "/") -> MemoryBudget | None:
    """What a CPU run may use (see the module docstring); None when neither MemAvailable nor a cgroup
    limit can be read."""
    rss = process_rss(root)
    available = meminfo_available(root)
    meminfo_bytes = available + rss if available is not None else None
    group = cgroup_limit(root)
    # Capped at the limit: our RSS counts file pages (lazily loaded weights) charged to whichever group
    # first read them, so free + RSS can exceed the limit (4.1 GiB "available" in a 4 GiB group).
    candidates = [b for b in (meminfo_bytes, min(group.free + rss, group.limit) if group else None) if b is not None]
    if not candidates:
        return None
    return MemoryBudget(min(candidates), meminfo_bytes, group, rss)
