"""A training plan that fits in memory, measured rather than hoped for.

Before the first step we *measure* what an example costs: forward passes of one and of two blocks through
the real model (LoRA applied, the run's precision) with ``torch.autograd.graph.saved_tensors_hooks``
counting the bytes of every tensor kept for the backward pass (each storage once, parameters excluded).
That is exact for any architecture, attention kernel and precision, where a textbook formula is off by
2-3x on a CPU. The difference of the two passes is one example's cost; what the one-block pass saved
beyond it is paid once per micro-batch whatever its size: under autocast, the bf16 copies of the
weights that the matmuls save (265 MiB for the embedded model; counting them per example put the bf16
estimate 50% over the peak). The peak is then

    process after the probe (weights, libraries)  + gradients and AdamW moments of the trainable weights (12 B each)
    + overhead x (per micro-batch + batch x (saved activations of one example + the backward's transient:
      the logits' gradient and the log-softmax gradient, two fp32 vocab-wide rows per token)).

The overhead is the allocator's. On CUDA it is ``ALLOCATOR_OVERHEAD``. On a CPU glibc keeps the freed
tensors of a step in its heap (activation-sized tensors are below its 32 MiB mmap threshold) and reuses
them unevenly, so resident memory runs above the live bytes by an amount that depends on how many
full-size temporaries the forward makes: LoRA's adapter branch adds two or three per adapted layer (its
output, the scaling, the sum), in fp32 twice the bytes of bf16. Measured (bench/train_memory.py
--cpu-plan --steps 3, embedded model, 8 x 256 tokens; RSS above fixed and state / live bytes): LoRA fp32
1.57, LoRA bf16 1.29, full fp32 1.05, full bf16 0.99; with activation checkpointing LoRA fp32 1.97-2.22,
LoRA bf16 1.21, full fp32 1.38. ``CPU_ALLOCATOR_OVERHEAD`` holds these with a margin, so the estimate is
never under the measured peak and at most ~25% over it. (With ``MALLOC_MMAP_THRESHOLD_=1048576`` the
LoRA fp32 checkpointed peak of one step fell from 3.5 to 2.6 GiB: the excess is the heap's, not live tensors.)

Small micro-batches meet a second peak: the evaluation. It runs with the heap the steps left (their
activations' share, not the vocab-wide gradients, which are mmapped and returned) and adds the chunked
head's logits and log-probabilities and a batch of 1,024-token windows (``EVAL_HEAD_ROWS``). The default
run in a 4 GiB cgroup (LoRA fp32, 2 x 4 x 256) peaked at 2.69 GiB over its whole epoch and evaluation
while its training terms came to 2.5 GiB; at 2 x 256 with --eval the bench saw evaluation 0.07 (fp32) and
0.24 GiB (bf16) above the steps' peak. The estimate is the larger of the steps' peak and this one; it also
covers the probe's own (2.1-2.3 GiB here), which a batch-1 estimate would be under otherwise.

The probe used to return each saved tensor itself from its pack hook; a tensor an op saves from its own
output then held its grad_fn, which held it, and that cycle through C++ leaked every probe's activations
(+0.6 GiB resident for the rest of the run). It now returns a detached alias.

With activation checkpointing only each layer's input is kept, plus one layer recomputed in full.

``plan_training`` compares that with the memory available now (on a CPU the smaller of MemAvailable and
what the process's memory cgroup leaves, engine/memory_limits.py) and, if the requested shape does not
fit, keeps the effective batch and tries, in order: a smaller micro-batch with more accumulation,
activation checkpointing, a shorter block (with more examples per step, so tokens per step stay the
same). It refuses with one line naming the flags only when nothing fits. The line names the cgroup's
limit when that is the tighter bound.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import TrainingError
from .memory_limits import cpu_memory_budget, process_rss

ALLOCATOR_OVERHEAD = 1.35  # CUDA (its caching allocator), and anything not measured below
# Resident bytes per live activation byte on a CPU (glibc's heap), by (adapters, precision, checkpointing):
# the measured ratio (peak RSS - fixed - state) / live activations of bench/train_memory.py --steps 3 on the
# embedded model at 256 tokens, with a margin over the largest one seen (the figures are in the docstring).
CPU_ALLOCATOR_OVERHEAD = {
    (True, "fp32", False): 1.65,  # measured 1.57 at 8 x 256, 1.36 at 4 x 256
    (True, "bf16", False): 1.40,  # measured 1.29 at 8, 1.29 at 4, 1.26 at 2
    (False, "fp32", False): 1.20,  # measured 1.05
    (False, "bf16", False): 1.20,  # measured 0.99
    (True, "fp32", True): 2.40,  # measured 1.97 and 2.22 in two runs at 8 x 256
    (True, "bf16", True): 1.40,  # measured 1.21
    (False, "fp32", True): 1.60,  # measured 1.38
    (False, "bf16", True): 1.60,  # not measured: as fp32
}
# An evaluation (valid perplexity, every --eval-every steps and at the end) runs with the heap the steps
# left and adds its own: the chunked head's fp32 logits and log-probabilities over 1,024 tokens and the
# layers' temporaries of 4 x 1,024-token windows, four vocab-wide rows of a chunk in all (768 MiB here).
EVAL_HEAD_ROWS = 4
HEADROOM = 0.90  # use at most this share of what is available: the OS, the app and the page cache need some
CPU_DEFAULT_BLOCK = 256  # best useful tokens/s for tweets on CPU (bench/train_cpu_settings.py)
CPU_DEFAULT_TOKENS_PER_MICRO_BATCH = 2048


@dataclass(frozen=True)
class MemoryProfile:
    """What a run of one model at one block length costs, measured by ``probe_memory``."""

    fixed_bytes: int  # the process after the probe: libraries, weights (and a frozen base's quantized copy)
    state_bytes: int  # gradients + AdamW's two moments of the trainable weights, fp32
    example_bytes: int  # tensors saved for backward by one example of ``block_size`` tokens
    checkpointed_example_bytes: int  # the same with activation checkpointing
    transient_example_bytes: int  # the backward's peak extra per example (vocab-wide gradients)
    block_size: int
    step_bytes: int = 0  # saved once per micro-batch whatever its size: autocast's bf16 copies of the weights
    overhead: float = ALLOCATOR_OVERHEAD  # resident bytes per live activation byte
    checkpointed_overhead: float = ALLOCATOR_OVERHEAD  # the same with activation checkpointing
    eval_bytes: int = 0  # what an evaluation adds on top of the heap the steps leave (see the module docstring)

    def estimate(self, batch_size: int, gradient_checkpointing: bool) -> int:
        per_example = self.checkpointed_example_bytes if gradient_checkpointing else self.example_bytes
        overhead = self.checkpointed_overhead if gradient_checkpointing else self.overhead
        kept = self.step_bytes + batch_size * per_example
        steps = overhead * (kept + batch_size * self.transient_example_bytes)
        evaluation = overhead * kept + self.eval_bytes
        return int(self.fixed_bytes + self.state_bytes + max(steps, evaluation))


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


def _release_free_heap() -> None:
    """Give the heap's free pages back to the OS (glibc ``malloc_trim``; nothing elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Available(int):
    """Bytes available to a run, carrying what bounds them for the notice: "cgroup limit 4.0 GiB" when a
    memory cgroup (container, Slurm job, notebook) is tighter than the host, else None."""

    bound: str | None

    def __new__(cls, value: int, bound: str | None = None):
        obj = super().__new__(cls, value)
        obj.bound = bound
        return obj


def available_now(device: str, *, root: str | Path = "/") -> Available | None:
    """Bytes the run may use: CUDA's free memory plus what this process holds; on CPU the smaller of
    MemAvailable and what the process's memory cgroup leaves, each plus our RSS (engine/memory_limits.py).
    ``root`` is where /proc and /sys are read (tests point it at a fake tree)."""
    if str(device).startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return Available(int(free + torch.cuda.memory_allocated(torch.device(device))))
    budget = cpu_memory_budget(root)
    return Available(budget.bytes, budget.bound) if budget is not None else None


def saved_tensor_bytes(model, block_size: int, *, autocast_dtype=None, batch_size: int = 1) -> int:
    """Bytes kept for the backward pass by a micro-batch of ``batch_size`` examples of ``block_size`` tokens,
    by running one forward pass.

    Each storage is counted once; parameters and buffers (saved by every matmul) are not counted, since
    they live anyway. Under autocast the low-precision copies of the weights that the matmuls save are
    counted: they are made again for every micro-batch (see ``probe_memory``)."""
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
        # Detached: the same storage stays alive until the graph goes (so no address is counted twice), but
        # not the tensor itself. Returned as is, a tensor an op saves from its own output (log_softmax,
        # SiLU, ...) would hold its grad_fn, which holds it: a cycle through C++ that no gc frees. That
        # leaked every probe's activations (+0.6 GiB resident per probe of one 256-token example).
        return tensor.detach()

    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    ids = torch.randint(3, max(vocab - 1, 4), (batch_size, block_size), device=device)
    was_training = model.training
    model.train()
    autocast = (
        torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else contextlib.nullcontext()
    )
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

    from .perplexity import HEAD_CHUNK_TOKENS
    from .step_watch import transformer_layers

    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    one = saved_tensor_bytes(model, block_size, autocast_dtype=autocast)
    two = saved_tensor_bytes(model, block_size, autocast_dtype=autocast, batch_size=2)
    example = max(two - one, 0)
    step = max(one - example, 0)  # the weights' low-precision copies under autocast, once per micro-batch
    if str(device).startswith("cuda"):
        fixed = int(torch.cuda.memory_allocated(torch.device(device)))
    else:  # after the probe (which pages in weights loaded lazily), its freed heap handed back first
        _release_free_heap()
        fixed = process_rss()
    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    hidden = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "n_embd", 0) or 0)
    layers = max(len(transformer_layers(model)), 1)
    head = min(block_size * vocab * 4, example)
    one_layer = (example - head) // layers
    value_bytes = 2 if autocast is not None else 4
    checkpointed = head + one_layer + layers * block_size * hidden * value_bytes
    transient = 2 * block_size * vocab * 4  # grad of the log-probabilities and of the logits, fp32
    overhead = checkpointed_overhead = ALLOCATOR_OVERHEAD
    eval_bytes = EVAL_HEAD_ROWS * HEAD_CHUNK_TOKENS * vocab * 4
    if not str(device).startswith("cuda"):
        key = (hasattr(model, "peft_config"), "fp32" if autocast is None else "bf16")
        overhead = CPU_ALLOCATOR_OVERHEAD.get((*key, False), ALLOCATOR_OVERHEAD)
        checkpointed_overhead = CPU_ALLOCATOR_OVERHEAD.get((*key, True), ALLOCATOR_OVERHEAD)
    return MemoryProfile(
        fixed_bytes=fixed,
        state_bytes=12 * trainable_parameters,
        example_bytes=example,
        checkpointed_example_bytes=checkpointed,
        transient_example_bytes=transient,
        block_size=block_size,
        step_bytes=step,
        overhead=overhead,
        checkpointed_overhead=checkpointed_overhead,
        eval_bytes=eval_bytes,
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


def plan_training(
    *,
    batch_size: int,
    grad_accum: int,
    block_size: int,
    gradient_checkpointing: bool,
    profile_for,
    available: int | None,
    device: str,
) -> TrainPlan:
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
            line = (
                f"{_gib(asked)} needed for {batch_size} x {block_size} tokens but {_available_text(available, device)}: "
                f"training with {' '.join(changes)} instead (~{_gib(need)}, same tokens per step)"
            )
            return replace(
                plan,
                batch_size=batch,
                grad_accum=accum,
                block_size=block,
                gradient_checkpointing=ckpt,
                estimate_bytes=need,
                change=line,
            )
    raise TrainingError(
        f"this run needs ~{_gib(estimate(1, max(64, block_size // 8), True))} even at --batch-size 1 with "
        f"--gradient-checkpointing and a short --block-size, but only {_available_text(available, device)}: "
        "use --lora or --quantize 4bit, a smaller model, or free memory"
    )


def _available_text(available: int, device: str) -> str:
    """ "4.0 GiB of RAM available", naming a cgroup limit when it is the tighter bound."""
    bound = getattr(available, "bound", None)
    where = "GPU" if str(device).startswith("cuda") else "RAM"
    return f"{_gib(available)} of {where} available" + (f" ({bound})" if bound else "")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"
