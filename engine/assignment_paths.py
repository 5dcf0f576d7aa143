"""The assignment's folder: where each of its results lies (``AssignmentPaths``, the only place that joins
that layout) and what may be in it (``check_assignment_out``); a run trained for other settings is moved
aside, never deleted (``move_aside``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tweetsmith.data.split import SplitDir

from .errors import EngineError


@dataclass(frozen=True)
class AssignmentPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def splits(self) -> SplitDir:
        return SplitDir(self.data)

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def record(self) -> Path:
        return self.root / "assignment.json"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def ablation(self) -> Path:
        return self.root / "ablation"


def check_assignment_out(paths: AssignmentPaths) -> None:
    """Refuse, with one line and nothing changed, an ``--out`` that holds anything the assignment did not
    write (it would add its splits and runs beside, or over, someone else's files)."""
    from .dir_lock import LOCK_FILE

    root = paths.root
    if not root.exists():
        return
    if not root.is_dir():
        raise EngineError(f"--out {root} is a file, not a directory; choose a new directory for the assignment")
    own = {paths.data.name, paths.run.name, paths.ablation.name, paths.record.name, paths.report.name, LOCK_FILE}
    foreign = sorted(
        p.name for p in root.iterdir() if p.name not in own and not p.name.startswith(f"{paths.run.name}-old-")
    )
    if foreign:
        shown = ", ".join(foreign[:4]) + (", ..." if len(foreign) > 4 else "")
        raise EngineError(
            f"--out {root} holds files the assignment did not write ({shown}); give a new or empty directory"
        )


def move_aside(run_dir: Path) -> None:
    """``run`` -> ``run-old-N`` (the first free N): nothing trained is deleted."""
    n = 1
    while run_dir.with_name(f"{run_dir.name}-old-{n}").exists():
        n += 1
    run_dir.rename(run_dir.with_name(f"{run_dir.name}-old-{n}"))
