"""The memory a CPU run may use: MemAvailable against the process's memory cgroup (v1 and v2), read from a
fake /proc + /sys tree built here, and the training plan shrinking its batch under a fake 4 GiB limit."""

from __future__ import annotations

from pathlib import Path

from tweetsmith.engine import memory
from tweetsmith.engine.memory_limits import cgroup_limit, cpu_memory_budget
from tweetsmith.engine.train_plan import HEADROOM, MemoryProfile, available_now, plan_training

GIB, MIB = 2**30, 2**20
V1_NO_LIMIT = 9223372036854771712  # what cgroup v1 writes for "no limit" (2^63 rounded down to a page)

V2_MOUNTS = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNTS = (
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_proc(
    root: Path, *, available: int | None = 20 * GIB, rss: int = 0, cgroup: str = "", mountinfo: str = ""
) -> None:
    import os

    page = os.sysconf("SC_PAGE_SIZE")
    if available is not None:
        write(
            root / "proc/meminfo",
            f"MemTotal:       24000000 kB\nMemFree:        1000 kB\nMemAvailable:   {available // 1024} kB\n",
        )
    write(root / "proc/self/statm", f"100000 {rss // page} 5000 100 0 9000 0\n")
    if cgroup:
        write(root / "proc/self/cgroup", cgroup)
    if mountinfo:
        write(root / "proc/self/mountinfo", mountinfo)


def v2_group(root: Path, path: str, *, limit: int | str, current: int, inactive_file: int | None = None) -> Path:
    directory = root / "sys/fs/cgroup" / path.strip("/")
    write(directory / "memory.max", f"{limit}\n")
    write(directory / "memory.current", f"{current}\n")
    if inactive_file is not None:
        write(directory / "memory.stat", f"anon 1000\nfile 2000\nactive_file 10\ninactive_file {inactive_file}\n")
    return directory


def v1_group(root: Path, path: str, *, limit: int, usage: int, inactive_file: int | None = None) -> Path:
    directory = root / "sys/fs/cgroup/memory" / path.strip("/")
    write(directory / "memory.limit_in_bytes", f"{limit}\n")
    write(directory / "memory.usage_in_bytes", f"{usage}\n")
    if inactive_file is not None:
        write(
            directory / "memory.stat", f"cache 5\ninactive_file 1\ntotal_cache 9\ntotal_inactive_file {inactive_file}\n"
        )
    return directory


def test_cgroup_v2_limit_minus_usage(tmp_path):
    fake_proc(tmp_path, rss=500 * MIB, cgroup="0::/job/step\n", mountinfo=V2_MOUNTS)
    v2_group(tmp_path, "job", limit="max", current=3 * GIB)
    v2_group(tmp_path, "job/step", limit=4 * GIB, current=GIB)
    group = cgroup_limit(tmp_path)
    assert group.version == 2 and group.limit == 4 * GIB and group.usage == GIB
    assert Path(group.path) == tmp_path / "sys/fs/cgroup/job/step"
    budget = cpu_memory_budget(tmp_path)
    assert budget.rss == 500 * MIB
    assert budget.bytes == 3 * GIB + 500 * MIB  # limit - usage, plus our RSS (inside the usage)
    assert budget.bound_by_cgroup and budget.bound == "cgroup limit 4.0 GiB"


def test_cgroup_v2_parent_tighter_than_child(tmp_path):
    fake_proc(tmp_path, cgroup="0::/job/step\n", mountinfo=V2_MOUNTS)
    v2_group(tmp_path, "job", limit=6 * GIB, current=5 * GIB)  # 1 GiB left for the whole job
    v2_group(tmp_path, "job/step", limit=4 * GIB, current=GIB)  # 3 GiB left in the step
    group = cgroup_limit(tmp_path)
    assert group.limit == 6 * GIB and Path(group.path) == tmp_path / "sys/fs/cgroup/job"
    assert cpu_memory_budget(tmp_path).bytes == GIB
    assert cpu_memory_budget(tmp_path).bound == "cgroup limit 6.0 GiB"


def test_cgroup_v2_max_everywhere_is_no_limit(tmp_path):
    fake_proc(tmp_path, available=20 * GIB, rss=GIB, cgroup="0::/user.slice/session\n", mountinfo=V2_MOUNTS)
    v2_group(tmp_path, "user.slice", limit="max", current=8 * GIB)
    v2_group(tmp_path, "user.slice/session", limit="max", current=2 * GIB)
    assert cgroup_limit(tmp_path) is None
    budget = cpu_memory_budget(tmp_path)
    assert budget.bytes == 21 * GIB and not budget.bound_by_cgroup and budget.bound is None


def test_cgroup_v2_inactive_page_cache_counts_as_free(tmp_path):
    fake_proc(tmp_path, cgroup="0::/box\n", mountinfo=V2_MOUNTS)
    v2_group(tmp_path, "box", limit=4 * GIB, current=3 * GIB, inactive_file=GIB)
    assert cgroup_limit(tmp_path).free == 2 * GIB


def test_cgroup_v2_namespaced_mount_is_our_group(tmp_path):
    """In a container with its own cgroup namespace /proc/self/cgroup says "0::/" and the mount is the group."""
    fake_proc(tmp_path, cgroup="0::/\n", mountinfo=V2_MOUNTS)
    v2_group(tmp_path, "", limit=2 * GIB, current=GIB // 2)
    assert cpu_memory_budget(tmp_path).bytes == GIB + GIB // 2


def test_cgroup_v1_limit_usage_and_parents(tmp_path):
    cgroup = "9:name=systemd:/\n4:memory:/slurm/job_7/step_0\n1:cpu:/\n0::/\n"
    fake_proc(tmp_path, rss=GIB, cgroup=cgroup, mountinfo=V1_MOUNTS)
    v1_group(tmp_path, "", limit=V1_NO_LIMIT, usage=10 * GIB)
    v1_group(tmp_path, "slurm", limit=V1_NO_LIMIT, usage=9 * GIB)
    v1_group(tmp_path, "slurm/job_7", limit=8 * GIB, usage=5 * GIB, inactive_file=GIB)  # 4 GiB left
    v1_group(tmp_path, "slurm/job_7/step_0", limit=4 * GIB, usage=2 * GIB)  # 2 GiB left: the tightest
    group = cgroup_limit(tmp_path)
    assert group.version == 1 and group.limit == 4 * GIB and group.free == 2 * GIB
    assert cpu_memory_budget(tmp_path).bytes == 3 * GIB

    # The parent becomes the tighter one once the job's other steps use more.
    v1_group(tmp_path, "slurm/job_7", limit=8 * GIB, usage=8 * GIB - GIB // 2, inactive_file=0)
    group = cgroup_limit(tmp_path)
    assert group.limit == 8 * GIB and Path(group.path) == tmp_path / "sys/fs/cgroup/memory/slurm/job_7"
    assert cpu_memory_budget(tmp_path).bytes == GIB + GIB // 2
    assert cpu_memory_budget(tmp_path).bound == "cgroup limit 8.0 GiB"


def test_cgroup_v1_unlimited_and_container_mount_root(tmp_path):
    """A huge limit_in_bytes is no limit; a container's mount shows its own group (root /docker/abc) at the mount point."""
    fake_proc(
        tmp_path,
        cgroup="4:memory:/docker/abc\n",
        available=20 * GIB,
        mountinfo="35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory\n",
    )
    v1_group(tmp_path, "", limit=V1_NO_LIMIT, usage=GIB)
    assert cgroup_limit(tmp_path) is None and cpu_memory_budget(tmp_path).bytes == 20 * GIB
    v1_group(tmp_path, "", limit=3 * GIB, usage=GIB)
    assert cgroup_limit(tmp_path).limit == 3 * GIB and cpu_memory_budget(tmp_path).bytes == 2 * GIB


def test_the_smaller_of_meminfo_and_cgroup(tmp_path):
    fake_proc(tmp_path, available=GIB, rss=GIB, cgroup="0::/box\n", mountinfo=V2_MOUNTS)
    v2_group(tmp_path, "box", limit=16 * GIB, current=2 * GIB)  # 14 GiB by the group, 1 GiB by the host
    budget = cpu_memory_budget(tmp_path)
    assert budget.bytes == 2 * GIB and budget.meminfo_bytes == 2 * GIB and budget.cgroup.free == 14 * GIB
    assert not budget.bound_by_cgroup and budget.bound is None
    assert available_now("cpu", root=tmp_path) == 2 * GIB and available_now("cpu", root=tmp_path).bound is None


def test_no_cgroup_files_falls_back_to_meminfo(tmp_path):
    fake_proc(tmp_path, available=12 * GIB, rss=GIB)  # no /proc/self/cgroup, no mountinfo, no /sys
    assert cgroup_limit(tmp_path) is None
    assert cpu_memory_budget(tmp_path).bytes == 13 * GIB
    # A cgroup file naming a group whose files are missing, and garbage in the files that exist.
    write(tmp_path / "proc/self/cgroup", "0::/gone\nnot a line\n")
    write(tmp_path / "proc/self/mountinfo", V2_MOUNTS + "garbage\n")
    write(tmp_path / "sys/fs/cgroup/memory.max", "lots\n")
    write(tmp_path / "sys/fs/cgroup/memory.current", "\n")
    assert cpu_memory_budget(tmp_path).bytes == 13 * GIB
    # Nothing at all: no number, no exception.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cpu_memory_budget(empty) is None and available_now("cpu", root=empty) is None


def test_cgroup_without_meminfo_still_bounds(tmp_path):
    fake_proc(tmp_path, available=None, cgroup="0::/box\n", mountinfo=V2_MOUNTS)
    v2_group(tmp_path, "box", limit=4 * GIB, current=GIB)
    assert cpu_memory_budget(tmp_path).bytes == 3 * GIB and cpu_memory_budget(tmp_path).bound_by_cgroup


def test_memory_available_bytes_uses_the_same_budget(monkeypatch):
    from tweetsmith.engine import memory_limits

    monkeypatch.setattr(
        memory_limits, "cgroup_limit", lambda root="/": memory_limits.CgroupLimit("/x", 2, 3 * GIB, GIB, 0)
    )
    monkeypatch.setattr(memory_limits, "process_rss", lambda root="/": GIB // 2)
    assert memory.available_bytes("cpu") == available_now("cpu") == 2 * GIB + GIB // 2


def test_the_plan_shrinks_the_batch_under_a_4_gib_cgroup_and_names_it(tmp_path):
    """The default CPU run's measured profile (SmolLM2-135M, LoRA, bf16, 256 tokens) fits a host with 20 GiB
    free as asked, and under a 4 GiB cgroup limit trains with a smaller micro-batch, saying why."""
    profile = MemoryProfile(
        fixed_bytes=1200 * MIB,
        state_bytes=12 * 4_884_480,
        example_bytes=290 * MIB,
        checkpointed_example_bytes=110 * MIB,
        transient_example_bytes=96 * MIB,
        block_size=256,
    )
    shape = dict(
        batch_size=8,
        grad_accum=1,
        block_size=256,
        gradient_checkpointing=False,
        profile_for=lambda block: profile,
        device="cpu",
    )
    assert profile.estimate(8, False) > HEADROOM * 4 * GIB

    fake_proc(tmp_path / "host", available=20 * GIB, rss=1200 * MIB)
    roomy = plan_training(available=available_now("cpu", root=tmp_path / "host"), **shape)
    assert (roomy.batch_size, roomy.grad_accum, roomy.change) == (8, 1, None)

    root = tmp_path / "box"
    fake_proc(root, available=20 * GIB, rss=1200 * MIB, cgroup="4:memory:/ts4g\n", mountinfo=V1_MOUNTS)
    v1_group(root, "", limit=V1_NO_LIMIT, usage=8 * GIB)
    v1_group(root, "ts4g", limit=4 * GIB, usage=1200 * MIB)
    available = available_now("cpu", root=root)
    assert available == 4 * GIB
    plan = plan_training(available=available, **shape)
    assert plan.batch_size < 8 and plan.batch_size * plan.grad_accum == 8 and not plan.gradient_checkpointing
    assert plan.estimate_bytes <= HEADROOM * 4 * GIB < profile.estimate(plan.batch_size * 2, False)
    assert plan.available_bytes == 4 * GIB
    assert "of RAM available (cgroup limit 4.0 GiB)" in plan.change
    assert f"--batch-size {plan.batch_size} --grad-accum {plan.grad_accum}" in plan.change


def test_the_cgroup_bound_is_never_above_its_limit(tmp_path):
    """Our RSS may hold file pages charged to another group (weights read before we moved): never more than the limit."""
    fake_proc(tmp_path, available=20 * GIB, rss=1500 * MIB, cgroup="0::/box\n", mountinfo=V2_MOUNTS)
    v2_group(tmp_path, "box", limit=4 * GIB, current=GIB)
    budget = cpu_memory_budget(tmp_path)
    assert budget.bytes == 4 * GIB and budget.bound == "cgroup limit 4.0 GiB"


def test_the_evaluation_floors_small_micro_batches():
    """An evaluation runs on the heap the steps left plus its own vocab-wide rows: at a small micro-batch that
    is the larger peak; at a large one the steps' vocab-wide gradients are."""
    profile = MemoryProfile(
        fixed_bytes=GIB,
        state_bytes=0,
        example_bytes=100 * MIB,
        checkpointed_example_bytes=20 * MIB,
        transient_example_bytes=100 * MIB,
        block_size=256,
        overhead=1.5,
        eval_bytes=600 * MIB,
    )
    assert profile.estimate(2, False) == GIB + int(1.5 * 200 * MIB) + 600 * MIB  # evaluation: 1.9 GiB
    assert profile.estimate(8, False) == GIB + int(1.5 * 1600 * MIB)  # the steps: 3.3 GiB
    no_eval = MemoryProfile(
        fixed_bytes=GIB,
        state_bytes=0,
        example_bytes=100 * MIB,
        checkpointed_example_bytes=20 * MIB,
        transient_example_bytes=100 * MIB,
        block_size=256,
        overhead=1.5,
    )
    assert no_eval.estimate(2, False) == GIB + int(1.5 * 400 * MIB)
