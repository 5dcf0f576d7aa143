"""What the assignment's pipeline tells while it runs: ``PipelineProgress`` events (sent by
``StageProgress``, which also passes each notice on once), the ETA of the stages still to come
(``StageEstimates``, from what this invocation measured and the stage table's guesses) and the table of
stage times printed at the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .ablation import ABLATION_EVAL_TOKENS
from .assignment_stages import STAGE_TABLE, STAGES, Stage, stage_named
from .progress import Progress, format_duration
from .stage_record import StageTime


@dataclass(frozen=True)
class PipelineProgress:
    """Where the pipeline is: stage ``number`` of ``stages``, its own progress and the ETAs.

    ``overall_eta_s`` counts only stages with an estimate; ``eta_complete`` is False while some later
    stage has none yet (the ETA is then a lower bound, shown as such)."""

    stage: str
    number: int
    stages: int
    detail: str
    done: int
    total: int | None
    unit: str
    stage_eta_s: float | None
    overall_eta_s: float | None
    eta_complete: bool

    def summary(self) -> str:
        """``tuned samples · 40/100 samples · stage 1m10s · all ≈ 12m`` (``≥``: a later stage has no estimate yet)."""
        parts = [self.detail]
        if self.total:
            parts.append(f"{self.done:,}/{self.total:,} {self.unit}".rstrip())
        if self.stage_eta_s is not None:
            parts.append(f"stage {format_duration(self.stage_eta_s)}")
        if self.overall_eta_s is not None:
            parts.append(f"all {'≈' if self.eta_complete else '≥'} {format_duration(self.overall_eta_s)}")
        return " · ".join(p for p in parts if p)


class StageEstimates:
    """Seconds the stages still to come should take, from what this invocation measured and what each
    stage's row in the table says (``Stage.known_s``, ``like`` and ``times``). The ablation
    (``ablation_work``: its optimizer steps to train and valid passes to score) takes the seconds a
    step took in this invocation's last training and the seconds a token took to score before training."""

    def __init__(
        self,
        stages: Sequence[str] = STAGES,
        ablation_work: tuple[int, int] = (0, 0),
        table: tuple[Stage, ...] = STAGE_TABLE,
    ):
        self.stages = tuple(stages)
        self.table = table
        self.ablation_work = ablation_work
        self.seconds: dict[str, float] = {}
        self.step_s: float | None = None
        self.token_s: float | None = None

    def finished(self, stage: str, seconds: float, cached: bool) -> None:
        if not cached:
            self.seconds[stage] = seconds

    def trained(self, steps: int, seconds: float) -> None:
        self.step_s = seconds / steps

    def scored(self, tokens: int, seconds: float) -> None:
        if tokens > 0:
            self.token_s = seconds / tokens

    def ablation(self, steps: int, scorings: int) -> float | None:
        """Seconds to train ``steps`` optimizer steps and score ``scorings`` ablation rows (None: not measured)."""
        if (steps and self.step_s is None) or (scorings and self.token_s is None):
            return None
        # a row is scored twice (windowed, then each record alone) over the same tokens
        return steps * (self.step_s or 0.0) + scorings * 2 * ABLATION_EVAL_TOKENS * (self.token_s or 0.0)

    def after(self, stage: str) -> tuple[float, bool]:
        """Seconds the stages after ``stage`` should take, and whether every one of them has an estimate."""
        total, complete = 0.0, True
        for later in self.stages[self.stages.index(stage) + 1 :]:
            guess = self.guess(stage_named(later, self.table))
            if guess is None:
                complete = False
            else:
                total += guess
        return total, complete

    def guess(self, stage: Stage) -> float | None:
        """How long ``stage`` should take, as its row in ``STAGE_TABLE`` says (None: no estimate yet)."""
        if stage.known_s is not None:
            return stage.known_s
        if stage.like is not None:
            return stage.times * self.seconds[stage.like] if stage.like in self.seconds else None
        if stage.ablation_only:
            return self.ablation(*self.ablation_work)
        return None


class StageProgress:
    """The running stage's ``PipelineProgress`` events, and each notice passed on once.

    The stage's ETA is its running part's pace (a stage scores or draws in ``Stage.parts`` parts of one
    size, each with its own counter) times what is left of it, plus the parts still to come; the overall
    ETA adds ``StageEstimates.after``. ``begin`` starts each stage."""

    def __init__(
        self,
        stages: Sequence[str],
        table: tuple[Stage, ...],
        eta: StageEstimates,
        on_progress: Callable[[PipelineProgress], None] | None,
        on_notice: Callable[[str], None] | None = None,
    ):
        self.stages, self.table, self.eta = tuple(stages), table, eta
        self.on_progress, self.on_notice = on_progress, on_notice
        self.said: list[str] = []  # notices already passed on
        self.ablation_rest_s: float | None = None  # the ablation's parts after the running one, once estimable
        self.begin("", 0, time.monotonic())

    def begin(self, stage: str, number: int, now: float) -> None:
        """Stage ``number`` (from 1) begins at ``now`` (``time.monotonic``), in its first part."""
        self.stage, self.number = stage, number
        self.part_done, self.part_began, self.last_sent, self.parts_seen = 0, now, now, 1

    def send(self, detail: str, done: int, total: int | None, unit: str, stage_eta_s: float | None = None) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if done < self.part_done:  # a new part of the stage (valid, then test): it began at the last event
            self.part_began = self.last_sent
            self.parts_seen += 1
        self.part_done, self.last_sent = done, now
        part_s = None  # the running part's whole duration at its pace so far
        if total and done:
            part_s = (now - self.part_began) * total / done
            if stage_eta_s is None:
                stage_eta_s = part_s * (total - done) / total
        rest = self.rest_of_stage(part_s)
        if stage_eta_s is not None and rest is not None:
            stage_eta_s += rest
        later, complete = self.eta.after(self.stage)
        overall = (stage_eta_s or 0.0) + later
        known = (stage_eta_s is not None or total is None) and rest is not None
        self.on_progress(
            PipelineProgress(
                self.stage,
                self.number,
                len(self.stages),
                detail,
                done,
                total,
                unit,
                stage_eta_s,
                overall,
                complete and known,
            )
        )

    def rest_of_stage(self, part_s: float | None) -> float | None:
        """Seconds of the running stage's parts after this one (None: not known yet)."""
        if self.stage == "ablation":
            return self.ablation_rest_s
        left = stage_named(self.stage, self.table).parts - self.parts_seen
        if left <= 0:
            return 0.0
        return None if part_s is None else left * part_s

    def say(self, notice: str | None) -> None:
        """Pass a notice on once: training repeats the model's fallback notice, joined to its own by "; "."""
        for said in self.said:
            notice = (notice or "").replace(f"{said}; ", "").replace(said, "")
        if notice and self.on_notice is not None:
            self.said.append(notice)
            self.on_notice(notice)

    def engine_progress(self, event: Progress) -> None:
        """An engine function's own progress, shown as the running stage's."""
        self.send(event.stage, event.done, event.total, event.unit)


def stage_table(stages: Sequence[StageTime]) -> str:
    """The per-stage wall times as the CLI prints them at the end."""
    lines = [f"{'stage':<20} {'time':>10}"]
    for s in stages:
        lines.append(f"{s.stage:<20} {format_duration(s.seconds):>10}{'  (cached)' if s.cached else ''}")
    lines.append(f"{'total':<20} {format_duration(sum(s.seconds for s in stages if not s.cached)):>10}  (computed now)")
    return "\n".join(lines)
