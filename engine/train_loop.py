"""The pieces we add to ``transformers.Trainer``: events, perplexity evaluation, safe checkpoints, stopping.

- ``RunMonitor`` turns the Trainer's logs into ``StepLogged``/``Evaluated``/``CheckpointSaved`` events and
  ``metrics.jsonl`` lines (main process only), with useful tokens/s, ETA and MFU.
- ``TweetTrainer`` counts useful (non-pad) tokens, evaluates with THE perplexity definition
  (``perplexity.perplexity_of_lines``, on the valid split's leading ``--eval-tokens``) instead of the
  Trainer's eval loop, and writes every checkpoint under ``checkpoints/.incomplete/`` first, renaming it
  into place when complete.
- ``ControlCallback`` schedules evaluations and saves and honours the cancellation flag at step ends
  (and, under DDP, only there, where all processes agree). In one process ``engine.step_watch`` stops
  inside the step; either way the RNG state of the last finished step is restored so the checkpoint
  written at the stop resumes exactly.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from . import checkpoints
from .jsonl import append_jsonl
from .memory import mfu
from .perplexity import DEFAULT_STRIDE_TOKENS, max_len_for, perplexity_of_lines
from .progress import Progress
from .step_watch import StepWatch
from .train_events import CheckpointSaved, Evaluated, StepHeartbeat, StepLogged, TrainEvent


class RunMonitor:
    """Events and metrics.jsonl from the main process; one metrics line per logged (or evaluated) step."""

    def __init__(
        self,
        *,
        on_event: Callable[[TrainEvent], None] | None,
        metrics_path: Path,
        is_main: bool,
        flops_per_token: float,
        peak_flops: float | None,
    ):
        self.on_event, self.metrics_path, self.is_main = on_event, metrics_path, is_main
        self.flops_per_token, self.peak_flops = flops_per_token, peak_flops
        self.pending: dict | None = None
        self.last_valid_perplexity: float | None = None
        self.tokens_seen = 0  # useful tokens trained on in this session (for the run card)
        self.start_time = self.last_log_time = time.perf_counter()
        self.start_step = 0
        self.paused_s = self.paused_since_log_s = 0.0

    def emit(self, event: TrainEvent) -> None:
        if self.is_main and self.on_event is not None:
            self.on_event(event)

    def begin(self, step: int) -> None:
        self.start_time = self.last_log_time = time.perf_counter()
        self.start_step = step
        self.paused_s = self.paused_since_log_s = 0.0

    def pause(self, seconds: float) -> None:
        """Time spent evaluating or saving: not training, so not in tokens/s or the ETA."""
        self.paused_s += seconds
        self.paused_since_log_s += seconds

    def step_logged(
        self, *, step: int, total_steps: int, epoch: float, loss: float, lr: float, tokens: int
    ) -> StepLogged:
        now = time.perf_counter()
        interval = max(now - self.last_log_time - self.paused_since_log_s, 1e-9)
        tokens_per_s = tokens / interval
        self.tokens_seen += tokens
        done = max(step - self.start_step, 1)
        per_step = max(now - self.start_time - self.paused_s, 0.0) / done
        event = StepLogged(
            step=step,
            total_steps=total_steps,
            epoch=float(epoch or 0.0),
            loss=float(loss),
            lr=float(lr),
            tokens_per_s=tokens_per_s,
            eta_s=per_step * max(total_steps - step, 0),
            mfu=mfu(tokens_per_s, self.flops_per_token, self.peak_flops),
        )
        self.last_log_time, self.paused_since_log_s = now, 0.0
        self._record(
            {
                "step": step,
                "epoch": round(event.epoch, 4),
                "loss": event.loss,
                "lr": event.lr,
                "tokens_per_s": round(tokens_per_s, 2),
                **({"mfu": round(event.mfu, 4)} if event.mfu else {}),
            }
        )
        self.emit(event)
        return event

    def heartbeat(self, *, step: int, total_steps: int, fraction: float, micro_batch: int, grad_accum: int) -> None:
        """Inside a step: how far it got, and an ETA from the time per step measured so far (from the first
        heartbeat of the first step, before any step has finished)."""
        elapsed = max(time.perf_counter() - self.start_time - self.paused_s, 0.0)
        done = (step - self.start_step) + fraction
        eta = elapsed / done * max(total_steps - step - fraction, 0.0) if done > 0.02 else None
        self.emit(
            StepHeartbeat(
                step=step,
                total_steps=total_steps,
                fraction=fraction,
                micro_batch=micro_batch,
                grad_accum=grad_accum,
                eta_s=eta,
            )
        )

    def evaluated(self, step: int, valid_perplexity: float) -> None:
        self.last_valid_perplexity = valid_perplexity
        self._record({"step": step, "valid_perplexity": valid_perplexity})
        self.emit(Evaluated(step=step, valid_perplexity=valid_perplexity))

    def samples_generated(self, step: int, samples: list) -> None:
        """The fixed-prompt samples of an evaluation: into the step's metrics line, and as an event."""
        from .training_samples import SamplesGenerated

        self._record({"step": step, "samples": [s.to_dict() for s in samples]})
        self.emit(SamplesGenerated(step=step, samples=tuple(samples)))

    def checkpoint_saved(self, step: int, path: Path, best: bool) -> None:
        self.emit(CheckpointSaved(step=step, path=str(path), best=best))

    def _record(self, fields: dict) -> None:
        """Merge the fields of one step into one metrics line; a new step flushes the previous line."""
        if self.pending is not None and self.pending["step"] != fields["step"]:
            self.flush()
        self.pending = {**(self.pending or {}), **fields}

    def flush(self) -> None:
        if self.pending is not None and self.is_main:
            append_jsonl(self.metrics_path, [self.pending])
        self.pending = None


def rng_snapshot() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def rng_restore(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.random.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


class TweetTrainer(Trainer):
    """``transformers.Trainer`` with our evaluation, token counting and atomic checkpoints."""

    def __init__(
        self,
        *args,
        monitor: RunMonitor,
        valid_lines: list[str],
        eot_id: int,
        pad_id: int,
        checkpoints_dir: Path,
        keep_checkpoints: int,
        eval_tokens: int = 0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.monitor, self.valid_lines, self.eot_id, self.pad_id = monitor, valid_lines, eot_id, pad_id
        self.eval_tokens = eval_tokens  # > 0: each evaluation scores the valid split's leading records within it
        self.checkpoints_dir, self.keep_checkpoints = checkpoints_dir, keep_checkpoints
        self._useful_tokens: torch.Tensor | int = 0
        self._staging = False
        self._evaluated_at: tuple[int, float] | None = None
        self.step_watch: StepWatch | None = None  # set by the attempt
        self.sample_authors: list[str] = []  # fixed prompts sampled at every evaluation, set by the attempt
        self._micro_batches = 0
        best = checkpoints.best(checkpoints_dir)
        self.best_step = best.step if best else None
        self.best_perplexity = best.valid_perplexity if best else None

    chunked_loss = False  # set by the attempt: engine.chunked_loss instead of the model's full-logits loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's loss, or the same value computed in chunks of the head (see engine.chunked_loss),
        normalised exactly as the Trainer normalises the model's own loss."""
        if not self.chunked_loss or return_outputs or "labels" not in inputs:
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        from .chunked_loss import chunked_nll_sum

        total, count = chunked_nll_sum(
            model,
            inputs["input_ids"],
            inputs["labels"],
            inputs.get("attention_mask"),
            position_ids=inputs.get("position_ids"),
        )
        scaled = self.model_accepts_loss_kwargs and num_items_in_batch is not None
        loss = total / (num_items_in_batch if scaled else max(count, 1))
        if self.args.average_tokens_across_devices and scaled:
            loss = loss * self.accelerator.num_processes
        return loss

    # -- useful tokens/s: summed on the device, read once per log (no sync per micro-batch) --
    def training_step(self, model, inputs, *args, **kwargs):
        if self.step_watch is not None:  # which micro-batch of the step runs, for the heartbeat
            self.step_watch.micro_batch = self._micro_batches % self.args.gradient_accumulation_steps
        self._micro_batches += 1
        mask = inputs.get("attention_mask")
        padded = mask is not None and mask.dim() == 2  # a 4-D mask isolates packed records: no padding there
        self._useful_tokens = self._useful_tokens + (mask.sum() if padded else inputs["input_ids"].numel())
        return super().training_step(model, inputs, *args, **kwargs)

    def _take_useful_tokens(self) -> int:
        count = torch.as_tensor(self._useful_tokens, device=self.args.device, dtype=torch.long)
        if self.args.world_size > 1:
            count = self.accelerator.reduce(count, reduction="sum")
        self._useful_tokens = 0
        return int(count.item())

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs and "learning_rate" in logs:
            event = self.monitor.step_logged(
                step=self.state.global_step,
                total_steps=self.state.max_steps,
                epoch=self.state.epoch or 0.0,
                loss=logs["loss"],
                lr=logs["learning_rate"],
                tokens=self._take_useful_tokens(),
            )
            logs = {**logs, "tokens_per_s": event.tokens_per_s}  # to the Trainer's loggers too (--report-to)
        super().log(logs, *args, **kwargs)

    # -- evaluation: the valid split's perplexity by the definition in docs/definitions.md --
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        started = time.perf_counter()
        value = [0.0]
        if self.is_world_process_zero():
            # The definition's stride is 512, which a model with a context under 512 tokens can't take.
            stride = min(DEFAULT_STRIDE_TOKENS, max_len_for(self.model))
            result = perplexity_of_lines(
                self.model,
                self.processing_class,
                self.valid_lines,
                eot_id=self.eot_id,
                pad_id=self.pad_id,
                name="valid",
                stride_tokens=stride,
                max_tokens=self.eval_tokens,  # on a CPU the whole split takes minutes at every evaluation
                on_progress=self._evaluation_progress(),
            )
            value[0] = result.perplexity
        if self.args.world_size > 1:  # one process scores, all agree on the number (and so on saving the best)
            torch.distributed.broadcast_object_list(value, src=0)
        ppl, step = float(value[0]), self.state.global_step
        self._evaluated_at = (step, ppl)
        if self.best_perplexity is None or ppl < self.best_perplexity:
            self.best_perplexity, self.best_step = ppl, step
            self.control.should_save = True  # keep the best: save it even off the save schedule
        self.monitor.evaluated(step, ppl)
        if self.sample_authors and self.is_world_process_zero():
            from .training_samples import training_samples

            self.monitor.samples_generated(
                step,
                training_samples(
                    self.model, self.processing_class, self.sample_authors, eot_id=self.eot_id, pad_id=self.pad_id
                ),
            )
        metrics = {f"{metric_key_prefix}_valid_perplexity": ppl}
        super().log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        self.monitor.pause(time.perf_counter() - started)
        return metrics

    def _evaluation_progress(self):
        """Windows scored so far, at most about once a second (evaluating on a CPU takes minutes)."""
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 1.0 or done >= total:
                last[0] = now
                self.monitor.emit(Progress("evaluating valid", done, total, "windows"))

        return report

    def save_stop_checkpoint(self) -> None:
        """After a stop inside a step: the checkpoint of the last completed step (see TrainAttempt.train)."""
        self._save_checkpoint(self.model, trial=None)

    # -- checkpoints: staged, then renamed into place; rotation keeps the newest K plus the best --
    def _get_output_dir(self, trial) -> str:
        if self._staging:
            return str(checkpoints.staging_root(self.checkpoints_dir))
        return super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial) -> None:
        started = time.perf_counter()
        step = self.state.global_step
        if step == 0:
            return
        staged = checkpoints.staging_root(self.checkpoints_dir) / f"{checkpoints.PREFIX}{step}"
        main = self.is_world_process_zero()
        if main:
            checkpoints.clear_staging(self.checkpoints_dir)
        self.accelerator.wait_for_everyone()
        self._staging = True
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging = False
        self.accelerator.wait_for_everyone()
        ppl = self._evaluated_at[1] if self._evaluated_at and self._evaluated_at[0] == step else None
        target = self.checkpoints_dir / f"{checkpoints.PREFIX}{step}"
        if main:
            # This step's metrics line is held until the next step's log: write it before the checkpoint
            # becomes complete, or a kill after the rename would resume past a step metrics.jsonl never got.
            self.monitor.flush()
            target = checkpoints.publish(staged, self.checkpoints_dir, step=step, valid_perplexity=ppl)
            checkpoints.clear_staging(self.checkpoints_dir)
            checkpoints.rotate(self.checkpoints_dir, keep=self.keep_checkpoints, best_step=self.best_step)
        self.accelerator.wait_for_everyone()
        self.monitor.checkpoint_saved(step, target, best=(ppl is not None and step == self.best_step))
        self.monitor.pause(time.perf_counter() - started)


class NothingLeftToTrain(Exception):
    """Raised before the first step of a run resumed from its last step's checkpoint (killed during the
    final evaluation or save): the Trainer would otherwise take one step past ``max_steps``."""


class ControlCallback(TrainerCallback):
    """Evaluation and save schedule, the last step's log, and stopping on the caller's cancellation flag."""

    def __init__(self, *, cancel: threading.Event | None, eval_every: int, save_every: int, world_size: int):
        self.cancel = cancel or threading.Event()
        self.eval_every, self.save_every, self.world_size = eval_every, save_every, world_size
        self.stopped = False
        self.on_begin: Callable | None = None  # called with the TrainerState once the plan is known
        self.last_step_rng: dict | None = None  # RNG state at the end of the last finished step

    def _cancel_requested(self) -> bool:
        """All processes must agree, or one would wait forever in the next all-reduce."""
        flag = self.cancel.is_set()
        if self.world_size > 1:
            backend = torch.distributed.get_backend()
            device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
            t = torch.tensor([1 if flag else 0], device=device)
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            flag = bool(t.item())
        return flag

    def _stop(self, state, control) -> None:
        self.stopped = True
        control.should_training_stop = True
        control.should_evaluate = False
        control.should_log = True
        control.should_save = state.global_step > 0  # the stop keeps a checkpoint

    def on_train_begin(self, args, state, control, **kwargs):
        self.last_step_rng = rng_snapshot()
        if self.on_begin is not None:
            self.on_begin(state)

    def on_step_begin(self, args, state, control, **kwargs):
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            raise NothingLeftToTrain()
        return control

    def on_substep_end(self, args, state, control, **kwargs):
        # Between micro-batches of one optimizer step: stop without finishing the step. The weights,
        # optimizer and data position are those of the last finished step; put the RNG back there too.
        if self.world_size == 1 and self.cancel.is_set():
            if self.last_step_rng is not None:
                rng_restore(self.last_step_rng)
            self._stop(state, control)
        return control

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        last = step >= state.max_steps
        if self.eval_every and (step % self.eval_every == 0 or last):
            control.should_evaluate = True
        if self.save_every and (step % self.save_every == 0 or last):
            control.should_save = True
        if last:
            control.should_log = True
        if self._cancel_requested():
            self._stop(state, control)
        else:
            self.last_step_rng = rng_snapshot()
        return control
