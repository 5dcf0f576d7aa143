"""`tweetsmith train`: fine-tune a model (full, LoRA or QLoRA) on a data dir, with a progress line and a summary.

The flags come from ``engine.train.TrainConfig``. Ctrl-C stops after the current micro-batch, keeps a
checkpoint and exits with 130 (a second Ctrl-C aborts at once); ``--resume`` continues from it. The same
command runs with DDP under ``torchrun --nproc_per_node N``; only rank 0 prints.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .common import ProgressLine, add_config_arguments, config_from_args, notice

HELP = "fine-tune a model on a data dir (full, --lora or --quantize 4bit QLoRA); Ctrl-C keeps a checkpoint"
EXIT_STOPPED = 130  # like a shell's exit status after SIGINT: the run did not finish, a checkpoint was kept


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tweetsmith.engine.train import TrainConfig

    add_config_arguments(parser, TrainConfig)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _millions(n: int) -> str:
    return f"{n / 1e6:.3g}M"


class TrainPrinter:
    """Turns the engine's events into a progress line and a few plain lines on stderr."""

    def __init__(self, merge: bool = False) -> None:
        self.progress: ProgressLine | None = None
        self.method = "full"
        self.merge = merge

    def __call__(self, event) -> None:
        from tweetsmith.engine import train_events as ev

        if isinstance(event, ev.TrainingStarted):
            self.method = event.method
            if event.notice:
                notice(event.notice)
            resumed = f", resuming at step {event.resumed_from_step}" if event.resumed_from_step else ""
            world = int(os.environ.get("WORLD_SIZE", "1"))
            processes = f" x {world} processes" if world > 1 else ""
            notice(
                f"training {event.model_description} ({event.method}): {event.total_steps} steps "
                f"({event.epochs:.2f} epochs{resumed}), {event.batch_size} x {event.grad_accum}{processes} x "
                f"{event.block_size} tokens per step, {event.dtype} on {event.device}, "
                f"{_millions(event.trainable_parameters)} of {_millions(event.total_parameters)} parameters trained, "
                f"~{event.memory_estimate_bytes / 2**30:.1f} GiB"
            )
            self.progress = ProgressLine("train", total=event.total_steps, min_interval_s=0.2)
        elif isinstance(event, ev.StepLogged) and self.progress is not None:
            mfu = f" MFU {100 * event.mfu:.0f}%" if event.mfu is not None else ""
            self.progress.update(
                event.step,
                f"step {event.step}/{event.total_steps} loss {event.loss:.3f} lr {event.lr:.2e} "
                f"{event.tokens_per_s:,.0f} tok/s{mfu} ETA {format_duration(event.eta_s)}",
                force=True,
            )
        elif isinstance(event, ev.Evaluated):
            self._line(f"step {event.step}: valid perplexity {event.valid_perplexity:.2f}")
        elif isinstance(event, ev.CheckpointSaved) and event.best:
            self._line(f"step {event.step}: best so far, checkpoint {event.path}")

    def _line(self, message: str) -> None:
        if self.progress is not None:
            self.progress.close(message)
        else:
            notice(message)

    def finish(self, finished) -> None:
        if self.progress is not None:
            self.progress.close()
        ppl = f"; valid perplexity {finished.valid_perplexity:.2f}" if finished.valid_perplexity is not None else ""
        took = format_duration(finished.seconds)
        what = "full model" if self.method == "full" else "merged model" if self.merge else "LoRA adapter"
        if finished.outcome == "completed":
            notice(f"done: {finished.steps} steps in {took}{ppl}; {what} in {finished.result_dir}")
        elif finished.steps:
            notice(f"stopped at step {finished.steps} after {took}{ppl}; checkpoint kept, {what} so far in "
                   f"{finished.result_dir}; continue with --resume --out {finished.run_dir}")
        else:
            notice("stopped before the first step; nothing was saved")


def run(args: argparse.Namespace) -> int:
    from tweetsmith.engine.train import TrainConfig, train

    config = config_from_args(TrainConfig, args)
    main_process = os.environ.get("RANK", "0") == "0"
    printer = TrainPrinter(merge=config.merge)
    cancel = threading.Event()
    previous = _install_stop_handler(cancel, loud=main_process)
    try:
        finished = train(config, on_event=printer if main_process else None, cancel=cancel)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if printer.progress is not None:
            printer.progress.close()
    if main_process:
        printer.finish(finished)
    return 0 if finished.outcome == "completed" else EXIT_STOPPED


def _install_stop_handler(cancel: threading.Event, *, loud: bool):
    """First Ctrl-C: set the cancellation flag (checkpoint, clean exit); second: abort at once."""

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if loud:
            print("\nstopping after this micro-batch and saving a checkpoint (Ctrl-C again to abort)",
                  file=sys.stderr, flush=True)

    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (e.g. called from a test worker): no handler
        return None
