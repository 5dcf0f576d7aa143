"""What `tweetsmith train` shows while it runs: the engine's events as a rich progress display on a terminal,
or as a plain line every few seconds when stderr is a log file or CI (no carriage returns there).

Every stage that takes a while on a CPU moves: loading the model, encoding, measuring memory, each
optimizer step (with the heartbeat from inside the step, so a 15-second CPU step still moves about
every second), evaluating the valid split, saving. Notices, evaluations and best checkpoints are
printed as lines of their own above the bar.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from tweetsmith.engine.progress import format_duration  # noqa: F401 - imported from here by the commands

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PLAIN_EVERY_S = float(os.environ.get("TWEETSMITH_PROGRESS_EVERY_S", "10"))  # a log gets a progress line this often


def final_holds(finished) -> str:
    """Which weights final/ holds: the best checkpoint by valid perplexity when evaluation ran, else the last step."""
    if finished.final_step is None:
        return ""
    if finished.final_is_best:
        ppl = f" {finished.final_valid_perplexity:.2f}" if finished.final_valid_perplexity is not None else ""
        return f"; final/ holds step {finished.final_step}, the best valid perplexity{ppl}"
    return f"; final/ holds the last step ({finished.final_step})"


def _millions(n: int) -> str:
    return f"{n / 1e6:.3g}M"


class TrainProgress:
    """Call it with each engine event; call ``finish`` with the TrainingFinished (or ``close`` on error)."""

    def __init__(self, *, merge: bool = False, stream=None, plain_every_s: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.merge = merge
        self.method = "full"
        self.plain_every_s = PLAIN_EVERY_S if plain_every_s is None else plain_every_s
        self.live = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self._progress: Progress | None = None  # rich's live bar, made on the first output when live
        self._task: TaskID | None = None
        self._last_plain = 0.0
        self._total_steps = 0
        self._step_info = ""  # loss, tokens/s of the last logged step

    # -- output -------------------------------------------------------------------------------
    def _ensure_progress(self):
        if self._progress is None and self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn

            console = Console(file=self.stream, stderr=True)
            progress = self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[info]}"),
                console=console,
                refresh_per_second=4,
            )
            progress.start()
            self._task = progress.add_task("starting", total=None, info="")
        return self._progress

    def line(self, message: str) -> None:
        """A line of its own, above a live bar (or plainly)."""
        progress = self._ensure_progress()
        if progress is not None:
            progress.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream, flush=True)

    def show(
        self, description: str, completed: float | None, total: float | None, info: str, *, force: bool = False
    ) -> None:
        progress = self._ensure_progress()
        if progress is not None and self._task is not None:  # the task is made with the bar
            progress.update(self._task, description=description, completed=completed or 0, total=total, info=info)
            return
        now = time.monotonic()
        if force or now - self._last_plain >= self.plain_every_s:
            self._last_plain = now
            amount = f" {completed:.1f}/{total:g}" if completed is not None and total else ""
            print(f"{description}{amount} {info}".rstrip(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- events -------------------------------------------------------------------------------
    def __call__(self, event) -> None:
        from tweetsmith.engine import progress
        from tweetsmith.engine import train_events as ev

        if isinstance(event, progress.Progress):
            unit = f" {event.unit}" if event.unit else ""
            amount = f"{event.done:,}/{event.total:,}{unit}" if event.total else ""
            self.show(event.stage, event.done, event.total, amount, force=event.total is None)
        elif isinstance(event, ev.TrainingStarted):
            self._started(event)
        elif isinstance(event, ev.StepHeartbeat):
            part = f"micro-batch {event.micro_batch}/{event.grad_accum} · " if event.grad_accum > 1 else ""
            self.show(
                "train",
                event.step + event.fraction,
                event.total_steps,
                f"step {event.step + 1}/{event.total_steps} {part}{self._step_info}ETA {format_duration(event.eta_s)}",
            )
        elif isinstance(event, ev.StepLogged):
            mfu = f" MFU {100 * event.mfu:.0f}%" if event.mfu is not None else ""
            self._step_info = f"loss {event.loss:.3f} · {event.tokens_per_s:,.0f} tok/s{mfu} · "
            self.show(
                "train",
                event.step,
                event.total_steps,
                f"step {event.step}/{event.total_steps} {self._step_info}ETA {format_duration(event.eta_s)}",
                force=event.step >= event.total_steps,
            )  # a log always gets the last step's line
        elif isinstance(event, ev.Evaluated):
            self.line(f"step {event.step}: valid perplexity {event.valid_perplexity:.2f}")
        elif type(event).__name__ == "SamplesGenerated":  # engine.training_samples: same prompts and seeds each time
            self.line(
                "\n".join(
                    [f"step {event.step} samples:"]
                    + [f"  @{s.author} (seed {s.seed}): {s.text}" for s in event.samples]
                )
            )
        elif isinstance(event, ev.CheckpointSaved) and event.best:
            self.line(f"step {event.step}: best so far, checkpoint {event.path}")

    def _started(self, event) -> None:
        self.method = event.method
        self._total_steps = event.total_steps
        if event.notice:
            self.line(event.notice)
        resumed = f", resuming at step {event.resumed_from_step}" if event.resumed_from_step else ""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        processes = f" x {world} processes" if world > 1 else ""
        self.line(
            f"training {event.model_description} ({event.method}): {event.total_steps} steps "
            f"({event.epochs:.2f} epochs{resumed}), {event.batch_size} x {event.grad_accum}{processes} x "
            f"{event.block_size} tokens per step, {event.dtype} on {event.device}, "
            f"{_millions(event.trainable_parameters)} of {_millions(event.total_parameters)} parameters trained, "
            f"~{event.memory_estimate_bytes / 2**30:.1f} GiB planned"
        )
        self.show("train", event.resumed_from_step, event.total_steps, "first step…", force=True)

    def finish(self, finished) -> None:
        self.close()
        ppl = f"; valid perplexity {finished.valid_perplexity:.2f}" if finished.valid_perplexity is not None else ""
        took = format_duration(finished.seconds)
        what = "full model" if self.method == "full" else "merged model" if self.merge else "LoRA adapter"
        holds = final_holds(finished)
        if finished.outcome == "completed":
            message = f"done: {finished.steps} steps in {took}{ppl}; {what} in {finished.result_dir}{holds}"
            if finished.stopped_early:
                message = f"{finished.stopped_early}\n{message}"
        elif finished.steps:
            message = (
                f"stopped at step {finished.steps} after {took}{ppl}; checkpoint kept, {what} so far in "
                f"{finished.result_dir}{holds}; continue with --resume --out {finished.run_dir}"
            )
        else:
            message = "stopped before the first step; nothing was saved"
        print(message, file=self.stream, flush=True)
