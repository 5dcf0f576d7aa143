"""Perplexity figures remembered by what they depend on, so each is computed once per model and text.

A figure depends on the split file's bytes, the base weights, the adapter's weights (when one is
loaded), how the model runs (dtype, compute precision, device kind, quantisation) and the scoring
settings (window and stride). The key is a sha256 over all of them, so the base model's perplexity on the tweets is
computed once and reused by every run on the same data, and a retrained adapter (new weights, new
hash) is never served an old figure. File hashes are remembered by (path, size, mtime) in
``$TWEETSMITH_HOME/hashes.json``, so a lookup costs no re-hash of a multi-GB weights file.

A model whose weights file cannot be found (or that was changed in memory after loading, which only
tests do) must not use this cache: callers ask for it (``tweetsmith eval``, the experiments), the plain
``perplexity_of_file`` never caches. Cancelled passes are never stored.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

from . import paths
from .card import file_sha256, weights_file
from .paths import home
from .perplexity import DEFAULT_STRIDE_TOKENS, PerplexityResult, max_len_for, perplexity_of_file
from .runs import write_json_atomic

SCORING_VERSION = 2  # bump when the definition or the way it is computed changes a figure


def cache_dir() -> Path:
    """``$TWEETSMITH_HOME/cache/perplexity`` (``engine.paths.cache_dir``)."""
    return paths.cache_dir("perplexity")


def model_fingerprint(loaded) -> str | None:
    """sha256 over the weights that produce the model's outputs and how it runs; None if unknown."""
    info = loaded.info
    weights = weights_file(info.location, info.spec)
    if weights is None:
        return None
    memo = home() / "hashes.json"
    parts = [f"weights={file_sha256(weights, memo)}", f"dtype={info.dtype}", f"device={str(info.device).split(':')[0]}"]
    # figures and samples of another precision never answer each other (fp32 keys unchanged), nor those of
    # another way of storing the model for it
    if info.precision != "fp32":
        parts += [f"precision={info.precision}", f"weights in={_dtype_counts(loaded.model)}"]
    quantization = getattr(loaded.model.config, "quantization_config", None)
    to_json_string = getattr(quantization, "to_json_string", None)  # a quantization config, or None
    parts.append(f"quantization={to_json_string() if to_json_string is not None else quantization}")
    if info.adapter:
        adapter = Path(info.adapter)
        files = sorted(adapter.glob("adapter_model.*")) + sorted(adapter.glob("adapter_config.json"))
        if not files:
            return None
        parts += [f"{f.name}={file_sha256(f, memo)}" for f in files]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _dtype_counts(model) -> str:
    """The parameters' dtypes and how many of each: how a model is stored to run in bf16 (issue 27's layout keeps
    the residual stream's norms and a few matmuls fp32, the layout of before had every weight bf16)."""
    counts: dict[str, int] = {}
    for param in model.parameters():
        counts[str(param.dtype)] = counts.get(str(param.dtype), 0) + param.numel()
    return ",".join(f"{dtype}:{n}" for dtype, n in sorted(counts.items()))


def cache_key(
    loaded, path: str | Path, stride_tokens: int, max_len_tokens: int, max_tokens: int = 0, context: str = "windowed"
) -> str | None:
    if not Path(path).is_file():
        return None  # not cached: perplexity_of_file reads it and names the problem in its error
    model = model_fingerprint(loaded)
    if model is None:
        return None
    text = file_sha256(path, home() / "hashes.json")
    cap = f"|max_tokens={max_tokens}" if max_tokens > 0 else ""  # keys of whole-file figures are unchanged
    if context != "windowed":  # the per-record figure has no window: its own key (windowed keys are unchanged)
        cap += f"|context={context}"
        stride_tokens = max_len_tokens = 0
    return hashlib.sha256(
        f"v{SCORING_VERSION}|model={model}|text={text}|stride={stride_tokens}|window={max_len_tokens}{cap}".encode()
    ).hexdigest()


def cached_perplexity_of_file(
    loaded,
    path: str | Path,
    *,
    stride_tokens: int = DEFAULT_STRIDE_TOKENS,
    batch_windows: int = 4,
    max_tokens: int = 0,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    context: str = "windowed",
) -> tuple[PerplexityResult, bool]:
    """(the figure, whether it came from the cache); computed and stored when not cached yet.

    ``max_tokens`` > 0 scores the leading records that fit in that many tokens (part of the key); a
    file that fits whole is scored, and cached, as the whole file, so both requests share one figure.
    ``batch_windows`` is not part of the key: batching changes a figure by float rounding only."""
    max_len = max_len_for(loaded.model)
    stride = min(stride_tokens, max_len)
    if max_tokens > 0 and Path(path).is_file() and _fits_whole(loaded, path, max_tokens):
        max_tokens = 0
    key = cache_key(loaded, path, stride, max_len, max_tokens, context)
    stored = cache_dir() / f"{key}.json" if key else None
    if stored is not None and stored.is_file():
        try:
            result = PerplexityResult.from_dict(json.loads(stored.read_text(encoding="utf-8")))
            return _renamed(result, path), True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: compute again and overwrite
    result = perplexity_of_file(
        loaded,
        path,
        stride_tokens=stride,
        batch_windows=batch_windows,
        max_tokens=max_tokens,
        cancel=cancel,
        on_progress=on_progress,
        context=context,
    )
    if stored is not None and not (cancel is not None and cancel.is_set()):
        write_json_atomic(stored, result.to_dict())
    return result, False


def _fits_whole(loaded, path: str | Path, max_tokens: int) -> bool:
    """Whether the file's records, each with its end of text, come to ``max_tokens`` tokens or fewer
    (tokenizing a split takes a second; scoring it, minutes)."""
    from tweetsmith.data.records import read_split_lines

    from .encoding import encode_records

    return sum(map(len, encode_records(loaded.tokenizer, read_split_lines(path), loaded.eot_id))) <= max_tokens


def _renamed(result: PerplexityResult, path: str | Path) -> PerplexityResult:
    """The cached figure under the name the caller used (the same bytes may live at another path)."""
    import dataclasses

    return dataclasses.replace(result, file=str(path))
