"""A training plan that fits in memory, measured rather than hoped for.

Before the first step we *measure* what one example costs: a forward pass of one block through the real
model (LoRA applied, the run's precision) with ``torch.autograd.graph.saved_tensors_hooks`` counting
the bytes of every tensor kept for the backward pass (each storage once, parameters excluded). That is
exact for any architecture, attention kernel and precision, where a textbook formula is off by 2-3x on
a CPU. The peak is then

    process now (weights, libraries)  + gradients and AdamW moments of the trainable weights (12 B each)
    + ALLOCATOR_OVERHEAD x batch x (saved activations of one example + the backward's transient: the
      logits' gradient and the log-softmax gradient, two fp32 vocab-wide rows per token).

The margin applies to the activations only: they are allocated and freed every step, and on a CPU
glibc keeps what the first step freed, so from the second step on the resident peak is ~1.35x the
live activations (bench/train_memory.py --steps 3: the first step's high-water is 25-40% lower than the
third's). The optimizer state is allocated once and does not fragment.

With activation checkpointing only each layer's input is kept, plus one layer recomputed in full.

``plan_training`` compares that with the memory available now and, if the requested shape does not fit,
keeps the effective batch and tries, in order: a smaller micro-batch with more accumulation, activation
checkpointing, a shorter block (with more examples per step, so tokens per step stay the same). It
refuses with one line naming the flags only when nothing fits.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import TrainingError

ALLOCATOR_OVERHEAD = 1.35  # glibc arenas keeping freed activations, oneDNN scratch (default CPU run: 6.6-6.7 GiB from step 2)
HEADROOM = 0.90  # use at most this share of what is available: the OS, the app and the page cache need some
CPU_DEFAULT_BLOCK = 256  # best useful tokens/s for tweets on CPU (bench/train_cpu_settings.py)
CPU_DEFAULT_TOKENS_PER_MICRO_BATCH = 2048


@dataclass(frozen=True)
class MemoryProfile:
    """What a run of one model at one block length costs, measured by ``probe_memory``."""

    fixed_bytes: int  # the process now: libraries, weights (and a frozen base's quantized copy)
    state_bytes: int  # gradients + AdamW's two moments of the trainable weights, fp32
    example_bytes: int  # tensors saved for backward by one example of ``block_size`` tokens
    checkpointed_example_bytes: int  # the same with activation checkpointing
    transient_example_bytes: int  # the backward's peak extra per example (vocab-wide gradients)
    block_size: int

    def estimate(self, batch_size: int, gradient_checkpointing: bool) -> int:
        per_example = self.checkpointed_example_bytes if gradient_checkpointing else self.example_bytes
        activations = batch_size * (per_example + self.transient_example_bytes)
        return int(self.fixed_bytes + self.state_bytes + ALLOCATOR_OVERHEAD * activations)


@dataclass(frozen=True)
class TrainPlan:
    batch_size: int
    grad_accum: int
    block_size: int
    gradient_checkpointing: bool
    estimate_bytes: int
    available_bytes: int | None
    change: str | None = None  # one line saying what was changed and why, None when run as asked

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum * self.block_size


def default_shape(device: str, context_tokens: int, batch_size: int, block_size: int) -> tuple[int, int]:
    """(batch, block) when the user left them at their defaults (0 block = automatic).

    On CUDA the longest block the model takes, up to 1024. On a CPU long blocks cost attention time and
    memory for nothing (a tweet is ~30 tokens and packing fills any block): 256 tokens, the fastest
    per useful token measured, with the same 2,048 tokens per micro-batch."""
    if block_size:
        return batch_size, block_size
    if str(device).startswith("cuda"):
        return batch_size, min(1024, context_tokens)
    block = min(CPU_DEFAULT_BLOCK, context_tokens)
    return batch_size, block


def _process_rss_bytes() -> int:
    try:
        pages = int(Path(f"/proc/{os.getpid()}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def available_now(device: str) -> int | None:
    """Bytes the run may use: CUDA's free memory plus what this process holds; on CPU MemAvailable plus our RSS."""
    if str(device).startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free + torch.cuda.memory_allocated(torch.device(device)))
    try:
        meminfo = Path("/proc/meminfo").read_text()
        free_kb = next(int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None
    return free_kb * 1024 + _process_rss_bytes()


def saved_tensor_bytes(model, block_size: int, *, autocast_dtype=None) -> int:
    """Bytes kept for the backward pass by one example of ``block_size`` tokens, by running one forward pass.

    Each storage is counted once; parameters and buffers (saved by every matmul) are not counted, since
    they live anyway."""
    import torch

    device = next(model.parameters()).device
    own = {p.untyped_storage().data_ptr() for p in model.parameters()}
    own |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    seen: dict[int, int] = {}

    def pack(tensor):
        try:
            storage = tensor.untyped_storage()
            ptr = storage.data_ptr()
            if ptr not in own and ptr not in seen:
                seen[ptr] = storage.nbytes()
        except (RuntimeError, NotImplementedError):  # sparse or meta tensors: not ours to count
            pass
        return tensor

    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    ids = torch.randint(3, max(vocab - 1, 4), (1, block_size), device=device)
    was_training = model.training
    model.train()
    autocast = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else contextlib.nullcontext()
    try:
        with torch.enable_grad(), autocast, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(input_ids=ids, labels=ids).loss
        del loss
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return sum(seen.values())


def probe_memory(model, block_size: int, *, precision: str, trainable_parameters: int, device: str) -> MemoryProfile:
    """Measure the memory terms of ``MemoryProfile`` for this model, block and precision.

    With activation checkpointing each layer keeps only its input (block x hidden values) and one layer
    at a time is recomputed in full; the head's share (the fp32 log-probabilities) stays."""
    import torch

    from .step_watch import transformer_layers

    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    example = saved_tensor_bytes(model, block_size, autocast_dtype=autocast)
    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    hidden = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "n_embd", 0) or 0)
    layers = max(len(transformer_layers(model)), 1)
    head = min(block_size * vocab * 4, example)
    one_layer = (example - head) // layers
    value_bytes = 2 if autocast is not None else 4
    checkpointed = head + one_layer + layers * block_size * hidden * value_bytes
    transient = 2 * block_size * vocab * 4  # grad of the log-probabilities and of the logits, fp32
    if str(device).startswith("cuda"):
        fixed = int(torch.cuda.memory_allocated(torch.device(device)))
    else:
        fixed = _process_rss_bytes()
    return MemoryProfile(
        fixed_bytes=fixed, state_bytes=12 * trainable_parameters, example_bytes=example,
        checkpointed_example_bytes=checkpointed, transient_example_bytes=transient, block_size=block_size,
    )


def candidates(batch_size: int, grad_accum: int, block_size: int, checkpointing: bool, min_block: int = 64):
    """Shapes with the same tokens per optimizer step, in the order we prefer them."""
    smaller = [b for b in range(batch_size, 0, -1) if batch_size % b == 0]  # micro-batches that divide the batch
    # 1. smaller micro-batches, more accumulation
    for batch in smaller:
        yield batch, grad_accum * batch_size // batch, block_size, checkpointing
    # 2. activation checkpointing, again from the requested micro-batch down
    if not checkpointing:
        for batch in smaller:
            yield batch, grad_accum * batch_size // batch, block_size, True
    # 3. shorter blocks, twice the examples per step, checkpointing on, micro-batch 1
    block, examples = block_size, batch_size * grad_accum
    while block // 2 >= min_block:
        block, examples = block // 2, examples * 2
        yield 1, examples, block, True


def plan_training(*, batch_size: int, grad_accum: int, block_size: int, gradient_checkpointing: bool,
                  profile_for, available: int | None, device: str) -> TrainPlan:
    """The first candidate whose estimate fits in ``HEADROOM`` of ``available`` (the request when it fits or
    when nothing is known). ``profile_for(block)`` returns the ``MemoryProfile`` of a block length."""
    profiles: dict[int, MemoryProfile] = {}

    def estimate(batch: int, block: int, ckpt: bool) -> int:
        if block not in profiles:
            profiles[block] = profile_for(block)
        return profiles[block].estimate(batch, ckpt)

    asked = estimate(batch_size, block_size, gradient_checkpointing)
    plan = TrainPlan(batch_size, grad_accum, block_size, gradient_checkpointing, asked, available)
    if available is None or asked <= HEADROOM * available:
        return plan
    budget = HEADROOM * available
    for batch, accum, block, ckpt in candidates(batch_size, grad_accum, block_size, gradient_checkpointing):
        need = estimate(batch, block, ckpt)
        if need <= budget:
            changes = []
            if batch != batch_size:
                changes.append(f"--batch-size {batch} --grad-accum {accum}")
            if ckpt and not gradient_checkpointing:
                changes.append("--gradient-checkpointing")
            if block != block_size:
                changes.append(f"--block-size {block}")
            where = "GPU" if str(device).startswith("cuda") else "RAM"
            line = (f"{_gib(asked)} needed for {batch_size} x {block_size} tokens but {_gib(available)} of {where} "
                    f"available: training with {' '.join(changes)} instead (~{_gib(need)}, same tokens per step)")
            return replace(plan, batch_size=batch, grad_accum=accum, block_size=block, gradient_checkpointing=ckpt,
                           estimate_bytes=need, change=line)
    raise TrainingError(
        f"this run needs ~{_gib(estimate(1, max(64, block_size // 8), True))} even at --batch-size 1 with "
        f"--gradient-checkpointing and a short --block-size, but only {_gib(available)} is available: "
        "use --lora or --quantize 4bit, a smaller model, or free memory"
    )


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"
