"""What training reports while it runs: a stream of small frozen events, newest supersedes oldest.

``engine.train.train`` calls ``on_event`` with these (from the training thread, on the main process
only); the CLI prints them and the app turns them into messages. They hold plain numbers and strings
only, so they cross threads and rooms safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .progress import Progress
from .training_samples import SamplesGenerated


@dataclass(frozen=True)
class TrainingStarted:
    """The plan, sent once training is about to take its first step (again after an OOM retry)."""

    total_steps: int  # optimizer steps of the whole run (including steps done before a resume)
    epochs: float
    train_tokens: int  # useful (non-pad) tokens in one pass over the train split
    block_size: int  # tokens per example (packed block, or the cap on one record)
    batch_size: int  # examples per micro-batch per process
    grad_accum: int  # micro-batches per optimizer step
    memory_estimate_bytes: int  # what the run should need on its device, weights + optimizer + activations
    device: str
    dtype: str  # compute precision of training: "bfloat16", "float16" or "float32"
    method: str  # "full", "lora" or "qlora"
    trainable_parameters: int
    total_parameters: int
    resumed_from_step: int  # 0 for a fresh run
    model_description: str
    notice: str | None = None  # one plain line: a fallback model, a memory warning, an OOM retry

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum * self.block_size


@dataclass(frozen=True)
class StepLogged:
    """Every ``logging_steps`` optimizer steps: the mean training loss since the last log."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    lr: float
    tokens_per_s: float  # useful (non-pad) tokens per second since the previous log, all processes
    eta_s: float  # seconds left at the average step time of this session
    mfu: float | None  # model FLOPs utilization (0..1) on a GPU with a known peak, else None


@dataclass(frozen=True)
class Evaluated:
    """Perplexity of the valid split (docs/definitions.md) after ``step`` optimizer steps."""

    step: int
    valid_perplexity: float


@dataclass(frozen=True)
class CheckpointSaved:
    """A complete checkpoint was renamed into place (it survives a kill from now on)."""

    step: int
    path: str
    best: bool  # the lowest valid perplexity so far


# Work before or between steps that takes a while on a CPU (loading the model, encoding the splits,
# evaluating the valid split) is reported with the engine's one progress event.


@dataclass(frozen=True)
class StepHeartbeat:
    """Inside an optimizer step, about every second on slow devices: proof of life and how far it got.

    Sent from the forward and backward passes (module hooks), so a person watching a CPU run whose steps
    take 10 s or more sees the line move, and the ETA is known from the first step on."""

    step: int  # optimizer steps finished so far (the one running is ``step + 1``)
    total_steps: int
    fraction: float  # of the running step, estimated from layers passed (forward ~1/3, backward ~2/3)
    micro_batch: int  # 1-based micro-batch of the running step
    grad_accum: int
    eta_s: float | None  # seconds left for the run at the measured step time (None before any estimate)


@dataclass(frozen=True)
class TrainingFinished:
    """The end: ``completed`` (all steps) or ``stopped`` (cancelled; a checkpoint was kept)."""

    outcome: Literal["completed", "stopped"]
    steps: int
    seconds: float
    valid_perplexity: float | None  # the last evaluation's, None if none ran
    result_dir: str  # final/: the adapter or the full model ("" when nothing was trained)
    run_dir: str
    final_step: int | None = None  # the optimizer step whose weights final/ holds (None when nothing was trained)
    final_is_best: bool = False  # final/ holds the checkpoint with the lowest valid perplexity (evaluation ran)
    final_valid_perplexity: float | None = None  # that step's valid perplexity, when it was evaluated
    stopped_early: str | None = None  # --early-stopping ended a completed run before its last step: why, in one line


TrainEvent = (
    TrainingStarted
    | Progress
    | StepHeartbeat
    | StepLogged
    | Evaluated
    | SamplesGenerated  # engine.training_samples: the fixed prompts' samples at each evaluation
    | CheckpointSaved
    | TrainingFinished
)
