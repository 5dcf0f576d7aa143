"""One training attempt: load, tokenize, build the Trainer, train, save final/. ``engine.train`` retries it
with half the micro-batch (and twice the accumulation) after a CUDA out-of-memory error.
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import shutil
import time
from pathlib import Path
from typing import Any

from . import checkpoints
from .errors import ConfigError
from .runs import write_json_atomic, write_text_atomic
from .train import MAX_DEFAULT_BLOCK
from .train_events import TrainingFinished, TrainingStarted

FINAL_STAGING = ".final.incomplete"
PRECISION_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def choose_precision(requested: str, device: str, quantized: bool) -> str:
    """bf16 on GPUs that have it (else fp16) and on CPUs with native bf16 matrix units (AMX), else fp32."""
    import torch

    cuda = device.startswith("cuda")
    if requested == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        fast_bf16 = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
        return "bf16" if fast_bf16 and not quantized else "fp32"  # bitsandbytes' CPU kernels want fp32
    if requested == "fp16" and not cuda:
        raise ConfigError("--precision fp16 needs a GPU; use bf16 or fp32 on CPU")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError("this GPU has no bf16; use --precision fp16")
    return requested


def load_dtype(method: str, precision: str, device: str) -> str:
    """fp32 master weights for full fine-tuning (autocast does bf16 math); a frozen base may stay in bf16/fp16."""
    if method == "full" or not device.startswith("cuda"):
        return "float32"
    return PRECISION_DTYPES[precision]


def is_out_of_memory(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(err)


def is_disk_full(err: BaseException | None) -> bool:
    """ENOSPC however it surfaces: OSError, torch.save's RuntimeError, safetensors' StorageFull."""
    seen = 0
    while err is not None and seen < 5:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        text = str(err)
        if "No space left on device" in text or "StorageFull" in text or "file write failed" in text:
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def clean_partial_writes(paths) -> None:
    checkpoints.clear_staging(paths.checkpoints)
    shutil.rmtree(paths.root / FINAL_STAGING, ignore_errors=True)


def training_arguments(**kwargs: Any):
    """TrainingArguments from the keys this transformers version knows (5.24 renamed activation checkpointing)."""
    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "activation_checkpointing" in fields:
        kwargs["activation_checkpointing"] = kwargs.pop("gradient_checkpointing")
        kwargs["activation_checkpointing_kwargs"] = kwargs.pop("gradient_checkpointing_kwargs")
    return TrainingArguments(**{k: v for k, v in kwargs.items() if k in fields})


class TrainAttempt:
    def __init__(self, config, splits, paths, procs, *, batch_size: int, grad_accum: int, resume_from: Path | None,
                 on_event, cancel, notice: str | None):
        self.config, self.splits, self.paths, self.procs = config, splits, paths, procs
        self.batch_size, self.grad_accum, self.resume_from = batch_size, grad_accum, resume_from
        self.on_event, self.cancel, self.notice = on_event, cancel, notice
        self.trainer = self.model = None

    def release(self) -> None:
        import torch

        self.trainer = self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def run(self, started: float) -> TrainingFinished:
        import torch
        from transformers import PrinterCallback, set_seed

        from .lora import apply_lora, count_parameters, target_modules_of
        from .memory import available_bytes, estimate_training_bytes, flops_per_token, gib, peak_flops
        from .models import load_model
        from .train_data import build_train_data, encode_cached
        from .train_loop import ControlCallback, RunMonitor, TweetTrainer

        config, paths, procs = self.config, self.paths, self.procs
        method = config.method
        cuda = torch.cuda.is_available()
        device = (f"cuda:{procs.local_rank}" if procs.world_size > 1 else "cuda") if cuda else "cpu"
        if cuda and procs.world_size > 1:
            torch.cuda.set_device(procs.local_rank)
        precision = choose_precision(config.precision, device, config.quantize is not None)
        loaded = load_model(config.model, allow_fallback=config.allow_fallback, device=device, quantize=config.quantize,
                            dtype=load_dtype(method, precision, device))
        model = loaded.model
        block_size = config.block_size or min(MAX_DEFAULT_BLOCK, loaded.context_tokens)
        if block_size > loaded.context_tokens:
            raise ConfigError(f"--block-size {block_size} exceeds {loaded.info.name}'s context of {loaded.context_tokens} tokens")
        encoded = encode_cached(loaded.tokenizer, self.splits.train, loaded.eot_id, cache_dir=paths.root / "cache",
                                name="train", write=procs.is_main)
        data = build_train_data(encoded, block_size=block_size, pack=config.pack, pad_id=loaded.pad_id)
        set_seed(config.seed)  # LoRA's initial weights
        if method == "full":
            model.requires_grad_(True)
        else:
            model = apply_lora(model, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout,
                               quantized=method == "qlora", gradient_checkpointing=config.gradient_checkpointing)
        model.train()
        base_config = model.get_base_model().config if method != "full" else model.config
        base_config.use_cache = False  # no KV cache while training; restored before saving final/
        self.model = model
        trainable, total = count_parameters(model)
        compute_bytes = 4 if precision == "fp32" else 2
        estimate = estimate_training_bytes(model, batch_size=self.batch_size, block_size=block_size,
                                           compute_bytes=compute_bytes, gradient_checkpointing=config.gradient_checkpointing)
        notices = [n for n in (loaded.info.notice, self.notice) if n]
        available = available_bytes(device)
        if available is not None and estimate > available:
            notices.append(f"this run may not fit: about {gib(estimate)} needed, {gib(available)} available; try "
                           "--lora, --gradient-checkpointing, a smaller --batch-size or --block-size")
        if method == "qlora" and not cuda:
            notices.append("QLoRA on CPU: bitsandbytes' 4/8-bit CPU kernels work but are slow; it saves memory, not time")

        resolved_spec = loaded.info.spec
        if Path(resolved_spec).expanduser().exists():
            resolved_spec = str(Path(resolved_spec).expanduser().resolve())
        record = _config_record(config, model=resolved_spec, method=method, lr=config.learning_rate,
                                block_size=block_size, batch_size=self.batch_size, grad_accum=self.grad_accum,
                                world_size=procs.world_size, precision=precision, device=device, data=self.splits.data_dir,
                                target_modules=target_modules_of(model) if method != "full" else [],
                                eot_id=loaded.eot_id, pad_id=loaded.pad_id, train_tokens=data.useful_tokens,
                                resumed_from=str(self.resume_from) if self.resume_from else None)
        if procs.is_main:
            paths.root.mkdir(parents=True, exist_ok=True)
            checkpoints.clear_staging(paths.checkpoints)
            write_json_atomic(paths.config, record)
            if self.resume_from is None:
                paths.metrics.unlink(missing_ok=True)
            else:  # lines logged after the checkpoint (before a kill) would come again: drop them
                trim_metrics(paths.metrics, checkpoints.step_of(self.resume_from))

        monitor = RunMonitor(on_event=self.on_event, metrics_path=paths.metrics, is_main=procs.is_main,
                             flops_per_token=flops_per_token(model, block_size), peak_flops=peak_flops(device))
        control = ControlCallback(cancel=self.cancel, eval_every=config.eval_every, save_every=config.save_every,
                                  world_size=procs.world_size)
        args = training_arguments(
            output_dir=str(paths.checkpoints), per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=self.grad_accum, learning_rate=config.learning_rate,
            num_train_epochs=config.epochs, max_steps=config.max_steps or -1, lr_scheduler_type=config.lr_scheduler,
            warmup_steps=config.warmup, logging_strategy="steps", logging_steps=config.logging_steps,
            eval_strategy="no", save_strategy="no", seed=config.seed, report_to="none", disable_tqdm=True,
            log_level="error", log_level_replica="error", use_cpu=not cuda, bf16=precision == "bf16",
            fp16=precision == "fp16", tf32=True if cuda else None, optim="adamw_torch_fused",
            dataloader_pin_memory=cuda, remove_unused_columns=False, label_names=["labels"],
            torch_compile=config.compile, gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
            ddp_backend="gloo" if not cuda and procs.world_size > 1 else None, ddp_find_unused_parameters=False,
        )
        trainer = TweetTrainer(
            model=model, args=args, train_dataset=data.dataset, data_collator=data.collator,
            processing_class=loaded.tokenizer, monitor=monitor, valid_lines=self.splits.valid, eot_id=loaded.eot_id,
            pad_id=loaded.pad_id, checkpoints_dir=paths.checkpoints, keep_checkpoints=config.keep_checkpoints,
            callbacks=[control],
        )
        trainer.remove_callback(PrinterCallback)
        self.trainer = trainer
        description = loaded.info.describe() + (f" + LoRA r{config.lora_r}" if method != "full" else "")
        per_step = self.batch_size * self.grad_accum * procs.world_size

        def announce(state) -> None:
            monitor.begin(state.global_step)
            monitor.emit(TrainingStarted(
                total_steps=state.max_steps, epochs=state.max_steps * per_step / max(data.examples, 1),
                train_tokens=data.useful_tokens, block_size=block_size, batch_size=self.batch_size,
                grad_accum=self.grad_accum, memory_estimate_bytes=estimate, device=device,
                dtype=PRECISION_DTYPES[precision], method=method, trainable_parameters=trainable,
                total_parameters=total, resumed_from_step=state.global_step, model_description=description,
                notice="; ".join(notices) or None,
            ))

        control.on_begin = announce
        if self.cancel is not None and self.cancel.is_set():
            return TrainingFinished("stopped", 0, time.perf_counter() - started, None, "", str(paths.root))
        trainer.train(resume_from_checkpoint=str(self.resume_from) if self.resume_from else None)
        monitor.flush()
        steps = trainer.state.global_step
        result_dir = ""
        if steps > 0:
            base_config.use_cache = True
            if procs.is_main:
                save_final(model, loaded, config, method, paths)
            result_dir = str(paths.final)
        trainer.accelerator.wait_for_everyone()
        return TrainingFinished(
            outcome="stopped" if control.stopped else "completed", steps=steps,
            seconds=time.perf_counter() - started, valid_perplexity=monitor.last_valid_perplexity,
            result_dir=result_dir, run_dir=str(paths.root),
        )


def trim_metrics(path: Path, max_step: int) -> None:
    """Keep the metrics lines of steps up to ``max_step`` (atomically)."""
    import json

    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= max_step]
    if len(kept) != len(lines):
        write_text_atomic(path, "".join(line + "\n" for line in kept))


def _config_record(config, **resolved) -> dict:
    record = dataclasses.asdict(config)
    record["requested_model"] = config.model
    record.update(resolved)
    return record


def save_final(model, loaded, config, method: str, paths) -> None:
    """final/: the adapter (plus tokenizer), the full model, or with ``merge`` the merged full model; swapped in atomically."""
    staged = paths.root / FINAL_STAGING
    shutil.rmtree(staged, ignore_errors=True)
    if method != "full" and config.merge:
        model = _merged(model, loaded, config, method, paths)
    model.save_pretrained(staged)
    loaded.tokenizer.save_pretrained(staged)
    if paths.final.exists():
        old = paths.root / ".final.old"
        shutil.rmtree(old, ignore_errors=True)
        paths.final.rename(old)
        staged.rename(paths.final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(paths.final)


def _merged(model, loaded, config, method: str, paths):
    """LoRA merged into the base; a quantized base is reloaded in full precision first (merging into 4-bit loses the update)."""
    if method == "lora":
        return model.merge_and_unload()
    from peft import PeftModel

    from .models import load_model

    adapter_dir = paths.root / ".adapter.incomplete"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(adapter_dir)
    base = load_model(loaded.info.spec, allow_fallback=config.allow_fallback, dtype="float32", device="cpu").model
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    shutil.rmtree(adapter_dir, ignore_errors=True)
    return merged
