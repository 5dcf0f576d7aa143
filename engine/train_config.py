"""What a training run is asked to do: ``TrainConfig`` (the CLI's flags and the app's form are built from
its fields) and ``validate`` (also ``TrainConfig.validated()``), which refuses absurd values with one line
naming the flag. Strings become a ``TrainConfig`` through ``engine.config.config_from_strings``."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .config import option
from .errors import ConfigError

DEFAULT_LR = {"full": 5e-5, "lora": 3e-4, "qlora": 3e-4}
MAX_DEFAULT_BLOCK = 1024
# A small corpus gets more than one epoch: at least MIN_STEPS optimizer steps, at most MAX_AUTO_EPOCHS epochs
# (README, "How much training": chosen by per-record perplexity on a 443-record one-author corpus).
MIN_STEPS = 60
MAX_AUTO_EPOCHS = 8
# Scoring a split on a CPU (training's evaluations, the assignment's perplexity stages): its leading records
# within this many tokens; a GPU scores whole splits.
EVAL_TOKENS_CPU = 50_000


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; the CLI's flags and the app's form are built from these fields."""

    data: str = option("", "data directory holding train.txt and valid.txt in line format (from `tweetsmith prepare`)")
    model: str = option("gpt2-medium", "base model: hub id, local HF directory, .gguf file or smollm2-135m")
    out: str = option("runs/default", "run directory for config, metrics, checkpoints and the final model")
    lora: bool = option(False, "train LoRA adapters instead of all weights")
    lora_r: int = option(16, "LoRA rank (16 on every linear layer matched the reference run's quality)")
    lora_alpha: int = option(32, "LoRA alpha (the update is scaled by alpha / rank)")
    lora_dropout: float = option(
        0.0, "dropout on the LoRA path (0: one epoch does not overfit, and it saves a pass over every adapted input)"
    )
    quantize: str | None = option(
        None, "load the base model in 4-bit (NF4) or 8-bit and train LoRA on it (QLoRA)", choices=("4bit", "8bit")
    )
    epochs: float = option(1.0, "passes over the train split (ignored when --max-steps is set)")
    max_steps: int = option(0, "optimizer steps to train (0: use --epochs)")
    min_steps: int = option(
        MIN_STEPS,
        "train at least this many optimizer steps when --epochs gives fewer (a small "
        f"corpus: more epochs, at most {MAX_AUTO_EPOCHS}; 0: exactly --epochs)",
    )
    lr: float | None = option(None, "peak learning rate; None: 5e-5 full, 3e-4 LoRA/QLoRA")
    lr_scheduler: str = option(
        "cosine", "learning-rate schedule after warmup", choices=("cosine", "linear", "constant_with_warmup")
    )
    warmup: float = option(0.03, "warmup: a fraction of the steps (< 1) or a number of steps")
    batch_size: int = option(
        8,
        "examples per micro-batch per process (made smaller, with more accumulation, when it would not fit in memory)",
    )
    grad_accum: int = option(1, "micro-batches per optimizer step (effective batch = batch x accum x processes)")
    block_size: int = option(
        0, "tokens per example (0: automatic, 256 on CPU where it is fastest per token, min(1024, context) on GPU)"
    )
    pack: str = option(
        "isolated",
        "how records fill examples: isolated (packed blocks, each record attending only "
        "to itself with positions restarting, as the chat writes one tweet), concat (packed blocks of the "
        "record stream, each record seeing the ones before it), off (one padded record per example)",
        choices=("concat", "isolated", "off"),
    )
    eval_every: int = option(200, "evaluate valid perplexity every N steps and at the end (0: never)")
    eval_tokens: int | None = option(
        None,
        "each evaluation scores the valid split's leading records within this many tokens (0: the whole split; "
        f"none: the whole split on a GPU, {EVAL_TOKENS_CPU:,} tokens on a CPU, where all of it takes minutes)",
    )
    early_stopping: int = option(
        0,
        "stop after N evaluations in a row without a lower valid perplexity than the best "
        "so far (0: never; needs --eval-every); final/ holds the best",
    )
    save_every: int = option(200, "save a checkpoint every N steps and at the end (0: only the best and on stop)")
    keep_checkpoints: int = option(2, "keep the newest K checkpoints (plus the best)")
    seed: int = option(42, "random seed (data order, LoRA init, dropout)")
    resume: bool = option(False, "continue from the newest complete checkpoint in --out")
    merge: bool = option(False, "save the LoRA adapter merged into the base as a full model")
    precision: str = option(
        "auto",
        "compute precision (auto: bf16 on GPUs, else fp16; on CPUs whichever of bf16 and fp32 measures faster)",
        choices=("auto", "bf16", "fp16", "fp32"),
    )
    gradient_checkpointing: bool = option(
        False,
        "recompute activations in the backward pass (less memory, about a third slower; switched on by itself when memory is short)",
    )
    compile: bool = option(False, "torch.compile the model (faster steps on GPU after a warm-up)")
    loss: str = option(
        "auto",
        "loss computation: chunked (output head and cross-entropy in chunks, the full logits never held), full (the model's own), auto (chunked on GPU, full on CPU where it is faster)",
        choices=("auto", "chunked", "full"),
    )
    logging_steps: int = option(10, "log loss and tokens/s every N steps")
    report_to: str = option(
        "none",
        "also log loss, lr, valid perplexity and tokens/s for TensorBoard, in RUN/tensorboard "
        "(view: tensorboard --logdir RUN; needs the tensorboard package)",
        choices=("none", "tensorboard"),
    )
    allow_fallback: bool = option(
        True, "fall back to the embedded model when the hub model is unavailable", flag="--fallback"
    )

    @property
    def method(self) -> str:
        return "qlora" if self.quantize else "lora" if self.lora else "full"

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]

    def validated(self) -> TrainConfig:
        """This config, once ``validate`` passes it (``ConfigError`` naming the flag otherwise): the check
        ``engine.config.config_from_strings`` runs after reading a config from strings."""
        validate(self)
        return self


def training_settings(config: TrainConfig) -> dict[str, Any]:
    """Every training setting but where things go: two configs with the same settings train the same model
    (the assignment keys a training, and tells the ablation's baseline from its main run, by them).

    ``eval_tokens`` is one only when evaluations run on part of the split: they pick final/ (the best) and
    early stopping. Without evaluations, or scoring the whole split as before the flag, it changes nothing,
    and leaving it out keeps the keys of the trainings an assignment already has (no retraining for it)."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("data", "out", "resume")}
    if not config.eval_every or not config.eval_tokens:
        del settings["eval_tokens"]
    return settings


def default_eval_tokens(device: str | None = None) -> int:
    """Tokens of a split to score when none were asked: 0 (whole splits) on a GPU, where they take seconds; on a
    CPU a split's leading ``EVAL_TOKENS_CPU`` tokens (~8 min a split and model on 2 cores: the assignment's
    valid and test splits are 93k tokens each). ``device``: the one that scores (default: the best present)."""
    if device is None:
        from .device import pick_device

        device = pick_device().device
    return 0 if device.startswith("cuda") else EVAL_TOKENS_CPU


def evaluation_tokens(config: TrainConfig, device: str, resumed: int | None = None) -> int:
    """What training's evaluations score on ``device`` (never None): ``--eval-tokens`` as asked; when not
    asked and resuming, what the run evaluated with so far (``resumed``, from its record: its checkpoints'
    figures are compared with the new ones to keep the best); else the device's default."""
    if config.eval_tokens is not None:
        return config.eval_tokens
    return resumed if resumed is not None else default_eval_tokens(device)


def tensorboard_installed() -> bool:
    """Whether ``tensorboard`` can be imported (looked up, not imported: only --report-to tensorboard needs it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorboard") is not None
    except ValueError:  # a module of that name whose spec is unset
        return False


def validate(config: TrainConfig) -> None:
    """Refuse absurd parameters with one line naming the flag."""
    checks = [
        (config.lr is None or config.lr > 0, f"--lr must be positive, got {config.lr}"),
        (config.lr is None or math.isfinite(config.lr), f"--lr must be a finite number, got {config.lr}"),
        (math.isfinite(config.epochs) and math.isfinite(config.warmup), "--epochs and --warmup must be finite numbers"),
        (config.batch_size > 0, f"--batch-size must be at least 1, got {config.batch_size}"),
        (config.grad_accum > 0, f"--grad-accum must be at least 1, got {config.grad_accum}"),
        (config.max_steps >= 0, f"--max-steps must be 0 (use --epochs) or positive, got {config.max_steps}"),
        (config.min_steps >= 0, f"--min-steps must be 0 (exactly --epochs) or positive, got {config.min_steps}"),
        (config.max_steps > 0 or config.epochs > 0, f"--epochs must be positive, got {config.epochs}"),
        (config.block_size >= 0, f"--block-size must be 0 (automatic) or positive, got {config.block_size}"),
        (min(config.eval_every, config.save_every) >= 0, "--eval-every and --save-every must be 0 or positive"),
        (
            config.eval_tokens is None or config.eval_tokens >= 0,
            f"--eval-tokens must be 0 (the whole valid split) or more, got {config.eval_tokens}",
        ),
        (config.keep_checkpoints >= 1, f"--keep-checkpoints must be at least 1, got {config.keep_checkpoints}"),
        (config.logging_steps >= 1, f"--logging-steps must be at least 1, got {config.logging_steps}"),
        (config.warmup >= 0, f"--warmup must be 0 or positive, got {config.warmup}"),
        (config.quantize in (None, "4bit", "8bit"), f"--quantize must be 4bit or 8bit, got {config.quantize!r}"),
        (config.pack in ("concat", "isolated", "off"), f"--pack must be concat, isolated or off, got {config.pack!r}"),
        (
            config.early_stopping >= 0,
            f"--early-stopping must be 0 (never) or a number of evaluations, got {config.early_stopping}",
        ),
        (
            not config.early_stopping or config.eval_every > 0,
            "--early-stopping counts evaluations, and --eval-every 0 runs none: set --eval-every N, or drop --early-stopping",
        ),
        (
            config.report_to in ("none", "tensorboard"),
            f"--report-to must be none or tensorboard, got {config.report_to!r}",
        ),
        (
            config.report_to != "tensorboard" or tensorboard_installed(),
            "--report-to tensorboard needs the tensorboard package: pip install tensorboard==2.21.0 (or drop --report-to)",
        ),
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
class StepBudget:
    """How many optimizer steps a run trains, and why when it is not what ``--epochs`` alone gives."""

    max_steps: int  # -1: the Trainer counts ``--epochs`` itself
    notice: str | None = None


def step_budget(config: TrainConfig, steps_per_epoch: int) -> StepBudget:
    """``--max-steps`` when set; else ``--epochs``, raised to ``--min-steps`` (at most ``MAX_AUTO_EPOCHS``
    epochs) when a small corpus would get fewer steps. The chat writes one tweet from a cold start, and a
    few hundred records get a handful of steps an epoch: far too few to learn it (README)."""
    if config.max_steps > 0:
        return StepBudget(config.max_steps)
    from_epochs = math.ceil(config.epochs * steps_per_epoch)
    if from_epochs >= config.min_steps:
        return StepBudget(-1)
    steps = min(config.min_steps, MAX_AUTO_EPOCHS * steps_per_epoch)
    if steps <= from_epochs:
        return StepBudget(-1)
    why = (
        f"toward --min-steps {config.min_steps}, at most {MAX_AUTO_EPOCHS} epochs"
        if steps < config.min_steps
        else f"to reach --min-steps {config.min_steps}"
    )
    return StepBudget(
        steps,
        f"a small corpus ({steps_per_epoch} steps an epoch): training {steps} steps "
        f"({steps / steps_per_epoch:.1f} epochs) {why}; --min-steps 0 trains exactly --epochs",
    )
