"""Sample batches cached by model weights, settings, prompts and seeds: the same samples, drawn once."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest

from tweetsmith.engine import sample_cache
from tweetsmith.engine.generate import generate_samples
from tweetsmith.engine.models import load_model
from tweetsmith.engine.sample_cache import cached_generate_samples
from tweetsmith.engine.sampling import SamplingConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

AUTHORS = ["paulg", "sama", "paulg", "pmarca", "sama"]
CONFIG = SamplingConfig(max_new_tokens=6, seed=7)


def _texts(samples):
    return [(s.author, s.seed, s.text) for s in samples]


def _batches() -> set[Path]:
    return set((Path(os.environ["TWEETSMITH_CACHE"]) / "samples").glob("*.json"))


def test_cached_batches_equal_fresh_ones_and_are_read_back(tiny_llama_dir, monkeypatch):
    model = load_model(str(tiny_llama_dir))
    fresh = generate_samples(model, AUTHORS, CONFIG, batch_size=2)
    first = cached_generate_samples(model, AUTHORS, CONFIG, batch_size=2)
    assert _texts(first) == _texts(fresh) and all(s.config == CONFIG for s in first)
    assert len(_batches()) == 3  # 2 + 2 + 1

    def refuse(*args, **kwargs):
        raise AssertionError("a cached batch was drawn again")

    monkeypatch.setattr(sample_cache, "generate_samples", refuse)
    assert _texts(cached_generate_samples(model, AUTHORS, CONFIG, batch_size=2)) == _texts(fresh)


def test_other_settings_or_weights_are_other_batches(tiny_llama_dir, tuned_run_factory, small_splits, tmp_path):
    base = load_model(str(tiny_llama_dir))
    cached_generate_samples(base, AUTHORS, CONFIG, batch_size=5)
    assert len(_batches()) == 1
    cached_generate_samples(base, AUTHORS, dataclasses.replace(CONFIG, temperature=0.5), batch_size=5)
    assert len(_batches()) == 2
    run = tuned_run_factory(tmp_path, tiny_llama_dir, small_splits)
    tuned = load_model(str(run / "final"))
    samples = cached_generate_samples(tuned, AUTHORS, CONFIG, batch_size=5)
    assert len(_batches()) == 3 and _texts(samples) == _texts(generate_samples(tuned, AUTHORS, CONFIG, batch_size=5))


def test_a_cancelled_batch_is_not_stored(tiny_llama_dir):
    model = load_model(str(tiny_llama_dir))
    cancel = threading.Event()
    cancel.set()
    assert cached_generate_samples(model, AUTHORS, CONFIG, batch_size=2, cancel=cancel) == []
    assert _batches() == set()
