"""Fine-tuning: full, LoRA or QLoRA, on ``transformers.Trainer``, reporting progress as events.

One entry point for the CLI and the app: ``train(TrainConfig(...), on_event=..., cancel=...)``. It never
prints. The run directory (``engine.runs.RunPaths``) gets config.json (everything to reproduce the run),
metrics.jsonl, checkpoints/ (atomic, newest K plus best, resumable exactly) and final/ (the adapter or
the full model, or with ``merge`` the merged model). The same call trains with DDP when started under
``torchrun``/``accelerate launch``; only the main process writes files and sends events.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import option
from .errors import ConfigError, TrainingError
from .runs import RunPaths, read_run_config
from .train_events import TrainEvent, TrainingFinished

DEFAULT_LR = {"full": 5e-5, "lora": 3e-4, "qlora": 3e-4}
MAX_DEFAULT_BLOCK = 1024


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; the CLI's flags and the app's form are built from these fields."""

    data: str = option("", "data directory holding train.txt and valid.txt in line format (from `tweetsmith prepare`)")
    model: str = option("gpt2-medium", "base model: hub id, local HF directory, .gguf file or smollm2-135m")
    out: str = option("runs/default", "run directory for config, metrics, checkpoints and the final model")
    lora: bool = option(False, "train LoRA adapters instead of all weights")
    lora_r: int = option(8, "LoRA rank")
    lora_alpha: int = option(16, "LoRA alpha (the update is scaled by alpha / rank)")
    lora_dropout: float = option(0.05, "dropout on the LoRA path")
    quantize: str | None = option(None, "load the base model in 4-bit (NF4) or 8-bit and train LoRA on it (QLoRA)", choices=("4bit", "8bit"))
    epochs: float = option(1.0, "passes over the train split (ignored when --max-steps is set)")
    max_steps: int = option(0, "optimizer steps to train (0: use --epochs)")
    lr: float | None = option(None, "peak learning rate; None: 5e-5 full, 3e-4 LoRA/QLoRA")
    lr_scheduler: str = option("cosine", "learning-rate schedule after warmup", choices=("cosine", "linear", "constant_with_warmup"))
    warmup: float = option(0.03, "warmup: a fraction of the steps (< 1) or a number of steps")
    batch_size: int = option(8, "examples per micro-batch per process")
    grad_accum: int = option(1, "micro-batches per optimizer step (effective batch = batch x accum x processes)")
    block_size: int = option(0, "tokens per example (0: min(1024, model context))")
    pack: bool = option(True, "pack records into full blocks (--no-pack: one padded record per example)")
    eval_every: int = option(200, "evaluate valid perplexity every N steps and at the end (0: never)")
    save_every: int = option(200, "save a checkpoint every N steps and at the end (0: only the best and on stop)")
    keep_checkpoints: int = option(2, "keep the newest K checkpoints (plus the best)")
    seed: int = option(42, "random seed (data order, LoRA init, dropout)")
    resume: bool = option(False, "continue from the newest complete checkpoint in --out")
    merge: bool = option(False, "save the LoRA adapter merged into the base as a full model")
    precision: str = option("auto", "compute precision (auto: bf16 on GPUs and bf16-capable CPUs, else fp16/fp32)", choices=("auto", "bf16", "fp16", "fp32"))
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass (less memory, ~30% slower)")
    compile: bool = option(False, "torch.compile the model (faster steps on GPU after a warm-up)")
    logging_steps: int = option(10, "log loss and tokens/s every N steps")
    allow_fallback: bool = option(True, "fall back to the embedded model when the hub model is unavailable", flag="--fallback")

    @property
    def method(self) -> str:
        return "qlora" if self.quantize else "lora" if self.lora else "full"

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]


def validate(config: TrainConfig) -> None:
    """Refuse absurd parameters with one line naming the flag."""
    checks = [
        (config.lr is None or config.lr > 0, f"--lr must be positive, got {config.lr}"),
        (config.batch_size > 0, f"--batch-size must be at least 1, got {config.batch_size}"),
        (config.grad_accum > 0, f"--grad-accum must be at least 1, got {config.grad_accum}"),
        (config.max_steps >= 0, f"--max-steps must be 0 (use --epochs) or positive, got {config.max_steps}"),
        (config.max_steps > 0 or config.epochs > 0, f"--epochs must be positive, got {config.epochs}"),
        (config.block_size >= 0, f"--block-size must be 0 (automatic) or positive, got {config.block_size}"),
        (min(config.eval_every, config.save_every) >= 0, "--eval-every and --save-every must be 0 or positive"),
        (config.keep_checkpoints >= 1, f"--keep-checkpoints must be at least 1, got {config.keep_checkpoints}"),
        (config.logging_steps >= 1, f"--logging-steps must be at least 1, got {config.logging_steps}"),
        (config.warmup >= 0, f"--warmup must be 0 or positive, got {config.warmup}"),
        (config.quantize in (None, "4bit", "8bit"), f"--quantize must be 4bit or 8bit, got {config.quantize!r}"),
    ]
    if config.method != "full":
        checks += [
            (config.lora_r > 0, f"--lora-r must be a positive rank, got {config.lora_r}"),
            (config.lora_alpha > 0, f"--lora-alpha must be positive, got {config.lora_alpha}"),
            (0 <= config.lora_dropout < 1, f"--lora-dropout must be in [0, 1), got {config.lora_dropout}"),
        ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if config.merge and config.method == "full":
        raise ConfigError("--merge applies to LoRA runs; a full fine-tune already saves the full model")


@dataclass(frozen=True)
class Processes:
    """This process's place in a torchrun/accelerate launch (rank 0 of 1 when started plainly)."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Processes:
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))


def train(
    config: TrainConfig,
    *,
    on_event: Callable[[TrainEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> TrainingFinished:
    """Train as ``config`` says; events go to ``on_event``; setting ``cancel`` stops at the next micro-batch
    and keeps a checkpoint. User errors raise ConfigError/TrainingError/ModelError (or DataError) before
    anything in the run directory is touched."""
    from .train_data import read_splits

    validate(config)
    procs = Processes.from_env()
    paths = RunPaths(Path(config.out).expanduser())
    resume_from = _check_run_dir(config, paths)
    splits = read_splits(config.data)
    started = time.perf_counter()
    with _quiet_progress_bars():
        return _attempts(config, splits, paths, procs, resume_from, on_event, cancel, started)


@contextlib.contextmanager
def _quiet_progress_bars():
    """transformers' loading/saving progress bars would write to the terminal: the engine never prints."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _attempts(config, splits, paths, procs, resume_from, on_event, cancel, started) -> TrainingFinished:
    from . import checkpoints
    from .train_run import TrainAttempt, clean_partial_writes, is_disk_full, is_out_of_memory

    batch_size, grad_accum, notice = config.batch_size, config.grad_accum, None
    while True:
        attempt = TrainAttempt(config, splits, paths, procs, batch_size=batch_size, grad_accum=grad_accum,
                               resume_from=resume_from, on_event=on_event, cancel=cancel, notice=notice)
        try:
            return attempt.run(started)
        except Exception as err:  # noqa: BLE001 - sorted below: OOM retries, a full disk is a user error
            if procs.is_main:
                clean_partial_writes(paths)
            if is_disk_full(err):
                raise TrainingError(
                    f"the disk holding {paths.root} is full ({str(err).splitlines()[0][:120]}); "
                    "free space or lower --keep-checkpoints, then --resume"
                ) from None
            if not is_out_of_memory(err):
                raise
            if procs.world_size > 1 or batch_size == 1:
                raise TrainingError(
                    f"out of GPU memory at --batch-size {batch_size}: try --gradient-checkpointing, --lora, "
                    "--quantize 4bit or a smaller --block-size"
                ) from None
            attempt.release()
            batch_size, grad_accum = batch_size // 2, grad_accum * 2
            notice = f"out of GPU memory: retrying with --batch-size {batch_size} --grad-accum {grad_accum} (same effective batch)"
            newest = checkpoints.newest(paths.checkpoints)  # this run's own progress, if it saved any
            resume_from = newest.path if newest else None


def _check_run_dir(config: TrainConfig, paths: RunPaths) -> Path | None:
    """Never overwrite a trained run by accident; on --resume, find the checkpoint and check the settings match."""
    from . import checkpoints

    if not config.resume:
        if paths.final.exists() or checkpoints.has_any(paths.checkpoints):
            raise TrainingError(f"{paths.root} already holds a trained run; pass --resume to continue it, or choose another --out")
        return None
    newest = checkpoints.newest(paths.checkpoints)
    if newest is None:
        raise TrainingError(f"{paths.root}: no complete checkpoint to resume from; start without --resume")
    previous = read_run_config(paths.root)
    for key, now in (("requested_model", config.model), ("method", config.method), ("pack", config.pack),
                     ("quantize", config.quantize), ("lora_r", config.lora_r if config.method != "full" else None)):
        before = previous.get(key)
        if key == "lora_r" and previous.get("method") == "full":
            before = None
        if before != now:
            raise ConfigError(f"{paths.root} was trained with {key}={before!r}, not {now!r}; resume with the same settings")
    return newest.path
