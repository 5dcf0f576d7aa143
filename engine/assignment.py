"""The whole assignment in one resumable pipeline: raw input -> DIR/report.md.

Stages: prepare -> perplexity before -> train -> perplexity after -> compare -> sweeps of temperature,
top-k and top-p -> report. DIR holds data/ (the splits), run/ (the run), report.md and assignment.json
(``engine.stage_record``: each stage's key and wall time).

Never stale, and resumable at any point (Ctrl-C or SIGKILL), because every result is found by what it
depends on:

- prepare is skipped when the input files' bytes and the prepare settings hash to its recorded key;
- train is skipped when the splits' bytes and the training settings hash to its recorded key and run/
  has final/; a killed training resumes from its newest checkpoint; a new key moves the old run aside
  (``run-old-N``, nothing is deleted) and trains again, so every later stage is recomputed;
- perplexities come from the perplexity cache (text + weights), so the base model's figures computed
  before training answer the after stage, and a new adapter is never served an old figure;
- samples come in batches from the sample cache (weights + settings + prompts + seeds): a killed
  compare or sweep continues at the batch it was in, and the base model's samples survive a retrain;
- the report is rebuilt from those caches every time (seconds).

The CLI (``tweetsmith assignment``) and the app call ``run_assignment``; progress is ``PipelineProgress``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from tweetsmith.data.prepare import PrepareConfig, PrepareProgress, prepare
from tweetsmith.data.stats import is_prepare_output

from .errors import EngineError
from .experiments import (
    COMPARE_STRIDE_TOKENS,
    DEFAULT_SWEEP_VALUES,
    Cancelled,
    cached_comparison,
    cached_samples,
    cached_sweep,
    compare_perplexity,
    compare_samples,
    sweep,
)
from .generate import DEFAULT_BATCH_SIZE
from .progress import Progress, format_duration
from .runs import has_final_model
from .sampling import SamplingConfig
from .stage_record import StageRecord, StageTime, content_key
from .train_config import TrainConfig
from .train_events import StepHeartbeat, StepLogged, TrainingFinished, TrainingStarted

SWEEPS = ("temperature", "top_k", "top_p")
STAGES = ("prepare", "perplexity before", "train", "perplexity after", "compare",
          *(f"sweep {p}" for p in SWEEPS), "report")
AFTER_TRAINING = STAGES[STAGES.index("train") + 1:]


@dataclass(frozen=True)
class AssignmentConfig:
    """What ``tweetsmith assignment`` was asked: the prepare and train settings (their ``out``/``data`` are
    set from ``out``), samples per model and sweep point, and the sampling settings."""

    out: str
    prepare: PrepareConfig
    train: TrainConfig
    samples: int = 100
    batch_size: int = DEFAULT_BATCH_SIZE
    sampling: SamplingConfig = SamplingConfig()


@dataclass(frozen=True)
class AssignmentPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def record(self) -> Path:
        return self.root / "assignment.json"

    @property
    def report(self) -> Path:
        return self.root / "report.md"


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


@dataclass(frozen=True)
class AssignmentResult:
    report: Path
    run_dir: Path
    stages: tuple[StageTime, ...]


class TrainingStopped(EngineError):
    """Training was cancelled; its checkpoint is kept and the same command resumes it."""


def run_assignment(config: AssignmentConfig, *, on_progress: Callable[[PipelineProgress], None] | None = None,
                   cancel: threading.Event | None = None) -> AssignmentResult:
    """Run every stage whose result is missing or stale; return the report's path and each stage's time."""
    from .train import quiet_progress_bars

    with quiet_progress_bars():
        return _Pipeline(config, on_progress, cancel).run()


class _Pipeline:
    def __init__(self, config: AssignmentConfig, on_progress, cancel):
        if config.samples < 2:
            raise EngineError(f"--samples must be 2 or more (self-BLEU needs two samples), got {config.samples}")
        self.config = config
        self.paths = AssignmentPaths(Path(config.out).expanduser())
        self.sampling = config.sampling.validated()
        self.on_progress, self.cancel = on_progress, cancel
        self.eta = _Estimates()
        self.loaded: dict = {}

    def run(self) -> AssignmentResult:
        self.record = StageRecord(self.paths.record)
        steps = [
            ("prepare", self.prepare), ("perplexity before", self.perplexity_before), ("train", self.train),
            ("perplexity after", self.perplexity_after), ("compare", self.compare),
            *((f"sweep {p}", lambda p=p: self.sweep(p)) for p in SWEEPS), ("report", self.report),
        ]
        for number, (stage, step) in enumerate(steps, 1):
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("cancelled")
            self.stage, self.number, self.began = stage, number, time.monotonic()
            self.send(stage, 0, None, "")
            key, cached = step()
            seconds = time.monotonic() - self.began
            self.eta.finished(stage, seconds, cached)
            self.record.finished(stage, seconds, key=key or "", cached=cached)
        return AssignmentResult(self.paths.report, self.paths.run, tuple(self.record.stages[s] for s in STAGES))

    # --- progress ---------------------------------------------------------------------------------

    def send(self, detail: str, done: int, total: int | None, unit: str, stage_eta_s: float | None = None) -> None:
        if self.on_progress is None:
            return
        if stage_eta_s is None and total and done:
            elapsed = time.monotonic() - self.began
            stage_eta_s = elapsed * (total - done) / done
        later, complete = self.eta.after(self.stage)
        overall = (stage_eta_s or 0.0) + later
        self.on_progress(PipelineProgress(self.stage, self.number, len(STAGES), detail, done, total, unit,
                                          stage_eta_s, overall, complete and (stage_eta_s is not None or total is None)))

    def engine_progress(self, event: Progress) -> None:
        self.send(event.stage, event.done, event.total, event.unit)

    # --- stages: each returns (its key, whether it was cached) ---------------------------------------

    def prepare(self):
        settings = dataclasses.replace(self.config.prepare, out=str(self.paths.data), force=True)
        inputs = [p for p in settings.inputs if Path(p).is_file()]  # a missing one: prepare names it
        key = content_key({k: v for k, v in dataclasses.asdict(settings).items() if k not in ("out", "force")}, inputs)
        if self.record.key("prepare") == key and is_prepare_output(self.paths.data):
            return key, True

        def progress(event: PrepareProgress) -> None:
            self.send(f"{event.stage} {Path(event.source).name}", event.done, event.total, "bytes")

        prepare(settings, on_progress=progress, cancel=self.cancel)
        return key, False

    def data_files(self) -> list[Path]:
        return [self.paths.data / f"{split}.txt" for split in ("train", "valid", "test")]

    def perplexity_before(self):
        from .models import load_model
        from .perplexity_cache import cached_perplexity_of_file
        from .progress import counting

        train = self.config.train
        base = load_model(train.model, allow_fallback=train.allow_fallback)
        cached = True
        for split in ("valid", "test"):
            _, hit = cached_perplexity_of_file(base, self.paths.data / f"{split}.txt", stride_tokens=COMPARE_STRIDE_TOKENS,
                                               cancel=self.cancel,
                                               on_progress=counting(self.engine_progress, f"base · {split}", "windows"))
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("cancelled")  # a cancelled pass is not cached; this stage runs again
            cached = cached and hit
        return None, cached

    def train(self):
        from .train import train

        settings = dataclasses.replace(self.config.train, data=str(self.paths.data), out=str(self.paths.run), resume=False)
        key = content_key({k: v for k, v in dataclasses.asdict(settings).items() if k not in ("data", "out", "resume")},
                          self.data_files())
        same = self.record.key("train") == key
        if same and has_final_model(self.paths.run):
            return key, True
        from . import checkpoints

        kept = checkpoints.newest(self.paths.run / "checkpoints")
        if same and kept is not None:
            settings = dataclasses.replace(settings, resume=True)
        elif has_final_model(self.paths.run) or kept is not None:
            self._move_old_run()  # trained on other data or settings: kept aside, every later stage recomputed
        if not same:
            self.record.forget(AFTER_TRAINING)
            self.record.started("train", key)  # a kill from here on resumes this training
        finished = train(settings, on_event=self.training_event, cancel=self.cancel)
        if finished.outcome != "completed":
            raise TrainingStopped(f"training stopped at step {finished.steps}; run the same command again to resume it")
        return key, False

    def _move_old_run(self) -> None:
        n = 1
        while (self.paths.root / f"run-old-{n}").exists():
            n += 1
        self.paths.run.rename(self.paths.root / f"run-old-{n}")

    def training_event(self, event) -> None:
        if isinstance(event, Progress):
            self.engine_progress(event)
        elif isinstance(event, TrainingStarted):
            self.send("training", event.resumed_from_step, event.total_steps, "steps")
        elif isinstance(event, (StepLogged, StepHeartbeat)):
            self.send(f"step {event.step}/{event.total_steps}", event.step, event.total_steps, "steps", event.eta_s)
        elif isinstance(event, TrainingFinished):
            self.send("training", event.steps, event.steps, "steps")

    def models(self) -> dict:
        """The run's base and tuned models, loaded once for every stage after training that computes
        something (each load costs seconds; the stages would load them ten times)."""
        from .models import load_run_model

        if not self.loaded:
            self.engine_progress(Progress("loading models", 0, None))
            self.loaded = {side: load_run_model(self.paths.run, tuned=(side == "tuned")) for side in ("base", "tuned")}
        return self.loaded

    def perplexity_after(self):
        cached = cached_comparison(self.paths.run)
        if cached is not None and cached.stride_tokens <= COMPARE_STRIDE_TOKENS and Path(cached.data).resolve() == self.paths.data.resolve():
            return None, True
        compare_perplexity(self.paths.run, stride_tokens=COMPARE_STRIDE_TOKENS, on_progress=self.engine_progress,
                           cancel=self.cancel, **self.models())
        return None, False

    def compare(self):
        cached = cached_samples(self.paths.run)
        if cached is not None and cached.n == self.config.samples and cached.config == self.sampling:
            return None, True
        compare_samples(self.paths.run, n=self.config.samples, config=self.sampling, batch_size=self.config.batch_size,
                        on_progress=self.engine_progress, cancel=self.cancel, **self.models())
        return None, False

    def sweep(self, param: str):
        values = DEFAULT_SWEEP_VALUES[param]
        cached = cached_sweep(self.paths.run, param)
        if (cached is not None and cached.n == self.config.samples and cached.config == self.sampling
                and list(cached.values) == list(values)):
            return None, True
        sweep(self.paths.run, param, values, n=self.config.samples, config=self.sampling,
              batch_size=self.config.batch_size, on_progress=self.engine_progress, cancel=self.cancel, **self.models())
        return None, False

    def report(self):
        from .report import build_report

        self.loaded = {}  # the models are not needed any more

        times = [self.record.stages[s] for s in STAGES if s in self.record.stages]
        build_report(self.paths.run, compute=False, n=self.config.samples, sweeps=SWEEPS, out=self.paths.report,
                     stage_times=times)
        return None, False


class _Estimates:
    """Seconds the stages still to come should take, from what this invocation measured.

    Perplexity after training scores the same splits as before (only the tuned model: the base's
    figures are cached), and each sweep draws 5x the samples of the comparison."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def finished(self, stage: str, seconds: float, cached: bool) -> None:
        if not cached:
            self.seconds[stage] = seconds

    def after(self, stage: str) -> tuple[float, bool]:
        guesses = {"prepare": 0.0, "report": 1.0}
        if "perplexity before" in self.seconds:
            guesses["perplexity after"] = self.seconds["perplexity before"]
        if "compare" in self.seconds:
            for param in SWEEPS:
                guesses[f"sweep {param}"] = 5 * self.seconds["compare"]
        total, complete = 0.0, True
        for later in STAGES[STAGES.index(stage) + 1:]:
            if later in guesses:
                total += guesses[later]
            else:
                complete = False
        return total, complete


def stage_table(stages: Sequence[StageTime]) -> str:
    """The per-stage wall times as the CLI prints them at the end."""
    lines = [f"{'stage':<20} {'time':>10}"]
    for s in stages:
        lines.append(f"{s.stage:<20} {format_duration(s.seconds):>10}{'  (cached)' if s.cached else ''}")
    lines.append(f"{'total':<20} {format_duration(sum(s.seconds for s in stages if not s.cached)):>10}  (computed now)")
    return "\n".join(lines)
