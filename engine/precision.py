"""Which compute precision to train in, chosen by measurement on CPUs.

GPUs: bf16 where supported, else fp16 (with loss scaling). CPUs differ too much to decide from a flag:
with AMX bf16 autocast was ~1.7x faster than fp32 for our model; on an AMD EPYC with avx512_bf16 but
no AMX the same bf16 matmuls ran at half the fp32 speed (and a 2048^3 bf16 matmul at a hundredth).
So on a CPU ``auto`` times the model's own matmul shape (a block of tokens through the MLP's up
projection) in both precisions and keeps the faster one; the answer is cached per CPU, torch version
and shape, so the measurement (well under a second) runs once per machine.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from .errors import ConfigError

PRECISION_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def choose_precision(requested: str, device: str, quantized: bool, *, hidden: int = 576, intermediate: int = 1536,
                     cache_dir: Path | None = None) -> str:
    """The precision to train in: ``requested`` checked against the device, or ``auto`` decided."""
    import torch

    cuda = str(device).startswith("cuda")
    if str(device).startswith("mps"):  # engine.device: fp32 is the precision that trains on every Mac
        if quantized:
            raise ConfigError("--quantize needs a CUDA GPU (bitsandbytes has no Apple silicon kernels); train LoRA without it")
        if requested not in ("auto", "fp32"):
            raise ConfigError(f"--precision {requested} is not supported on Apple silicon (MPS); use fp32 (the default there)")
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


def time_matmul(dtype, tokens: int, hidden: int, intermediate: int, repeats: int = 3) -> float:
    """Best seconds for one ``tokens x hidden @ hidden x intermediate`` product under ``dtype`` autocast."""
    import torch

    x = torch.randn(tokens, hidden)
    w = torch.randn(intermediate, hidden)
    best = float("inf")
    for _ in range(repeats + 1):  # the first call builds the kernel
        started = time.perf_counter()
        if dtype == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                torch.nn.functional.linear(x, w)
        else:
            torch.nn.functional.linear(x, w)
        best = min(best, time.perf_counter() - started)
    return best


def interleaved_timings(hidden: int, intermediate: int, rounds: int = 5) -> tuple[float, float]:
    """(fp32, bf16) best seconds, measured in alternating rounds: a burst of other work on the machine
    (a test run, a second training) then slows both alike instead of deciding the answer, which is
    remembered for good. Measured one after the other, a busy second once made fp32 look 260x slower."""
    fp32 = bf16 = float("inf")
    for _ in range(rounds):
        fp32 = min(fp32, time_matmul("fp32", 256, hidden, intermediate, repeats=1))
        bf16 = min(bf16, time_matmul("bf16", 256, hidden, intermediate, repeats=1))
    return fp32, bf16


def cpu_bf16_is_faster(hidden: int, intermediate: int, *, cache_dir: Path | None = None) -> bool:
    """Measure (or recall) whether bf16 autocast beats fp32 on this CPU for this matmul shape."""
    import torch

    key = f"{_cpu_name()}|torch {torch.__version__}|{torch.get_num_threads()} threads|{hidden}x{intermediate}"
    cache = (cache_dir or _default_cache_dir()) / "cpu_precision.json"
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if key in known:
        return bool(known[key]["bf16_faster"])
    fp32, bf16 = interleaved_timings(hidden, intermediate)
    faster = bf16 < 0.9 * fp32  # a clear win only: bf16 also costs a little accuracy
    known[key] = {"bf16_faster": faster, "fp32_s": fp32, "bf16_s": bf16}
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only cache only costs the measurement next time
    return faster


def _default_cache_dir() -> Path:
    from .paths import home

    return home()
