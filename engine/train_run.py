"""One training attempt: load, tokenize, plan memory, build the Trainer, train, save final/.

``engine.train`` retries it with half the micro-batch (and twice the accumulation) after a CUDA
out-of-memory error that the memory plan did not foresee (``train_failures`` sorts the error). The
Trainer's arguments come from ``train_arguments``; final/ is written by ``final_model``.
"""

from __future__ import annotations

import gc
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import checkpoints
from .errors import ConfigError
from .final_model import best_checkpoint, save_final
from .precision import PRECISION_DTYPES, choose_precision, matmul_shape
from .progress import Progress
from .run_record import RunRecord
from .runs import trim_metrics
from .step_watch import StepCancelled, StepWatch
from .train_arguments import trainer_arguments
from .train_config import evaluation_tokens, step_budget
from .train_events import TrainingFinished, TrainingStarted
from .train_plan import TrainPlan, available_now, default_shape, plan_training, probe_memory

if TYPE_CHECKING:
    import torch

    from .train_loop import TweetTrainer


def load_dtype(method: str, precision: str, device: str) -> str:
    """fp32 master weights for full fine-tuning (autocast does bf16 math); a frozen base may stay in bf16/fp16."""
    if method == "full" or not device.startswith("cuda"):
        return "float32"
    return PRECISION_DTYPES[precision]


class TrainAttempt:
    """One attempt at the run: load -> plan memory -> build the Trainer -> train -> save final/.

    Each step is a method named for what it does; ``run`` reads top to bottom."""

    def __init__(
        self,
        config,
        splits,
        paths,
        procs,
        *,
        batch_size: int,
        grad_accum: int,
        resume_from: Path | None,
        on_event,
        cancel,
        notice: str | None,
    ):
        self.config, self.splits, self.paths, self.procs = config, splits, paths, procs
        self.batch_size, self.grad_accum, self.resume_from = batch_size, grad_accum, resume_from
        self.on_event, self.cancel, self.notice = on_event, cancel, notice
        self.trainer: TweetTrainer | None = None  # held so that release() can drop them before a retry
        self.model: torch.nn.Module | None = None

    def emit(self, event) -> None:
        if self.procs.is_main and self.on_event is not None:
            self.on_event(event)

    def release(self) -> None:
        import torch

        self.trainer = self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def run(self, started: float) -> TrainingFinished:
        from .train_data import build_train_data

        device = self.pick_device()
        resumed = RunRecord.read(self.paths.root).eval_tokens if self.resume_from else None
        self.eval_tokens = evaluation_tokens(self.config, device, resumed)  # what every evaluation scores
        self.emit(Progress("loading model", 0, None))
        loaded, precision = self.load(device)
        self.emit(Progress("encoding train", 0, len(self.splits.train), "records"))
        encoded = self.encode(loaded)
        self.emit(Progress("encoding train", len(self.splits.train), len(self.splits.train), "records"))
        model = self.model = self.wrap_for_method(loaded.model)
        self.emit(Progress("measuring memory", 0, None))
        plan = self.plan_memory(model, loaded, device, precision)
        data = build_train_data(
            encoded, block_size=plan.block_size, pack=self.config.pack, pad_id=loaded.pad_id, eot_id=loaded.eot_id
        )
        self.write_run_record(loaded, model, plan, precision, device, data)
        trainer, control, monitor = self.build_trainer(model, loaded, plan, precision, device, data)
        self.announce_on_begin(control, monitor, loaded, model, plan, precision, device, data)
        if self.cancel is not None and self.cancel.is_set():
            return TrainingFinished("stopped", 0, time.perf_counter() - started, None, "", str(self.paths.root))
        stopped_inside_step = self.train(trainer, control, monitor, model)
        return self.finish(trainer, control, monitor, model, loaded, started, stopped_inside_step)

    # -- the steps ---------------------------------------------------------------------------------
    def pick_device(self) -> str:
        import torch

        from .device import best_device

        procs = self.procs
        if not torch.cuda.is_available():
            return best_device()  # mps on Apple silicon, else cpu
        if procs.world_size > 1:
            torch.cuda.set_device(procs.local_rank)
            return f"cuda:{procs.local_rank}"
        return "cuda"

    def load(self, device: str):
        from .models import load_model

        config = self.config
        cpu_auto = config.precision == "auto" and device == "cpu" and config.quantize is None
        # On GPU the precision decides a frozen base's dtype, so it comes first; on CPU weights load in fp32
        # and the choice is measured on the loaded model's own matmul shape.
        precision = "fp32" if cpu_auto else choose_precision(config.precision, device, config.quantize is not None)
        loaded = load_model(
            config.model,
            allow_fallback=config.allow_fallback,
            device=device,
            quantize=config.quantize,
            dtype=load_dtype(config.method, precision, device),
        )
        if cpu_auto:
            hidden, inner = matmul_shape(loaded.model.config)
            precision = choose_precision("auto", device, False, hidden=hidden, intermediate=inner)
        return loaded, precision

    def encode(self, loaded):
        from .train_data import encode_cached

        return encode_cached(
            loaded.tokenizer,
            self.splits.train,
            loaded.eot_id,
            cache_dir=self.paths.cache,
            name="train",
            write=self.procs.is_main,
        )

    def wrap_for_method(self, model):
        from transformers import set_seed

        from .lora import apply_lora

        config = self.config
        set_seed(config.seed)  # LoRA's initial weights
        if config.method == "full":
            model.requires_grad_(True)
        else:
            model = apply_lora(
                model,
                r=config.lora_r,
                alpha=config.lora_alpha,
                dropout=config.lora_dropout,
                quantized=config.method == "qlora",
                gradient_checkpointing=config.gradient_checkpointing,
            )
        model.train()
        self.base_config = model.get_base_model().config if config.method != "full" else model.config
        self.base_config.use_cache = False  # no KV cache while training; restored before saving final/
        return model

    def plan_memory(self, model, loaded, device: str, precision: str) -> TrainPlan:
        """Measure what an example costs and fit the run into the memory available now (see train_plan)."""
        from .lora import count_parameters

        config = self.config
        batch, block = default_shape(device, loaded.context_tokens, self.batch_size, config.block_size)
        if block > loaded.context_tokens:
            raise ConfigError(
                f"--block-size {block} exceeds {loaded.info.name}'s context of {loaded.context_tokens} tokens"
            )
        trainable, _total = count_parameters(model)

        def profile_for(block_size: int):
            return probe_memory(model, block_size, precision=precision, trainable_parameters=trainable, device=device)

        available = available_now(device) if self.procs.world_size == 1 else None
        return plan_training(
            batch_size=batch,
            grad_accum=self.grad_accum,
            block_size=block,
            gradient_checkpointing=config.gradient_checkpointing,
            profile_for=profile_for,
            available=available,
            device=device,
        )

    def write_run_record(self, loaded, model, plan: TrainPlan, precision: str, device: str, data) -> None:
        from .lora import target_modules_of

        config, paths, procs = self.config, self.paths, self.procs
        resolved_spec = loaded.info.spec
        if Path(resolved_spec).expanduser().exists():
            resolved_spec = str(Path(resolved_spec).expanduser().resolve())
        record = RunRecord.of_training(
            config,
            model=resolved_spec,
            method=config.method,
            lr=config.learning_rate,
            block_size=plan.block_size,
            batch_size=plan.batch_size,
            grad_accum=plan.grad_accum,
            gradient_checkpointing=plan.gradient_checkpointing,
            world_size=procs.world_size,
            precision=precision,
            device=device,
            data=self.splits.data_dir,
            target_modules=target_modules_of(model) if config.method != "full" else [],
            eot_id=loaded.eot_id,
            pad_id=loaded.pad_id,
            train_tokens=data.useful_tokens,
            resumed_from=str(self.resume_from) if self.resume_from else None,
            eval_tokens=self.eval_tokens,
        )
        if not procs.is_main:
            return
        paths.root.mkdir(parents=True, exist_ok=True)
        checkpoints.clear_staging(paths.checkpoints)
        record.write(paths.root)
        from .card import start_card

        start_card(
            paths.root,
            config,
            resolved=record,
            model_spec=resolved_spec,
            model_source=loaded.info.source,
            model_location=loaded.info.location,
            device=device,
            precision=precision,
            data_dir=self.splits.data_dir,
            resumed_from=str(self.resume_from) if self.resume_from else None,
        )
        if self.resume_from is None:
            paths.metrics.unlink(missing_ok=True)
        else:  # lines logged after the checkpoint (before a kill) would come again: drop them
            trim_metrics(paths.root, checkpoints.step_of(self.resume_from))

    def build_trainer(self, model, loaded, plan: TrainPlan, precision: str, device: str, data):
        from transformers import PrinterCallback

        from .memory import flops_per_token, peak_flops
        from .train_loop import ControlCallback, RunMonitor, TweetTrainer

        config, paths, procs = self.config, self.paths, self.procs
        cuda = device.startswith("cuda")
        per_step = plan.batch_size * plan.grad_accum * procs.world_size
        self.budget = step_budget(config, max(1, math.ceil(data.examples / per_step)))
        if (
            plan.gradient_checkpointing
            and not config.gradient_checkpointing
            and hasattr(model, "enable_input_require_grads")
        ):
            model.enable_input_require_grads()  # LoRA on a frozen base: checkpointed layers need a grad-requiring input
        monitor = RunMonitor(
            on_event=self.on_event,
            metrics_path=paths.metrics,
            is_main=procs.is_main,
            flops_per_token=flops_per_token(model, plan.block_size),
            peak_flops=peak_flops(device),
        )
        control = ControlCallback(
            cancel=self.cancel, eval_every=config.eval_every, save_every=config.save_every, world_size=procs.world_size
        )
        args = trainer_arguments(
            config,
            plan,
            precision=precision,
            device=device,
            world_size=procs.world_size,
            max_steps=self.budget.max_steps,
            output_dir=str(paths.checkpoints),
        )
        trainer = TweetTrainer(
            model=model,
            args=args,
            train_dataset=data.dataset,
            data_collator=data.collator,
            processing_class=loaded.tokenizer,
            monitor=monitor,
            valid_lines=self.splits.valid,
            eot_id=loaded.eot_id,
            pad_id=loaded.pad_id,
            checkpoints_dir=paths.checkpoints,
            keep_checkpoints=config.keep_checkpoints,
            eval_tokens=self.eval_tokens,
            callbacks=[control],
        )
        trainer.remove_callback(PrinterCallback)
        from .train_callbacks import extra_callbacks

        for callback in extra_callbacks(
            config, paths.root, is_main=procs.is_main, best=trainer.best_perplexity, best_step=trainer.best_step
        ):
            trainer.add_callback(callback)  # --report-to tensorboard, --early-stopping N
        from .training_samples import fixed_authors

        trainer.sample_authors = fixed_authors(self.splits.train)  # sampled at every evaluation, same seeds
        trainer.chunked_loss = config.loss == "chunked" or (config.loss == "auto" and cuda)
        # In one process the stop flag is checked inside every layer's forward and backward; under DDP all
        # processes must agree first, so they stop at the end of a step (ControlCallback).
        trainer.step_watch = StepWatch(
            model,
            cancel=self.cancel if procs.world_size == 1 else None,
            grad_accum=plan.grad_accum,
            on_heartbeat=lambda fraction, micro: monitor.heartbeat(
                step=trainer.state.global_step,
                total_steps=trainer.state.max_steps,
                fraction=fraction,
                micro_batch=micro,
                grad_accum=plan.grad_accum,
            ),
        )
        self.trainer = trainer
        return trainer, control, monitor

    def announce_on_begin(
        self, control, monitor, loaded, model, plan: TrainPlan, precision: str, device: str, data
    ) -> None:
        from .lora import count_parameters

        config = self.config
        trainable, total = count_parameters(model)
        description = loaded.info.describe() + (f" + LoRA r{config.lora_r}" if config.method != "full" else "")
        per_step = plan.batch_size * plan.grad_accum * self.procs.world_size
        notices = [n for n in (loaded.info.notice, self.notice, plan.change, self.budget.notice) if n]
        if config.method == "qlora" and not device.startswith("cuda"):
            notices.append(
                "QLoRA on CPU: bitsandbytes' 4/8-bit CPU kernels work but are slow; it saves memory, not time"
            )

        def announce(state) -> None:
            monitor.begin(state.global_step)
            monitor.emit(
                TrainingStarted(
                    total_steps=state.max_steps,
                    epochs=state.max_steps * per_step / max(data.examples, 1),
                    train_tokens=data.useful_tokens,
                    block_size=plan.block_size,
                    batch_size=plan.batch_size,
                    grad_accum=plan.grad_accum,
                    memory_estimate_bytes=plan.estimate_bytes,
                    device=device,
                    dtype=PRECISION_DTYPES[precision],
                    method=config.method,
                    trainable_parameters=trainable,
                    total_parameters=total,
                    resumed_from_step=state.global_step,
                    model_description=description,
                    notice="; ".join(notices) or None,
                )
            )

        control.on_begin = announce

    def train(self, trainer, control, monitor, model) -> bool:
        """Run the Trainer; True when a stop arrived inside a step (then the last completed step is saved)."""
        from .train_loop import NothingLeftToTrain, rng_restore

        try:
            trainer.train(resume_from_checkpoint=str(self.resume_from) if self.resume_from else None)
            return False
        except NothingLeftToTrain:  # resumed from the last step's checkpoint: its weights are the result
            return False
        except StepCancelled:
            pass
        finally:
            trainer.step_watch.remove()
        # The abandoned step changed nothing but gradients and the RNG: drop the first, rewind the second,
        # and keep the last completed step as a checkpoint so --resume continues exactly.
        model.zero_grad(set_to_none=True)
        if control.last_step_rng is not None:
            rng_restore(control.last_step_rng)
        control.stopped = True
        step = trainer.state.global_step
        if step > 0 and not (self.paths.checkpoints / f"{checkpoints.PREFIX}{step}").exists():
            trainer.save_stop_checkpoint()
        return True

    def finish(
        self, trainer, control, monitor, model, loaded, started: float, stopped_inside_step: bool
    ) -> TrainingFinished:
        monitor.flush()
        steps = trainer.state.global_step
        result_dir, final_step, final_is_best = "", None, False
        final_ppl = (
            monitor.last_valid_perplexity if trainer._evaluated_at and trainer._evaluated_at[0] == steps else None
        )
        if steps > 0:
            self.base_config.use_cache = True
            final_step = steps
            if self.procs.is_main:
                best = best_checkpoint(trainer)
                if best is not None:  # evaluation ran: final/ holds the lowest valid perplexity, not the last step
                    if best.step != steps:
                        self.emit(Progress(f"loading the best checkpoint (step {best.step})", 0, None))
                        # The Trainer's own resume loader: adapter (peft) or full weights, as they were saved.
                        trainer._load_from_checkpoint(str(best.path), model=model)
                    final_step, final_is_best, final_ppl = best.step, True, best.valid_perplexity
                self.emit(Progress("saving final model", 0, None))
                save_final(model, loaded, self.config, self.config.method, self.paths)
            result_dir = str(self.paths.final)
        if not stopped_inside_step:
            trainer.accelerator.wait_for_everyone()
        from .train_callbacks import early_stop_reason

        stopped_early = None if control.stopped else early_stop_reason(trainer)
        if self.procs.is_main:
            from .card import finish_card

            finish_card(
                self.paths.root,
                outcome="stopped" if control.stopped else "completed",
                steps=steps,
                seconds=time.perf_counter() - started,
                tokens_seen=monitor.tokens_seen,
                result_dir=result_dir,
                stopped_early=stopped_early,
            )
        return TrainingFinished(
            outcome="stopped" if control.stopped else "completed",
            steps=steps,
            seconds=time.perf_counter() - started,
            valid_perplexity=monitor.last_valid_perplexity,
            result_dir=result_dir,
            run_dir=str(self.paths.root),
            final_step=final_step,
            final_is_best=final_is_best,
            final_valid_perplexity=final_ppl,
            stopped_early=stopped_early,
        )
