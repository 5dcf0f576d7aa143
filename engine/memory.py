"""How much memory a training run needs, how much the device has, and how well it uses a GPU (MFU).

The estimate is deliberately simple (it is a warning, not an allocator): weights as loaded, plus for
every trainable parameter an fp32 gradient and AdamW's two fp32 moments, plus activations per layer
(Korthikanti et al. 2022: about 34 * tokens * hidden values per layer with fused attention; two values
per layer with activation checkpointing), plus the fp32 logits and their gradient, plus 10% overhead.

MFU = useful tokens/s * model FLOPs per token / the device's dense bf16 peak. Model FLOPs per token =
6 * (matmul parameters) + 12 * layers * hidden * block (the attention scores and their backward),
the nanoGPT/PaLM count; with frozen weights (LoRA) their weight gradients are not computed, so frozen
matmul parameters count 4 instead of 6.
"""

from __future__ import annotations

# Dense bf16 tensor-core peak in FLOP/s (no sparsity), by a substring of the device name.
PEAK_BF16_FLOPS = (("H200", 989e12), ("H100", 989e12), ("H800", 989e12), ("A100", 312e12), ("A800", 312e12))


def _config_int(config, *names: str, default: int = 0) -> int:
    for name in names:
        value = getattr(config, name, None)
        if value:
            return int(value)
    return default


def model_shape(model) -> tuple[int, int, int]:
    """(layers, hidden, vocab) of a causal LM config (GPT-2 or Llama naming)."""
    config = model.config
    layers = _config_int(config, "n_layer", "num_hidden_layers", default=1)
    hidden = _config_int(config, "n_embd", "hidden_size", default=1)
    vocab = _config_int(config, "vocab_size", default=1)
    return layers, hidden, vocab


def matmul_parameters(model) -> tuple[int, int]:
    """(all, trainable) weights used in matrix multiplies: Linear, GPT-2's Conv1D, 4/8-bit Linear, LoRA.

    Embedding lookups cost no FLOPs; a head tied to the embedding is a Linear module and counts once.
    """
    total = trainable = 0
    for module in model.modules():
        if module.__class__.__name__ not in (
            "Linear",
            "Conv1D",
            "Linear4bit",
            "Linear8bitLt",
            "NonDynamicallyQuantizableLinear",
        ):
            continue
        if hasattr(module, "base_layer"):  # a LoRA wrapper: its base layer and adapters are counted themselves
            continue
        weight = getattr(module, "weight", None)
        if weight is None:
            continue
        in_f, out_f = getattr(module, "in_features", None), getattr(module, "out_features", None)
        n = int(in_f * out_f) if in_f and out_f else weight.numel()
        total += n
        if weight.requires_grad:
            trainable += n
    return total, trainable


def flops_per_token(model, block_size: int) -> float:
    """Training FLOPs per token (forward + backward), see the module docstring."""
    total, trainable = matmul_parameters(model)
    layers, hidden, _ = model_shape(model)
    frozen = total - trainable
    return 6.0 * trainable + 4.0 * frozen + 12.0 * layers * hidden * block_size


def peak_flops(device: str) -> float | None:
    """The dense bf16 peak of the CUDA device, or None (CPU, or a GPU not in the table)."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    return next((peak for key, peak in PEAK_BF16_FLOPS if key in name), None)


def mfu(tokens_per_s: float, flops_per_token_: float, peak: float | None) -> float | None:
    if not peak or tokens_per_s <= 0:
        return None
    return tokens_per_s * flops_per_token_ / peak


def estimate_training_bytes(
    model, *, batch_size: int, block_size: int, compute_bytes: int, gradient_checkpointing: bool
) -> int:
    """Memory the run should need on its device (see the module docstring for the terms)."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer_and_grads = trainable * (4 + 8)
    layers, hidden, vocab = model_shape(model)
    tokens = batch_size * block_size
    per_layer_values = 2 * hidden if gradient_checkpointing else 34 * hidden
    activations = tokens * layers * per_layer_values * compute_bytes // 2
    if gradient_checkpointing:  # one layer is recomputed with its full activations
        activations += tokens * 34 * hidden * compute_bytes // 2
    logits = tokens * vocab * (compute_bytes + 4 + 4)  # logits, fp32 copy for the loss, its gradient
    return int(1.1 * (weights + optimizer_and_grads + activations + logits))


def available_bytes(device: str) -> int | None:
    """Memory the run can use: the GPU's total, or on CPU the smaller of what the OS has free and what our memory
    cgroup leaves, plus what we already hold (engine/memory_limits.py, shared with the training plan)."""
    if str(device).startswith("cuda"):
        import torch

        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    from .memory_limits import cpu_memory_budget

    budget = cpu_memory_budget()
    return budget.bytes if budget is not None else None


def gib(n_bytes: int | float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"
