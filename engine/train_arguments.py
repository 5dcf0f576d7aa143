"""The ``transformers.TrainingArguments`` of one attempt, from the config and the memory plan.

Its own module because it is the one place that speaks the Trainer's vocabulary (its option names change
between transformers versions) and it reads as a table: each of our settings beside the Trainer's name
for it. Evaluation, saving and logging to the console are ours (``train_loop``), so the Trainer's are off.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .train_plan import TrainPlan


def trainer_arguments(
    config, plan: TrainPlan, *, precision: str, device: str, world_size: int, max_steps: int, output_dir: str
):
    """The run's TrainingArguments: the plan's micro-batch, accumulation and checkpointing, the config's schedule."""
    cuda = device.startswith("cuda")
    return training_arguments(
        output_dir=output_dir,
        per_device_train_batch_size=plan.batch_size,
        gradient_accumulation_steps=plan.grad_accum,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=max_steps,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup,
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        eval_strategy="no",
        save_strategy="no",
        seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        log_level="error",
        log_level_replica="error",
        use_cpu=device == "cpu",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        tf32=True if cuda else None,
        optim="adamw_torch_fused",
        dataloader_pin_memory=cuda,
        remove_unused_columns=False,
        label_names=["labels"],
        torch_compile=config.compile,
        gradient_checkpointing=plan.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if plan.gradient_checkpointing else None,
        ddp_backend="gloo" if not cuda and world_size > 1 else None,
        ddp_find_unused_parameters=False,
    )


def training_arguments(**kwargs: Any):
    """TrainingArguments from the keys this transformers version knows (5.24 renamed activation checkpointing)."""
    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "activation_checkpointing" in fields:
        kwargs["activation_checkpointing"] = kwargs.pop("gradient_checkpointing")
        kwargs["activation_checkpointing_kwargs"] = kwargs.pop("gradient_checkpointing_kwargs")
    return TrainingArguments(**{k: v for k, v in kwargs.items() if k in fields})
