"""Resolve a model spec and load model + tokenizer ready for the device.

A spec is a hub id (default ``gpt2-medium``), a local HF directory, a ``.gguf`` file, or
``smollm2-135m`` (the embedded offline model). A hub model that is neither in the HF cache nor
reachable falls back to the embedded model with a one-line notice, unless fallback is off.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .embedded import EMBEDDED_SPEC, embedded_ready, ensure_embedded
from .errors import ModelError
from .precision import PRECISION_DTYPES
from .run_record import RunRecord
from .runs import RunPaths
from .tokens import SpecialTokens, configure_tokenizer

DEFAULT_MODEL = "gpt2-medium"
KNOWN_SPECS = ("gpt2-medium", "gpt2", "gpt2-large", "gpt2-xl", EMBEDDED_SPEC)
HUB_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ResolvedSpec:
    """Where a spec's weights come from, before anything heavy is loaded."""

    spec: str
    location: str  # hub id or local directory
    source: str  # "hub", "cache", "local", "gguf" or "embedded"
    gguf_file: str | None = None
    notice: str | None = None  # one plain line for the user, e.g. about a fallback


@dataclass(frozen=True)
class ModelInfo:
    """A plain description of what was loaded (shown in the app's header and the CLI)."""

    spec: str
    name: str
    source: str
    location: str
    parameters: int
    device: str
    dtype: str
    adapter: str | None = None
    notice: str | None = None
    # compute precision of scoring and sampling: "fp32", "bf16" or "fp16" (part of every cached result's key)
    precision: str = "fp32"
    precision_notice: str | None = None  # the decision and why, when ``load_model`` was asked to make one

    def describe(self) -> str:
        adapter = f" + adapter {self.adapter}" if self.adapter else ""
        return (
            f"{self.name}{adapter} ({self.parameters / 1e6:.0f}M params, {self.source}) on {self.device} {self.dtype}"
        )


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    info: ModelInfo
    special: SpecialTokens

    @property
    def eot_id(self) -> int:
        return self.special.eot_id

    @property
    def pad_id(self) -> int:
        return self.special.pad_id

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def context_tokens(self) -> int:
        """The model's context length in tokens; 1024 when its config names none (or names None: a config may
        carry the attribute unset, and ``int(None)`` would fail every generation and training on it)."""
        config = self.model.config
        positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        return int(positions) if positions else 1024


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Probe the hub's host once per process; DNS and connect together bounded by ``timeout_s``.

    ``from_pretrained`` on an unreachable hub retries for ~50 s; this answers in seconds.
    """
    if hub_offline():
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo ignores timeouts: bound it here
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])


def in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # noqa: BLE001 - a malformed id is simply not cached
        return False


def _with_sdpa(load, location: str, kwargs: dict[str, Any]):
    """``load(location, **kwargs)`` asking for PyTorch's fused attention (SDPA) by name, so a checkpoint
    whose config names another implementation, or a library default that changes, cannot quietly give the
    slower eager attention; an architecture without SDPA support loads with its own attention."""
    try:
        return load(location, **kwargs, attn_implementation="sdpa")
    except ValueError as err:
        if "sdpa" not in str(err).lower() and "scaled_dot_product" not in str(err).lower():
            raise
        return load(location, **kwargs)


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".gguf") or spec.startswith((".", "/", "~")) or os.sep in spec and Path(spec).exists()


def resolve_spec(
    spec: str, *, allow_fallback: bool = True, progress: Callable[[str], None] = lambda _m: None
) -> ResolvedSpec:
    """Decide where ``spec``'s weights come from (fast: no model is loaded)."""
    spec = (spec or DEFAULT_MODEL).strip()
    if spec == EMBEDDED_SPEC:
        return ResolvedSpec(spec, str(ensure_embedded(progress)), "embedded")
    path = Path(spec).expanduser()
    if path.exists() or _looks_like_path(spec):
        return _resolve_path(spec, path)
    if in_hf_cache(spec):
        return ResolvedSpec(spec, spec, "cache")
    if hub_reachable():
        return ResolvedSpec(spec, spec, "hub")
    why = "HF_HUB_OFFLINE is set" if hub_offline() else "the Hugging Face Hub is unreachable"
    if not allow_fallback:
        raise ModelError(
            f"model {spec!r} is not in the HF cache and {why}; use --model {EMBEDDED_SPEC} or connect and retry"
        )
    notice = f"{spec} is not cached and {why}: using the embedded offline model {EMBEDDED_SPEC} instead"
    return ResolvedSpec(EMBEDDED_SPEC, str(ensure_embedded(progress)), "embedded", notice=notice)


def _resolve_path(spec: str, path: Path) -> ResolvedSpec:
    if not path.exists():
        raise ModelError(
            f"{spec}: no such file or directory; give a hub id, a model directory, a .gguf file or {EMBEDDED_SPEC}"
        )
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelError(
                f"{spec}: a model file must be .gguf; for safetensors give the directory holding config.json"
            )
        return ResolvedSpec(spec, str(path.parent), "gguf", gguf_file=path.name)
    if (path / "config.json").is_file():
        return ResolvedSpec(spec, str(path), "local")
    if (path / "adapter_config.json").is_file():
        raise ModelError(f"{spec} holds a LoRA adapter, not a model; pass it with --adapter and the base with --model")
    if RunPaths(path).final.is_dir():  # a run directory: its tuned model
        return _resolve_path(spec, RunPaths(path).final)
    raise ModelError(f"{spec}: no config.json in this directory; point at a Hugging Face model directory")


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    adapter: str | Path | None = None,
    allow_fallback: bool = True,
    device: str | None = None,
    quantize: str | None = None,
    trainable_adapter: bool = False,
    dtype: str | None = None,
    precision: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> LoadedModel:
    """Load the model and tokenizer for ``spec`` on the best device, optionally with a LoRA adapter.

    ``quantize`` is None, "4bit" (NF4) or "8bit" (bitsandbytes; runs on CPU too, slowly).
    ``dtype`` ("float32", "bfloat16", ...) overrides the device's default, e.g. fp32 master weights
    for full fine-tuning on a GPU.
    ``precision`` ("auto", "bf16", "fp16", "fp32"; None: the device's default dtype, as before) is the
    precision to score and sample in (``engine.precision.choose_inference_precision``): with "auto" on a
    CPU the weights load in fp32 and go to bf16 when the probe finds bf16 faster here. A quantized model
    keeps bitsandbytes' own compute precision.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .device import DevicePlan, pick_device
    from .precision import choose_inference_precision, matmul_shape, store_for_bf16_inference

    resolved = resolve_spec(spec, allow_fallback=allow_fallback, progress=progress)
    plan = pick_device(device)
    if dtype is not None:
        plan = DevicePlan(plan.device, dtype)
    choice = None
    if precision is not None and dtype is None and not quantize and not _decided_after_loading(precision, plan.device):
        choice = choose_inference_precision(precision, plan.device)
        plan = DevicePlan(plan.device, choice.dtype_name)
    kwargs: dict[str, Any] = {"dtype": torch.float32 if _bf16_on_cpu(choice, plan.device) else plan.dtype}
    if resolved.gguf_file:
        kwargs["gguf_file"] = resolved.gguf_file
    if resolved.source in ("cache", "local", "embedded", "gguf"):
        kwargs["local_files_only"] = True
    if quantize:
        kwargs["quantization_config"] = quantization_config(quantize, plan.dtype)
        if plan.device.startswith("cuda"):
            kwargs["device_map"] = {"": plan.device}
    progress(f"loading {resolved.spec} ({resolved.source})")
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.location, **_tok_kwargs(kwargs))
        model = _with_sdpa(AutoModelForCausalLM.from_pretrained, resolved.location, kwargs)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"could not load model {spec!r} from {resolved.location}: {str(err).splitlines()[0]}"
        ) from None
    if resolved.gguf_file:  # dequantized fp weights that still claim to be GGUF-quantized
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    if not quantize:
        model.to(plan.device)
    if precision is not None and dtype is None and not quantize and _decided_after_loading(precision, plan.device):
        choice = choose_inference_precision(precision, plan.device, shape=matmul_shape(model.config))
        plan = DevicePlan(plan.device, choice.dtype_name)
    special = configure_tokenizer(tokenizer)
    if _bf16_on_cpu(choice, plan.device):
        store_for_bf16_inference(model, [special.eot_id])
    if choice is not None:
        progress(choice.notice)
    model.generation_config.pad_token_id = special.pad_id
    model.generation_config.eos_token_id = special.eot_id
    if adapter is not None:
        model = attach_adapter(model, adapter, trainable=trainable_adapter)
    model.eval()
    info = ModelInfo(
        spec=resolved.spec,
        name=Path(resolved.location).name if resolved.source in ("local", "embedded") else resolved.spec,
        source=resolved.source,
        location=resolved.location,
        parameters=sum(p.numel() for p in model.parameters()),
        device=plan.device,
        dtype=("4bit" if quantize == "4bit" else "8bit" if quantize == "8bit" else plan.dtype_name),
        adapter=str(adapter) if adapter is not None else None,
        notice=resolved.notice,
        precision=choice.precision if choice is not None else precision_of(plan.dtype_name),
        precision_notice=choice.notice if choice is not None else None,
    )
    return LoadedModel(model=model, tokenizer=tokenizer, info=info, special=special)


def _bf16_on_cpu(choice, device: str) -> bool:
    """Scoring and sampling in bf16 on a CPU: the model loads in fp32, then ``store_for_bf16_inference`` stores
    its matmuls in bf16 and keeps its residual stream fp32 (issue 27)."""
    return choice is not None and choice.precision == "bf16" and device == "cpu"


def _decided_after_loading(precision: str, device: str) -> bool:
    """``auto`` on a CPU is measured at the model's own shape, read from the loaded model."""
    return precision == "auto" and not str(device).startswith(("cuda", "mps"))


def precision_of(dtype_name: str) -> str:
    """ "fp32", "bf16" or "fp16" for a dtype name ("float32", ...)."""
    return {name: short for short, name in PRECISION_DTYPES.items()}.get(dtype_name, dtype_name)


def _tok_kwargs(kwargs: dict) -> dict:
    return {k: v for k, v in kwargs.items() if k in ("gguf_file", "local_files_only")}


def quantization_config(quantize: str, compute_dtype):
    from transformers import BitsAndBytesConfig

    if quantize == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=True,
        )
    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ModelError(f"unknown quantization {quantize!r}; use 4bit or 8bit")


def attach_adapter(model, adapter: str | Path, *, trainable: bool = False):
    """Wrap ``model`` with the LoRA adapter saved in ``adapter`` (peft's API: transformers 5.24's needs peft >= 0.22)."""
    from peft import PeftModel

    adapter = Path(adapter)
    if (RunPaths(adapter).final / "adapter_config.json").is_file():
        adapter = RunPaths(adapter).final
    if not (adapter / "adapter_config.json").is_file():
        raise ModelError(
            f"{adapter}: no adapter_config.json; give a run directory trained with --lora or its final/ folder"
        )
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)


def available_offline(spec: str) -> bool:
    """Whether ``spec`` loads without the network (for ``tweetsmith models``)."""
    if spec == EMBEDDED_SPEC:
        return embedded_ready()
    if Path(spec).expanduser().exists():
        return True
    return in_hf_cache(spec)


def load_run_model(run_dir: str | Path, *, tuned: bool = True, **kwargs):
    """Load a run's base model (``tuned=False``) or its fine-tuned result: base + adapter, or the full model."""
    record = RunRecord.read(run_dir)
    paths = RunPaths(Path(run_dir))
    if not tuned:
        return load_model(record.model, **kwargs)
    if not paths.final.is_dir():
        raise ModelError(f"{run_dir}: no final/ model yet; finish training or pass --resume to continue it")
    if (paths.final / "adapter_config.json").is_file():
        return load_model(record.model, adapter=paths.final, quantize=record.quantize, **kwargs)
    return load_model(str(paths.final), **kwargs)
