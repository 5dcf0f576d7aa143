"""LoRA and QLoRA: which layers get adapters for each architecture, and how the model is wrapped.

GPT-2 keeps its projections in ``Conv1D`` layers whose weight is stored transposed (in x out), so peft
must be told ``fan_in_fan_out=True``; Llama-style models (the embedded SmolLM2) use plain ``Linear``
layers named q/k/v/o and gate/up/down. The output head is never adapted (it is tied to the embedding).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from .errors import ConfigError

LLAMA_STYLE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
GPT2_STYLE = ("c_attn", "c_proj", "c_fc")


@dataclass(frozen=True)
class LoraPlan:
    target_modules: tuple[str, ...] | str  # module name suffixes, or "all-linear"
    fan_in_fan_out: bool


def lora_plan(model) -> LoraPlan:
    """The adapter targets for ``model``'s architecture (peft's "all-linear" for unknown ones)."""
    model_type = getattr(model.config, "model_type", "")
    if model_type == "gpt2":
        return LoraPlan(GPT2_STYLE, fan_in_fan_out=True)
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    if set(LLAMA_STYLE) <= names:
        return LoraPlan(LLAMA_STYLE, fan_in_fan_out=False)
    return LoraPlan("all-linear", fan_in_fan_out=False)


def apply_lora(model, *, r: int, alpha: int, dropout: float, quantized: bool, gradient_checkpointing: bool = False):
    """Wrap ``model`` with fresh trainable LoRA adapters (after k-bit preparation for a quantized model)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if r <= 0:
        raise ConfigError(f"--lora-r must be a positive rank, got {r}")
    if alpha <= 0:
        raise ConfigError(f"--lora-alpha must be positive, got {alpha}")
    if not 0 <= dropout < 1:
        raise ConfigError(f"--lora-dropout must be in [0, 1), got {dropout}")
    if quantized:
        # Casts norms to fp32 and makes the inputs require grads, so gradients reach the adapters.
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False} if gradient_checkpointing else None,
        )
    plan = lora_plan(model)
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        bias="none",
        task_type="CAUSAL_LM",
        target_modules=plan.target_modules if isinstance(plan.target_modules, str) else list(plan.target_modules),
        fan_in_fan_out=plan.fan_in_fan_out,
    )
    return get_peft_model(model, config)


def target_modules_of(model) -> list[str]:
    """The module suffixes that actually got adapters (recorded in the run's config)."""
    peft_config = getattr(model, "peft_config", {}).get("default")
    modules = getattr(peft_config, "target_modules", None) or []
    return sorted(modules) if not isinstance(modules, str) else [modules]


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameters; a 4-bit weight packs two values per stored byte, counted as such."""
    trainable = total = 0
    for param in model.parameters():
        n = param.numel()
        if param.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        if param.requires_grad:
            trainable += n
    return trainable, total


@contextmanager
def adapters_merged(model):
    """Within the block, a *copy* of the model with its LoRA updates added into the base weights, so a
    forward pass is one matmul a layer instead of three (used to score text).

    A copy, never the model itself: the app's chat streams from that very model in another thread while
    ctrl+e scores, and merging in place would let a sample read half-merged layers (and on bf16 each
    merge/unmerge round trip drifts the weights). The copy costs the model's size in memory for the
    length of the scoring (0.5 GB for the embedded model in fp32) and is freed after. A model without
    LoRA layers, or a quantised one (merging would dequantise), is used as it is: scoring only reads it."""
    import copy

    peft_config = getattr(model, "active_peft_config", None)
    quantized = getattr(getattr(model, "config", None), "quantization_config", None) is not None
    if (
        getattr(model, "merge_and_unload", None) is None
        or peft_config is None
        or peft_config.peft_type != "LORA"
        or quantized
    ):
        yield model
        return
    merged = copy.deepcopy(model).merge_and_unload()
    merged.eval()
    try:
        yield merged
    finally:
        del merged
