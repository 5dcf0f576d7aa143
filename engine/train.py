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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError, TrainingError
from .run_record import RunRecord, check_run_out
from .runs import RunPaths
from .train_config import DEFAULT_LR, MAX_DEFAULT_BLOCK, TrainConfig, validate  # noqa: F401 - the public names
from .train_events import TrainEvent, TrainingFinished

if TYPE_CHECKING:
    from .train_data import Splits


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
    config: TrainConfig, *, on_event: Callable[[TrainEvent], None] | None = None, cancel: threading.Event | None = None
) -> TrainingFinished:
    """Train as ``config`` says; events go to ``on_event``; setting ``cancel`` stops at the next micro-batch
    and keeps a checkpoint. User errors raise ConfigError/TrainingError/ModelError (or DataError) before
    anything in the run directory is touched."""
    from .train_data import read_splits

    validate(config)
    procs = Processes.from_env()
    paths = RunPaths(Path(config.out).expanduser())
    check_run_out(paths.root)  # before the lock file is made: a folder that is not a run stays byte-identical
    with _run_lock(paths, procs):
        resume_from = _check_run_dir(config, paths)
        splits = read_splits(config.data)
        started = time.perf_counter()
        with quiet_progress_bars():
            return _attempts(
                config, splits, paths, procs, resume_from=resume_from, on_event=on_event, cancel=cancel, started=started
            )


def _run_lock(paths: RunPaths, procs: Processes):
    """The run's lock for the whole training (checked before its state is read, so a second training never
    sees a half-written run); under DDP only the main process writes, so only it holds the lock."""
    from .dir_lock import holding

    return holding(paths.root, "training") if procs.is_main else contextlib.nullcontext()


@contextlib.contextmanager
def quiet_progress_bars():
    """transformers' loading/saving progress bars would write to the terminal: the engine never prints."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _attempts(
    config: TrainConfig,
    splits: Splits,
    paths: RunPaths,
    procs: Processes,
    *,
    resume_from: Path | None,
    on_event: Callable[[TrainEvent], None] | None,
    cancel: threading.Event | None,
    started: float,
) -> TrainingFinished:
    """Run the attempt; after a CUDA out-of-memory error the plan did not foresee, run it again with half
    the micro-batch and twice the accumulation (same tokens per step), from this run's newest checkpoint."""
    from . import checkpoints
    from .train_failures import clean_partial_writes, is_disk_full, is_out_of_memory
    from .train_run import TrainAttempt

    batch_size, grad_accum, notice = config.batch_size, config.grad_accum, None
    while True:
        attempt = TrainAttempt(
            config,
            splits,
            paths,
            procs,
            batch_size=batch_size,
            grad_accum=grad_accum,
            resume_from=resume_from,
            on_event=on_event,
            cancel=cancel,
            notice=notice,
        )
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
            raise TrainingError(
                f"{paths.root} already holds a trained run; pass --resume to continue it, or choose another --out"
            )
        return None
    newest = checkpoints.newest(paths.checkpoints)
    if newest is None:
        raise TrainingError(f"{paths.root}: no complete checkpoint to resume from; start without --resume")
    previous = RunRecord.read(paths.root)
    for key, before, now in (
        ("requested_model", previous.requested_model, config.model),
        ("method", previous.method, config.method),
        ("pack", previous.pack, config.pack),
        ("quantize", previous.quantize, config.quantize),
        (
            "lora_r",
            previous.lora_r if previous.method != "full" else None,
            config.lora_r if config.method != "full" else None,
        ),
    ):
        if before != now:
            raise ConfigError(
                f"{paths.root} was trained with {key}={before!r}, not {now!r}; resume with the same settings"
            )
    return newest.path
