"""The whole assignment in one resumable pipeline: raw input -> DIR/report.md.

Stages (declared once, in ``assignment_stages.STAGE_TABLE``): prepare -> perplexity before -> train ->
perplexity after -> compare -> sweeps of temperature, top-k and top-p -> (ablation) -> report. DIR holds
data/ (the splits), run/ (the run), report.md and assignment.json (``engine.stage_record``: each stage's key
and wall time).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tweetsmith.data.prepare import PrepareConfig, PrepareProgress, prepare
from tweetsmith.data.split import Split
from tweetsmith.data.stats import is_prepare_output

from .ablation import AblationResult
from .assignment_ablation import ablation_work, run_ablation
from .assignment_paths import AssignmentPaths, check_assignment_out, move_aside
from .assignment_progress import PipelineProgress, StageEstimates, StageProgress
from .assignment_stages import STAGE_TABLE, SWEEPS, Stage, after_training, stage_named, stages_of
from .errors import EngineError
from .experiment_cache import cached_comparison, cached_samples, cached_sweep
from .experiments import DEFAULT_SWEEP_VALUES, Cancelled, compare_samples, sweep
from .generate import DEFAULT_BATCH_SIZE
from .perplexity_comparison import COMPARE_STRIDE_TOKENS, compare_perplexity
from .progress import Progress
from .results import SampleProvenance
from .runs import has_final_model
from .sampling import SamplingConfig
from .stage_record import StageRecord, StageTime, content_key
from .train_config import TrainConfig, default_eval_tokens, training_settings, validate
from .train_events import StepHeartbeat, StepLogged, TrainingFinished, TrainingStarted


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
    # per split and model in the perplexity stages, and in training's evaluations (``train.eval_tokens`` when
    # None; 0: whole splits; both None: default_eval_tokens)
    eval_tokens: int | None = None
    ablation_steps: int = 0  # > 0: train the ablation's short runs for this many steps each


@dataclass(frozen=True)
class AssignmentResult:
    report: Path
    run_dir: Path
    stages: tuple[StageTime, ...]


class TrainingStopped(EngineError):
    """Training was cancelled; its checkpoint is kept and the same command resumes it."""


def run_assignment(
    config: AssignmentConfig,
    *,
    on_progress: Callable[[PipelineProgress], None] | None = None,
    cancel: threading.Event | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> AssignmentResult:
    """Run every stage whose result is missing or stale; return the report's path and each stage's time.

    ``on_notice`` gets each one-line notice once: the embedded model standing in for one that cannot be
    had offline, the memory plan changing the batch, QLoRA on a CPU."""
    from .dir_lock import holding
    from .train import quiet_progress_bars

    pipeline = _Pipeline(config, on_progress, cancel, on_notice)
    check_assignment_out(pipeline.paths)  # before the lock file: a folder that is not ours stays untouched
    with holding(pipeline.paths.root, "assignment"), quiet_progress_bars():
        return pipeline.run()


class _Pipeline:
    table: tuple[Stage, ...] = STAGE_TABLE  # the stages it runs, their order, parts and estimates

    def __init__(self, config: AssignmentConfig, on_progress, cancel, on_notice=None):
        if config.samples < 2:
            raise EngineError(f"--samples must be 2 or more (self-BLEU needs two samples), got {config.samples}")
        if (config.eval_tokens or 0) < 0 or config.ablation_steps < 0:
            raise EngineError("--eval-tokens and --ablation must be 0 or more")
        validate(config.train)  # a bad training flag is refused now, not after the perplexity stage
        asked = config.train.eval_tokens if config.eval_tokens is None else config.eval_tokens
        self.eval_tokens = default_eval_tokens() if asked is None else asked
        # --eval-every N scores the valid split as the perplexity stages do: the same records, the same cap
        self.config = config = dataclasses.replace(
            config, train=dataclasses.replace(config.train, eval_tokens=self.eval_tokens)
        )
        self.stages = stages_of(config.ablation_steps > 0, self.table)
        self.training_label = ""  # "no-pack · " while an ablation run trains
        self.ablation_result: AblationResult | None = None  # the ablation stage's, for the report
        self.paths = AssignmentPaths(Path(config.out).expanduser())
        self.sampling = config.sampling.validated()
        self.cancel = cancel
        self.eta = StageEstimates(self.stages, ablation_work(config.train, config.ablation_steps), self.table)
        self.progress = StageProgress(self.stages, self.table, self.eta, on_progress, on_notice)
        self.resumed_from = 0  # the step the running training resumed at (its steps before are not timed)
        self.loaded: dict = {}

    def run(self) -> AssignmentResult:
        self.record = StageRecord(self.paths.record)
        for number, stage in enumerate(self.stages, 1):
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("cancelled")
            began = time.monotonic()
            self.progress.begin(stage, number, began)
            self.progress.send(stage, 0, None, "")
            key, cached = self.run_stage(stage_named(stage, self.table))
            seconds = time.monotonic() - began
            self.eta.finished(stage, seconds, cached)
            self.record.finished(stage, seconds, key=key or "", cached=cached)
            if stage == "prepare":
                self.check_data()
        return AssignmentResult(self.paths.report, self.paths.run, tuple(self.record.stages[s] for s in self.stages))

    def run_stage(self, stage: Stage) -> tuple[str | None, bool]:
        """Run ``stage`` by the method its row in ``STAGE_TABLE`` names: (its key, whether it was cached)."""
        method = getattr(self, stage.method)
        return method(stage.argument) if stage.argument is not None else method()

    # --- stages: each returns (its key, whether it was cached) ---------------------------------------

    def prepare(self):
        # Not forced: splits in DIR/data that prepare did not write are refused by prepare, never replaced.
        settings = dataclasses.replace(self.config.prepare, out=str(self.paths.data), force=False)
        inputs = [p for p in settings.inputs if Path(p).is_file()]  # a missing one: prepare names it
        key = content_key({k: v for k, v in dataclasses.asdict(settings).items() if k not in ("out", "force")}, inputs)
        if self.record.key("prepare") == key and is_prepare_output(self.paths.data):
            return key, True

        def progress(event: PrepareProgress) -> None:
            self.progress.send(f"{event.stage} {Path(event.source).name}", event.done, event.total, "bytes")

        prepare(settings, on_progress=progress, cancel=self.cancel, on_notice=self.progress.say)
        return key, False

    def check_data(self) -> None:
        """What the stages after training need of the splits, checked before the first expensive stage:
        compare, the sweeps and the report prompt the models with authors drawn from train.txt."""
        from .experiments import authors_from_split

        authors_from_split(self.paths.splits.train, 1)

    def data_files(self) -> list[Path]:
        splits = self.paths.splits
        return [splits.train, splits.valid, splits.test]

    def perplexity_before(self):
        from .models import load_model
        from .perplexity_cache import cached_perplexity_of_file
        from .progress import counting

        train = self.config.train
        base = load_model(train.model, allow_fallback=train.allow_fallback, precision=train.precision)
        self.progress.say(base.info.notice)
        self.progress.say(base.info.precision_notice)
        cached = True
        # windowed (the assignment's figure) and per record (what the chat faces), for valid and test
        passes: tuple[tuple[Split, str], ...] = (
            ("valid", "windowed"),
            ("valid", "record"),
            ("test", "windowed"),
            ("test", "record"),
        )
        for split, context in passes:
            began = time.monotonic()
            label = f"base · {split}" + (" · per record" if context == "record" else "")
            result, hit = cached_perplexity_of_file(
                base,
                self.paths.splits.path(split),
                stride_tokens=COMPARE_STRIDE_TOKENS,
                max_tokens=self.eval_tokens,
                cancel=self.cancel,
                context=context,
                on_progress=counting(self.progress.engine_progress, label, "windows"),
            )
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("cancelled")  # a cancelled pass is not cached; this stage runs again
            if not hit:
                self.eta.scored(result.tokens, time.monotonic() - began)
            cached = cached and hit
        return None, cached

    def train(self):
        return self.train_run("train", self.config.train, self.paths.run, forget=after_training(self.table))

    def train_key(self, settings: TrainConfig) -> str:
        """What a training's result depends on: the splits' bytes and every setting but where things go."""
        return content_key(training_settings(settings), self.data_files())

    def train_run(self, stage: str, config: TrainConfig, run_dir: Path, forget: Sequence[str] = ()) -> tuple[str, bool]:
        """Train ``config`` into ``run_dir`` unless the record says it is done for the same key; a killed
        training resumes from its checkpoint; a run for another key is moved aside (``<run>-old-N``) and
        the stages in ``forget`` are computed again."""
        from . import checkpoints
        from .train import train

        settings = dataclasses.replace(config, data=str(self.paths.data), out=str(run_dir), resume=False)
        key = self.train_key(settings)
        same = self.record.key(stage) == key
        if same and has_final_model(run_dir):
            return key, True
        kept = checkpoints.newest(run_dir / "checkpoints")
        if same and kept is not None:
            settings = dataclasses.replace(settings, resume=True)
        elif has_final_model(run_dir) or kept is not None:
            move_aside(run_dir)  # trained on other data or settings: kept, and what came from it recomputed
        if not same:
            self.record.forget(forget)
            self.record.started(stage, key)  # a kill from here on resumes this training
        began, self.resumed_from = time.monotonic(), 0
        finished = train(settings, on_event=self.training_event, cancel=self.cancel)
        if finished.steps > self.resumed_from:
            self.eta.trained(finished.steps - self.resumed_from, time.monotonic() - began)
        if finished.outcome != "completed":
            raise TrainingStopped(f"training stopped at step {finished.steps}; run the same command again to resume it")
        return key, False

    def training_event(self, event) -> None:
        if isinstance(event, Progress):
            self.progress.engine_progress(event)
        elif isinstance(event, TrainingStarted):
            self.resumed_from = event.resumed_from_step
            self.progress.say(event.notice)
            self.progress.send("training", event.resumed_from_step, event.total_steps, "steps")
        elif isinstance(event, (StepLogged, StepHeartbeat)):
            self.progress.send(
                f"{self.training_label}step {event.step}/{event.total_steps}",
                event.step,
                event.total_steps,
                "steps",
                event.eta_s,
            )
        elif isinstance(event, TrainingFinished):
            self.progress.send("training", event.steps, event.steps, "steps")

    def models(self) -> dict:
        """The run's base and tuned models, loaded once for every stage after training that computes
        something (each load costs seconds; the stages would load them ten times)."""
        from .models import load_run_model

        if not self.loaded:
            self.progress.engine_progress(Progress("loading models", 0, None))
            self.loaded = {
                side: load_run_model(self.paths.run, tuned=(side == "tuned"), precision=self.config.train.precision)
                for side in ("base", "tuned")
            }
            self.progress.say(self.loaded["base"].info.precision_notice)
        return self.loaded

    def precision_key(self) -> str:
        """The stages after training keep the precision asked for in their key, so a result of another
        precision is computed again, never reused ("" for fp32: the records of earlier versions hold)."""
        precision = self.config.train.precision
        return "" if precision == "fp32" else f"precision={precision}"

    def perplexity_after(self):
        key = self.precision_key()
        cached = cached_comparison(self.paths.run)
        if (
            cached is not None
            and self.record.key("perplexity after") == key
            and cached.stride_tokens <= COMPARE_STRIDE_TOKENS
            and cached.max_tokens in (0, self.eval_tokens)  # whole splits answer any cap
            and Path(cached.data).resolve() == self.paths.data.resolve()
        ):
            return key, True
        compare_perplexity(
            self.paths.run,
            stride_tokens=COMPARE_STRIDE_TOKENS,
            max_tokens=self.eval_tokens,
            on_progress=self.progress.engine_progress,
            cancel=self.cancel,
            **self.models(),
        )
        return key, False

    def fresh_samples(self, stage: str, cached: SampleProvenance | None, key: str) -> bool:
        """Whether a sample stage's cached result (compare.json, a sweep-*.json) answers it: computed under
        this stage's key (the precision), with the samples and sampling settings asked for."""
        return (
            cached is not None
            and self.record.key(stage) == key
            and cached.n == self.config.samples
            and cached.config == self.sampling
        )

    def sample_arguments(self) -> dict:
        """How the sample stages draw: the samples, settings and batch size asked for, with the loaded models."""
        return {
            "n": self.config.samples,
            "config": self.sampling,
            "batch_size": self.config.batch_size,
            "on_progress": self.progress.engine_progress,
            "cancel": self.cancel,
            **self.models(),
        }

    def compare(self):
        key = self.precision_key()
        if self.fresh_samples("compare", cached_samples(self.paths.run), key):
            return key, True
        compare_samples(self.paths.run, **self.sample_arguments())
        return key, False

    def sweep(self, param: str):
        key = self.precision_key()
        values = DEFAULT_SWEEP_VALUES[param]
        cached = cached_sweep(self.paths.run, param)
        if (
            cached is not None
            and list(cached.values) == list(values)
            and self.fresh_samples(f"sweep {param}", cached, key)
        ):
            return key, True
        sweep(self.paths.run, param, values, **self.sample_arguments())
        return key, False

    def ablation(self):
        """The ablation stage (``assignment_ablation``): its result goes into the report."""
        self.loaded = {}  # the main run's models are not needed any more
        self.ablation_result, cached = run_ablation(self)
        return None, cached

    def report(self):
        from .report import build_report

        self.loaded = {}  # the models are not needed any more

        times = [self.record.stages[s] for s in self.stages if s in self.record.stages]
        build_report(
            self.paths.run,
            compute=False,
            n=self.config.samples,
            sweeps=SWEEPS,
            out=self.paths.report,
            stage_times=times,
            ablation=self.ablation_result,
            ablation_hint=self.config.ablation_steps == 0,
        )
        return None, False
