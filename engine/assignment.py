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
from tweetsmith.data.stats import is_prepare_output

from .ablation import ABLATION_EVAL_TOKENS, variants
from .assignment_paths import AssignmentPaths, check_assignment_out, move_aside
from .assignment_progress import PipelineProgress, StageEstimates
from .assignment_stages import STAGE_TABLE, SWEEPS, Stage, after_training, stage_named, stages_of
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
from .progress import Progress
from .runs import has_final_model
from .sampling import SamplingConfig
from .stage_record import StageRecord, StageTime, content_key
from .train_config import TrainConfig, validate
from .train_events import StepHeartbeat, StepLogged, TrainingFinished, TrainingStarted

EVAL_TOKENS_CPU = 50_000  # perplexity stages on a CPU: each split's leading records within this many tokens


def default_eval_tokens() -> int:
    """0 (whole splits) on a GPU, where they take seconds; on a CPU a split's leading 50,000 tokens (~8 min a
    split and model on 2 cores: the assignment's valid and test splits are 93k tokens each)."""
    from .device import pick_device

    return 0 if pick_device().device.startswith("cuda") else EVAL_TOKENS_CPU


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
    eval_tokens: int | None = None  # per split and model in the perplexity stages (0: whole; None: default_eval_tokens)
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
        self.config = config
        self.eval_tokens = default_eval_tokens() if config.eval_tokens is None else config.eval_tokens
        self.stages = stages_of(config.ablation_steps > 0, self.table)
        self.training_label = ""  # "no-pack · " while an ablation run trains
        self.ablation_result = None
        self.paths = AssignmentPaths(Path(config.out).expanduser())
        self.sampling = config.sampling.validated()
        self.on_progress, self.cancel, self.on_notice = on_progress, cancel, on_notice
        self.said: list[str] = []  # notices already passed on
        self.eta = StageEstimates(self.stages, self.ablation_work(), self.table)
        self.ablation_rest_s: float | None = None  # the ablation's parts after the running one, once estimable
        self.resumed_from = 0  # the step the running training resumed at (its steps before are not timed)
        self.loaded: dict = {}

    def run(self) -> AssignmentResult:
        self.record = StageRecord(self.paths.record)
        for number, stage in enumerate(self.stages, 1):
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("cancelled")
            self.stage, self.number, self.began = stage, number, time.monotonic()
            self.part_done, self.part_began, self.last_sent, self.parts_seen = 0, self.began, self.began, 1
            self.send(stage, 0, None, "")
            key, cached = self.run_stage(stage_named(stage, self.table))
            seconds = time.monotonic() - self.began
            self.eta.finished(stage, seconds, cached)
            self.record.finished(stage, seconds, key=key or "", cached=cached)
            if stage == "prepare":
                self.check_data()
        return AssignmentResult(self.paths.report, self.paths.run, tuple(self.record.stages[s] for s in self.stages))

    def run_stage(self, stage: Stage) -> tuple[str | None, bool]:
        """Run ``stage`` by the method its row in ``STAGE_TABLE`` names: (its key, whether it was cached)."""
        method = getattr(self, stage.method)
        return method(stage.argument) if stage.argument is not None else method()

    # --- progress ---------------------------------------------------------------------------------

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
        self.send(event.stage, event.done, event.total, event.unit)

    # --- stages: each returns (its key, whether it was cached) ---------------------------------------

    def prepare(self):
        # Not forced: splits in DIR/data that prepare did not write are refused by prepare, never replaced.
        settings = dataclasses.replace(self.config.prepare, out=str(self.paths.data), force=False)
        inputs = [p for p in settings.inputs if Path(p).is_file()]  # a missing one: prepare names it
        key = content_key({k: v for k, v in dataclasses.asdict(settings).items() if k not in ("out", "force")}, inputs)
        if self.record.key("prepare") == key and is_prepare_output(self.paths.data):
            return key, True

        def progress(event: PrepareProgress) -> None:
            self.send(f"{event.stage} {Path(event.source).name}", event.done, event.total, "bytes")

        prepare(settings, on_progress=progress, cancel=self.cancel, on_notice=self.say)
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
        self.say(base.info.notice)
        self.say(base.info.precision_notice)
        cached = True
        # windowed (the assignment's figure) and per record (what the chat faces), for valid and test
        for split, context in (("valid", "windowed"), ("valid", "record"), ("test", "windowed"), ("test", "record")):
            began = time.monotonic()
            label = f"base · {split}" + (" · per record" if context == "record" else "")
            result, hit = cached_perplexity_of_file(
                base,
                self.paths.splits.path(split),
                stride_tokens=COMPARE_STRIDE_TOKENS,
                max_tokens=self.eval_tokens,
                cancel=self.cancel,
                context=context,
                on_progress=counting(self.engine_progress, label, "windows"),
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
        return content_key(_training_settings(settings), self.data_files())

    def ablation_work(self) -> tuple[int, int]:
        """(optimizer steps to train, valid passes to score) in the ablation stage: every variant but the
        one the main run already is, then every variant's row and the untuned model's."""
        if self.config.ablation_steps <= 0:
            return 0, 0
        rows = variants(self.config.train, self.config.ablation_steps)
        main = _training_settings(self.config.train)
        trained = [v for v in rows if _training_settings(v.config) != main]
        return len(trained) * self.config.ablation_steps, len(rows) + 1

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
            self.engine_progress(event)
        elif isinstance(event, TrainingStarted):
            self.resumed_from = event.resumed_from_step
            self.say(event.notice)
            self.send("training", event.resumed_from_step, event.total_steps, "steps")
        elif isinstance(event, (StepLogged, StepHeartbeat)):
            self.send(
                f"{self.training_label}step {event.step}/{event.total_steps}",
                event.step,
                event.total_steps,
                "steps",
                event.eta_s,
            )
        elif isinstance(event, TrainingFinished):
            self.send("training", event.steps, event.steps, "steps")

    def models(self) -> dict:
        """The run's base and tuned models, loaded once for every stage after training that computes
        something (each load costs seconds; the stages would load them ten times)."""
        from .models import load_run_model

        if not self.loaded:
            self.engine_progress(Progress("loading models", 0, None))
            self.loaded = {
                side: load_run_model(self.paths.run, tuned=(side == "tuned"), precision=self.config.train.precision)
                for side in ("base", "tuned")
            }
            self.say(self.loaded["base"].info.precision_notice)
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
            on_progress=self.engine_progress,
            cancel=self.cancel,
            **self.models(),
        )
        return key, False

    def compare(self):
        key = self.precision_key()
        cached = cached_samples(self.paths.run)
        if (
            cached is not None
            and self.record.key("compare") == key
            and cached.n == self.config.samples
            and cached.config == self.sampling
        ):
            return key, True
        compare_samples(
            self.paths.run,
            n=self.config.samples,
            config=self.sampling,
            batch_size=self.config.batch_size,
            on_progress=self.engine_progress,
            cancel=self.cancel,
            **self.models(),
        )
        return key, False

    def sweep(self, param: str):
        key = self.precision_key()
        values = DEFAULT_SWEEP_VALUES[param]
        cached = cached_sweep(self.paths.run, param)
        if (
            cached is not None
            and self.record.key(f"sweep {param}") == key
            and cached.n == self.config.samples
            and cached.config == self.sampling
            and list(cached.values) == list(values)
        ):
            return key, True
        sweep(
            self.paths.run,
            param,
            values,
            n=self.config.samples,
            config=self.sampling,
            batch_size=self.config.batch_size,
            on_progress=self.engine_progress,
            cancel=self.cancel,
            **self.models(),
        )
        return key, False

    def ablation(self):
        """Train each variant (the baseline is the main run itself when it has the same settings), score
        all on the same valid records, write DIR/ablation/ablation.json."""
        from .ablation import ABLATION_SAMPLES, AblationResult, AblationRow, count_sample_problems, median_tokens_per_s
        from .models import load_model, load_run_model
        from .perplexity_cache import cached_perplexity_of_file
        from .progress import counting
        from .runs import read_metrics, write_json_atomic

        self.loaded = {}  # the main run's models are not needed any more
        valid = self.paths.splits.valid
        main_key, rows, cached = self.record.key("train"), [], True

        def score(loaded, label: str):
            """(windowed, each record alone, all cached?) on the same leading valid records."""
            results = []
            for context, unit in (("windowed", "windows"), ("record", "records")):
                result, hit = cached_perplexity_of_file(
                    loaded,
                    valid,
                    stride_tokens=COMPARE_STRIDE_TOKENS,
                    max_tokens=ABLATION_EVAL_TOKENS,
                    context=context,
                    cancel=self.cancel,
                    on_progress=counting(self.engine_progress, f"{label} · valid {context}", unit),
                )
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled("cancelled")
                results.append((result, hit))
            return results[0][0], results[1][0], results[0][1] and results[1][1]

        steps_left, scorings_left = self.ablation_work()
        for variant in variants(self.config.train, self.config.ablation_steps):
            stage = f"ablation {variant.name}"
            run_dir = self.paths.ablation / variant.name
            self.training_label = f"{variant.name} · "
            if self.train_key(dataclasses.replace(variant.config, data=str(self.paths.data))) == main_key:
                run_dir, seconds = self.paths.run, self.record.stages["train"].seconds  # the main run is this variant
            else:
                steps_left -= self.config.ablation_steps
                self.ablation_rest_s = self.eta.ablation(steps_left, scorings_left)
                began = time.monotonic()
                key, hit = self.train_run(stage, variant.config, run_dir)
                entry = self.record.finished(stage, time.monotonic() - began, key=key, cached=hit)
                seconds, cached = entry.seconds, cached and hit
            scorings_left -= 1
            self.ablation_rest_s = self.eta.ablation(steps_left, scorings_left)
            self.engine_progress(Progress(f"loading {variant.name}", 0, None))
            tuned = load_run_model(run_dir, tuned=True, precision=self.config.train.precision)
            result, record, hit = score(tuned, variant.name)
            self.engine_progress(Progress(f"{variant.name} · {ABLATION_SAMPLES} samples", 0, None))
            drawn, with_problem = count_sample_problems(tuned, self.paths.data, self.sampling, cancel=self.cancel)
            cached = cached and hit
            rows.append(
                AblationRow(
                    variant.name,
                    variant.change,
                    result.perplexity,
                    median_tokens_per_s(read_metrics(run_dir)),
                    seconds,
                    record_perplexity=record.perplexity,
                    samples=drawn,
                    with_problem=with_problem,
                )
            )
        self.training_label, self.ablation_rest_s = "", 0.0
        base, base_record, hit = score(
            load_model(
                self.config.train.model,
                allow_fallback=self.config.train.allow_fallback,
                precision=self.config.train.precision,
            ),
            "untuned",
        )
        ablation = AblationResult(
            steps=self.config.ablation_steps,
            seed=self.config.train.seed,
            records=base.records,
            tokens=base.tokens,
            base_perplexity=base.perplexity,
            rows=tuple(rows),
            base_record_perplexity=base_record.perplexity,
        )
        write_json_atomic(self.paths.ablation / "ablation.json", ablation.to_json())
        self.ablation_result = ablation
        return None, cached and hit

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


def _training_settings(config: TrainConfig) -> dict:
    """Every training setting but where things go: two configs with the same settings train the same model."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in ("data", "out", "resume")}
