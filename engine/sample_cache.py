"""Batches of samples remembered by what they depend on, so a killed compare, sweep or assignment
resumes at the batch it was in, and a retrained model is never served its predecessor's samples.

A batch's key is a sha256 over the model's fingerprint (base weights, adapter weights, dtype, compute
precision, device kind, quantisation: ``perplexity_cache.model_fingerprint``), the sampling settings, the batch's prompts
and seeds, and ``DECODE_VERSION``. Each finished batch is written atomically as one JSON file, so a
kill loses at most the batch that was running. A model without a fingerprint (weights changed in
memory, which only tests do) is sampled without the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable, Sequence

from tweetsmith.data.records import prompt_for

from .decode_loop import DECODE_VERSION
from .generate import DEFAULT_BATCH_SIZE, generate_samples
from .paths import cache_dir
from .perplexity_cache import model_fingerprint
from .runs import write_json_atomic
from .sample_record import Sample
from .sampling import SamplingConfig


def batch_key(fingerprint: str, config: SamplingConfig, prompts: Sequence[str], seeds: Sequence[int]) -> str:
    settings = json.dumps(dataclasses.replace(config, seed=0).to_dict(), sort_keys=True)
    payload = json.dumps([DECODE_VERSION, fingerprint, settings, list(prompts), list(seeds)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def cached_generate_samples(
    loaded,
    authors: Sequence[str],
    config: SamplingConfig = SamplingConfig(),
    *,
    text: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Sample]:
    """``generate_samples`` with every finished batch stored and read back: the same samples, computed once.

    Sample i still uses seed ``config.seed + i``; on cancel, returns the samples of the batches that finished.
    """
    config = config.validated()
    fingerprint = model_fingerprint(loaded)
    if fingerprint is None:
        return generate_samples(
            loaded, authors, config, text=text, batch_size=batch_size, cancel=cancel, on_progress=on_progress
        )
    samples: list[Sample] = []
    for start in range(0, len(authors), max(batch_size, 1)):
        if cancel is not None and cancel.is_set():
            break
        chunk = list(authors[start : start + batch_size])
        seeds = [config.seed + start + j for j in range(len(chunk))]
        stored = (
            cache_dir("samples") / f"{batch_key(fingerprint, config, [prompt_for(a, text) for a in chunk], seeds)}.json"
        )
        batch = _read(stored)
        if batch is None:
            shifted = dataclasses.replace(config, seed=config.seed + start)
            batch = generate_samples(loaded, chunk, shifted, text=text, batch_size=len(chunk), cancel=cancel)
            if len(batch) < len(chunk):
                break  # cancelled inside the batch: nothing of it is kept
            batch = [dataclasses.replace(s, config=config) for s in batch]
            write_json_atomic(stored, {"samples": [s.to_dict() for s in batch]})
        samples.extend(batch)
        if on_progress:
            on_progress(len(samples), len(authors))
    return samples


def _read(path) -> list[Sample] | None:
    """A stored batch, or None when there is none (or it cannot be read: it is computed again)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [Sample.from_dict(d) for d in raw["samples"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
