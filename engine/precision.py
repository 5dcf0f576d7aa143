"""Which compute precision to train in, chosen by measurement on CPUs.

GPUs: bf16 where supported, else fp16 (with loss scaling). CPUs differ too much to decide from a flag:
with AMX bf16 autocast was ~1.7x faster than fp32 for our model; on an AMD EPYC with avx512_bf16 but
no AMX the same bf16 matmuls ran at half the fp32 speed (and a 2048^3 bf16 matmul at a hundredth).
So on a CPU ``auto`` times the model's own matmul shape (a block of tokens through the MLP's up
projection) in both precisions and keeps the faster one; the answer is cached per CPU, torch version
and shape, so the measurement (well under a second) runs once per machine.

Scoring and sampling decide the same way (``choose_inference_precision``), at their own shapes: a sampling
step (64 rows) and a scoring window (1,024 tokens), with the weights stored in bf16 as the model then is
(no per-call cast). Their log-softmax and sums stay in fp32 (the callers upcast the logits).

How a model is stored for bf16 on a CPU (``store_for_bf16_inference``, issue 27): the matmuls' weights and the
embeddings in bf16, everything between the matmuls as fp32 as the model allows. Storing every weight in bf16
(as before) also made the residual stream bf16, and every record is scored after end-of-text alone: that
first position holds the attention sink's massive activations. In SmolLM2-135M its residual stream reaches
20,600 in one channel from layer 12 to 28 (the other positions: 120-1,100), written by the MLP down
projections of layers 2 and 11 and taken out again by those of 28 and 29. bf16 holds 20,600 to the nearest
128, and the first prediction, of the ``\\`` that opens every record, moved by +0.31 nats (+1.2% on the
per-record perplexity of 800 tweets of ~29 tokens by itself; the author names after it took back some).
Emulating the roundings one kind at a time in fp32 located it: the weights' rounding alone moved the first
prediction by 0.01 nats; the matmuls' bf16 inputs and outputs, with an fp32 residual stream, by 0.06; the same
with the four down projections that write the massive values in fp32, by 0.002. Hence, at load:

- the residual stream fp32: the embeddings' lookups are upcast, so every matmul's bf16 output is added into
  fp32; the norms keep fp32 weights, compute in fp32 and hand the matmuls bf16 (one cast each, as before);
- rotary angles cast to bf16, so queries and keys stay bf16 (as before: attention and the KV cache in bf16,
  no cast of the cache per sampled token);
- the matmuls whose largest output on the end-of-text token alone is ``MASSIVE_OUTPUT_RATIO`` times the
  median matmul's stay fp32 (``massive_matmuls``; SmolLM2-135M: the 4 down projections above, 2.6% of
  the weights, 3.5M parameters: 276 MB stored against 269 MB all-bf16).

What remains is bf16's rounding of the matmuls' inputs and outputs, which averages out: on the first 800
records of the assignment's tweets the per-record perplexity moved by +0.01% (valid) and -0.01% (test)
against fp32, the windowed one by +0.02% (the layout of before: +0.48%, +0.49%, +0.15%; README and
bench/bf16_error.py). A model with a module this layout does not know (its check pass raises) falls back to
the layout of before.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import option
from .errors import ConfigError

PRECISION_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
PRECISION_CHOICES = ("auto", "bf16", "fp16", "fp32")


def choose_precision(
    requested: str,
    device: str,
    quantized: bool,
    *,
    hidden: int = 576,
    intermediate: int = 1536,
    cache_dir: Path | None = None,
) -> str:
    """The precision to train in: ``requested`` checked against the device, or ``auto`` decided."""
    import torch

    cuda = str(device).startswith("cuda")
    if str(device).startswith("mps"):  # engine.device: fp32 is the precision that trains on every Mac
        if quantized:
            raise ConfigError(
                "--quantize needs a CUDA GPU (bitsandbytes has no Apple silicon kernels); train LoRA without it"
            )
        if requested not in ("auto", "fp32"):
            raise ConfigError(
                f"--precision {requested} is not supported on Apple silicon (MPS); use fp32 (the default there)"
            )
        return "fp32"
    if requested == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if quantized:  # bitsandbytes' CPU kernels want fp32
            return "fp32"
        return "bf16" if cpu_bf16_is_faster(hidden, intermediate, cache_dir=cache_dir) else "fp32"
    if requested == "fp16" and not cuda:
        raise ConfigError("--precision fp16 needs a GPU; use bf16 or fp32 on CPU")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError("this GPU has no bf16; use --precision fp16")
    return requested


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_matmul(dtype, tokens: int, hidden: int, intermediate: int, repeats: int = 3, *, stored: bool = False) -> float:
    """Best seconds for one ``tokens x hidden @ hidden x intermediate`` product under ``dtype`` autocast
    (training: fp32 weights cast per call), or with ``stored`` both operands already in bf16 (inference,
    where the model is loaded in bf16)."""
    import torch

    x = torch.randn(tokens, hidden)
    w = torch.randn(intermediate, hidden)
    if dtype == "bf16" and stored:
        x, w = x.bfloat16(), w.bfloat16()
    best = float("inf")
    for _ in range(repeats + 1):  # the first call builds the kernel
        started = time.perf_counter()
        if dtype == "bf16" and not stored:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                torch.nn.functional.linear(x, w)
        else:
            torch.nn.functional.linear(x, w)
        best = min(best, time.perf_counter() - started)
    return best


def interleaved_timings(
    hidden: int, intermediate: int, rounds: int = 5, *, tokens: int = 256, stored: bool = False
) -> tuple[float, float]:
    """(fp32, bf16) best seconds, measured in alternating rounds: a burst of other work on the machine
    (a test run, a second training) then slows both alike instead of deciding the answer, which is
    remembered for good. Measured one after the other, a busy second once made fp32 look 260x slower."""
    fp32 = bf16 = float("inf")
    for _ in range(rounds):
        fp32 = min(fp32, time_matmul("fp32", tokens, hidden, intermediate, repeats=1))
        bf16 = min(bf16, time_matmul("bf16", tokens, hidden, intermediate, repeats=1, stored=stored))
    return fp32, bf16


def cpu_bf16_is_faster(hidden: int, intermediate: int, *, cache_dir: Path | None = None) -> bool:
    """Measure (or recall) whether bf16 autocast beats fp32 on this CPU for this matmul shape."""
    return bool(cpu_matmul_timings(hidden, intermediate, cache_dir=cache_dir)["bf16_faster"])


def cpu_matmul_timings(
    hidden: int, intermediate: int, *, tokens: int = 256, stored: bool = False, cache_dir: Path | None = None
) -> dict:
    """The probe's entry for this CPU, torch, thread count and shape, measured once and remembered:
    ``{"bf16_faster": bool, "fp32_s": float, "bf16_s": float}``."""
    import torch

    key = f"{_cpu_name()}|torch {torch.__version__}|{torch.get_num_threads()} threads|{hidden}x{intermediate}"
    if tokens != 256 or stored:  # training's keys (256 tokens, autocast) are unchanged
        key += f"|{tokens} tokens" + ("|bf16 weights" if stored else "")
    cache = (cache_dir or _default_cache_dir()) / "cpu_precision.json"
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    fp32, bf16 = interleaved_timings(hidden, intermediate, tokens=tokens, stored=stored)
    faster = bf16 < 0.9 * fp32  # a clear win only: bf16 also costs a little accuracy
    known[key] = entry = {"bf16_faster": faster, "fp32_s": fp32, "bf16_s": bf16}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only cache only costs the measurement next time
    return entry


def _default_cache_dir() -> Path:
    from .paths import home

    return home()


# --- scoring and sampling ---------------------------------------------------------------------------

# The shapes inference runs at: a sampling step of 64 rows (generate's default batch) and one scoring
# window of 1,024 tokens. bf16 must win at both, so neither the chat nor an evaluation gets slower.
INFERENCE_PROBE_TOKENS = {"sampling": 64, "scoring": 1024}


@dataclass(frozen=True)
class InferenceSettings:
    """How scoring and sampling run; the commands' ``--precision`` flag and the app's are built from it."""

    precision: str = option(
        "auto",
        "compute precision of scoring and sampling (auto: bf16 on a CPU where it measures faster, once "
        "per machine, and on GPUs; else fp32. fp32 gives the full-precision figures of earlier versions)",
        choices=PRECISION_CHOICES,
    )


@dataclass(frozen=True)
class InferencePrecision:
    """The precision a model is loaded in to score and sample, and why (``notice``: one line for the user)."""

    precision: str  # "fp32", "bf16" or "fp16"
    reason: str

    @property
    def dtype_name(self) -> str:
        return PRECISION_DTYPES[self.precision]

    @property
    def notice(self) -> str:
        return f"precision: {self.precision} ({self.reason})"


def matmul_shape(config) -> tuple[int, int]:
    """(hidden, intermediate) of a model config: the MLP's up projection, the shape the probes time."""
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None) or 576
    inner = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    return int(hidden), int(inner)


def choose_inference_precision(
    requested: str, device: str, *, shape: tuple[int, int] | None = None, cache_dir: Path | None = None
) -> InferencePrecision:
    """``requested`` ("auto", "bf16", "fp16" or "fp32") checked against the device, or ``auto`` decided.

    GPUs: bf16 where supported, else fp16 (what models always loaded in there). Apple silicon: fp32. CPUs:
    bf16 when the probe (``cpu_matmul_timings`` at ``shape``, the model's ``matmul_shape``) finds it clearly
    faster at both inference shapes, else fp32."""
    import torch

    if requested not in PRECISION_CHOICES:
        raise ConfigError(f"--precision {requested}: unknown; choose one of {', '.join(PRECISION_CHOICES)}")
    cuda = str(device).startswith("cuda")
    if str(device).startswith("mps"):
        if requested not in ("auto", "fp32"):
            raise ConfigError(
                f"--precision {requested} is not supported on Apple silicon (MPS); use fp32 (the default there)"
            )
        return InferencePrecision("fp32", "Apple silicon runs fp32")
    if requested == "fp16" and not cuda:
        raise ConfigError("--precision fp16 needs a GPU; use bf16 or fp32 on CPU")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ConfigError("this GPU has no bf16; use --precision fp16")
    if requested != "auto":
        return InferencePrecision(requested, "--precision " + requested)
    if cuda:
        return (
            InferencePrecision("bf16", "the GPU's")
            if torch.cuda.is_bf16_supported()
            else InferencePrecision("fp16", "the GPU's")
        )
    if shape is None:
        raise ValueError("choose_inference_precision: auto on a CPU needs the model's matmul shape")
    entries = inference_timings(shape, cache_dir=cache_dir)
    speedups = ", ".join(f"{e['fp32_s'] / max(e['bf16_s'], 1e-12):.1f}x for {use}" for use, e in entries.items())
    if all(e["bf16_faster"] for e in entries.values()):
        return InferencePrecision(
            "bf16", f"measured on this CPU: bf16 matmuls {speedups}; --precision fp32 for full precision"
        )
    return InferencePrecision("fp32", f"measured on this CPU: bf16 matmuls {speedups}, not clearly faster")


def inference_timings(shape: tuple[int, int], *, cache_dir: Path | None = None) -> dict[str, dict]:
    """The probe's entries (``cpu_matmul_timings``, bf16 weights) at each of ``INFERENCE_PROBE_TOKENS``."""
    return {
        use: cpu_matmul_timings(*shape, tokens=tokens, stored=True, cache_dir=cache_dir)
        for use, tokens in INFERENCE_PROBE_TOKENS.items()
    }


# --- how a model is stored to score and sample in bf16 ----------------------------------------------

# A matmul whose largest output on the end-of-text token alone is this many times the median matmul's is
# kept fp32: those few write the attention sink's massive activations (SmolLM2-135M: four MLP down
# projections, up to 20,000 against a median of 2.8), and bf16 rounds such a value by up to 1/512 of it.
MASSIVE_OUTPUT_RATIO = 256.0


def store_for_bf16_inference(model, probe_ids: Sequence[int]) -> str:
    """Store a loaded fp32 ``model`` in place to score and sample in bf16 on a CPU: the matmuls' weights
    (and the embeddings') in bf16, so the products run at bf16 speed with no cast of a weight per call;
    the residual stream in fp32, the norms computing in fp32 and handing their output to the matmuls in
    bf16 (one cast each, as before); rotary angles in bf16 so keys and values stay bf16; and the few
    matmuls that write massive activations (``massive_matmuls``, found on ``probe_ids``) kept in fp32.

    Returns "fp32 residual", or "all bf16" when a check pass fails on a module this does not know (every
    weight is then bf16, the layout of before, which runs any model)."""
    import torch

    keep = massive_matmuls(model, probe_ids)
    hooks: list = []
    weights: dict[int, Any] = {}
    for name, module in model.named_modules():
        if _is_matmul(module):
            if name in keep:
                hooks.append(module.register_forward_pre_hook(_inputs_to_fp32))
            else:
                weights.update((id(p), p) for p in module.parameters(recurse=False))
        elif isinstance(module, torch.nn.Embedding):
            weights[id(module.weight)] = module.weight
            hooks.append(module.register_forward_hook(_output_to(torch.float32)))
        elif type(module).__name__.endswith("Norm"):
            hooks.append(module.register_forward_hook(_output_to(torch.bfloat16)))
        elif type(module).__name__.endswith("RotaryEmbedding"):
            hooks.append(module.register_forward_hook(_output_to(torch.bfloat16)))
    kept = {id(p) for name in keep for p in model.get_submodule(name).parameters(recurse=False)}
    for key, param in weights.items():
        if key not in kept:  # a weight tied to a kept matmul stays fp32 with it
            param.data = param.data.to(torch.bfloat16)
    try:
        _check_pass(model, probe_ids)
    except (RuntimeError, TypeError):  # a mixed-precision op this layout does not know: the layout of before
        for hook in hooks:
            hook.remove()
        cast_parameters(model, torch.bfloat16)
        return "all bf16"
    return "fp32 residual"


def massive_matmuls(model, probe_ids: Sequence[int], ratio: float = MASSIVE_OUTPUT_RATIO) -> set[str]:
    """Names of the matmul modules whose largest |output| on ``probe_ids`` (fp32) is ``ratio`` times the median's."""
    import torch

    peaks: dict[str, float] = {}
    hooks = [
        module.register_forward_hook(lambda _m, _i, out, name=name: peaks.__setitem__(name, float(out.abs().max())))
        for name, module in model.named_modules()
        if _is_matmul(module)
    ]
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor([list(probe_ids)], device=_device(model)))
    finally:
        for hook in hooks:
            hook.remove()
    if not peaks:
        return set()
    median = sorted(peaks.values())[len(peaks) // 2]
    return {name for name, peak in peaks.items() if peak >= ratio * median}


def cast_parameters(model, dtype) -> None:
    """The weights in ``dtype``, rounded once, as ``from_pretrained(dtype=...)`` would load them. Buffers keep
    theirs: ``model.to(bf16)`` would also round RoPE's fp32 ``inv_freq`` (its angles are fp32 on purpose)."""
    for param in model.parameters():
        if param.is_floating_point() and param.dtype != dtype:
            param.data = param.data.to(dtype)


def _is_matmul(module) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"  # GPT-2's transposed Linear


def _inputs_to_fp32(_module, args):
    return tuple(a.float() if _is_float_tensor(a) else a for a in args)


def _output_to(dtype):
    def hook(_module, _args, output):
        if isinstance(output, tuple):
            return tuple(o.to(dtype) if _is_float_tensor(o) else o for o in output)
        return output.to(dtype) if _is_float_tensor(output) else output

    return hook


def _is_float_tensor(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor) and value.is_floating_point()


def _device(model):
    return next(model.parameters()).device


def _check_pass(model, probe_ids: Sequence[int]) -> None:
    """One padded batch (two rows, the second one token shorter) through the stored model."""
    import torch

    ids = torch.tensor([list(probe_ids) * 2] * 2, device=_device(model))
    mask = torch.ones_like(ids)
    mask[1, -1] = 0
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask)
