"""How many browser tabs ``tweetsmith serve`` lets in at once (``--max-sessions``, and its default).

Every tab runs its own app process, and every app loads its own copy of the model: nothing is shared, so
a few tabs more than the memory holds and the kernel kills apps (exit 137, nothing said). The default
cap is what the memory available now holds (``engine.memory.available_bytes``: MemAvailable, or the
memory cgroup's limit where that is lower) divided by one app's footprint:

    APP_RUNTIME_BYTES + 2 x the model's weights in fp32

The runtime is Python, torch, transformers and textual with the app's screens, measured (below); the
weights are counted twice because an app holds the base and the tuned model together once ctrl+b or /ab
has loaded both. A training started from a tab needs several GiB more (engine.memory's estimate):
lower ``--max-sessions`` when tabs train.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Resident memory of a served app process, less its model's fp32 weights. Measured (ps RSS) with the
# embedded SmolLM2-135M (0.50 GiB of weights) on this 2-core CPU machine: 0.51 GiB once loaded, 1.04 GiB
# after streaming three samples, 1.54 GiB once a perplexity evaluation (ctrl+e) ran: 1.04 GiB beside the
# weights, as allocator arenas keep what generation and evaluation used.
APP_RUNTIME_BYTES = int(1.1 * 2**30)
# Parameters of the models a spec can name without a path (from each model's config).
KNOWN_PARAMETERS = {
    "gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
    "smollm2-135m": 134_515_008,
}
UNKNOWN_SPEC_PARAMETERS = KNOWN_PARAMETERS["gpt2-medium"]  # a hub id not in the cache: assume the default's size
FP32_BYTES = 4


@dataclass(frozen=True)
class SessionCap:
    """The cap and how it was reached, for the banner."""

    sessions: int
    app_bytes: int | None  # None: --max-sessions was given
    available_bytes: int | None
    model: str


def session_cap(max_sessions: int | None, model: str | None, run_dir: str | None) -> SessionCap:
    """``max_sessions`` when given, else what the available memory holds for an app with its model, at least 1."""
    from tweetsmith.engine.memory import available_bytes
    from tweetsmith.engine.models import DEFAULT_MODEL

    spec = model or (_run_model(run_dir) if run_dir else None) or DEFAULT_MODEL
    if max_sessions is not None:
        return SessionCap(max_sessions, None, None, spec)
    app = APP_RUNTIME_BYTES + 2 * weight_bytes(spec)
    available = available_bytes("cpu")
    sessions = max(1, available // app) if available else 1
    return SessionCap(sessions, app, available, spec)


def weight_bytes(spec: str) -> int:
    """The fp32 bytes of ``spec``'s weights: a known name, a model directory, a .gguf file, a run directory
    (its base model), or a hub id in the Hugging Face cache; anything else counts as the default model."""
    path = Path(spec).expanduser()
    if spec.lower() in KNOWN_PARAMETERS:
        return KNOWN_PARAMETERS[spec.lower()] * FP32_BYTES
    if path.is_file() and path.suffix == ".gguf":
        return _gguf_parameters(path) * FP32_BYTES
    if path.is_dir():
        base = _run_model(str(path))
        if base is not None and base != spec:
            return weight_bytes(base)
        return _directory_weight_bytes(path)
    cached = _hf_cached_dir(spec)
    if cached is not None:
        return _directory_weight_bytes(cached)
    return UNKNOWN_SPEC_PARAMETERS * FP32_BYTES


def _run_model(run_dir: str) -> str | None:
    """The base model spec a run records (None: not a run, such as a model folder with its own config.json)."""
    from tweetsmith.engine.run_record import RunRecord, is_tweetsmith_run

    return RunRecord.read(run_dir).model if is_tweetsmith_run(run_dir) else None


def _directory_weight_bytes(directory: Path) -> int:
    """The weight files' sizes, scaled to fp32 when config.json says they are stored in 16 bits."""
    files = [p for pattern in ("*.safetensors", "*.bin", "*.gguf") for p in directory.glob(pattern)]
    stored = sum(p.stat().st_size for p in files if p.suffix != ".gguf")
    stored += sum(_gguf_parameters(p) * FP32_BYTES for p in files if p.suffix == ".gguf")
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32") if isinstance(config, dict) else ""
    return stored * (2 if dtype in ("float16", "bfloat16") else 1) or UNKNOWN_SPEC_PARAMETERS * FP32_BYTES


def _gguf_parameters(path: Path) -> int:
    from gguf import GGUFReader

    return sum(int(tensor.n_elements) for tensor in GGUFReader(str(path)).tensors)


def _hf_cached_dir(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        config = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - a malformed id is simply not cached
        return None
    return Path(config).parent if isinstance(config, str) else None
