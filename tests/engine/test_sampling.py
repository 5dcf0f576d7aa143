"""SamplingConfig: ranges, one-line errors, and the kwargs a plain ``generate`` gets."""

from __future__ import annotations

import pytest

from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.sampling import SamplingConfig, logits_warpers


def test_defaults_are_valid():
    config = SamplingConfig()
    assert config.validated() is config
    assert (config.temperature, config.top_k, config.top_p, config.max_new_tokens, config.num_samples) == (
        0.9,
        50,
        1.0,
        60,
        1,
    )


@pytest.mark.parametrize(
    "change,message",
    [
        ({"temperature": -1.0}, "temperature must be in 0..5, got -1"),
        ({"temperature": 5.5}, "temperature must be in 0..5, got 5.5"),
        ({"temperature": float("nan")}, "temperature must be in 0..5"),
        ({"top_k": -1}, "top_k must be in 0 or more"),
        ({"top_p": 0.0}, "top_p must be in (0, 1], got 0"),
        ({"top_p": 1.5}, "top_p must be in (0, 1]"),
        ({"typical_p": 0.0}, "typical_p must be in (0, 1]"),
        ({"min_p": 1.0}, "min_p must be in [0, 1)"),
        ({"repetition_penalty": 0.1}, "repetition_penalty must be in 0.5..5"),
        ({"no_repeat_ngram_size": -2}, "no_repeat_ngram_size must be in 0 or more"),
        ({"max_new_tokens": 0}, "max_new_tokens must be in 1..1024, got 0"),
        ({"num_samples": 0}, "num_samples must be in 1.."),
        ({"seed": -3}, "seed must be in 0 or more"),
    ],
)
def test_bad_values_name_the_range(change, message):
    with pytest.raises(ConfigError) as info:
        SamplingConfig().with_changes(**change)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_with_changes_validates_and_rejects_unknown_names():
    assert SamplingConfig().with_changes(temperature=0.5, top_k=0).top_k == 0
    with pytest.raises(ConfigError, match="unknown sampling setting 'temp'"):
        SamplingConfig().with_changes(temp=0.5)


def test_greedy_gets_no_sampling_flags():
    kwargs = SamplingConfig(
        temperature=0, top_k=5, top_p=0.5, repetition_penalty=1.0, max_new_tokens=7
    ).generate_kwargs()
    assert kwargs == {"max_new_tokens": 7, "do_sample": False}
    # the default repetition guard is not a sampling flag: greedy decoding keeps it (greedy loops are what it is for)
    kwargs = SamplingConfig(temperature=0, max_new_tokens=7).generate_kwargs()
    assert kwargs == {"max_new_tokens": 7, "repetition_penalty": 1.1, "do_sample": False}
    assert logits_warpers(SamplingConfig(temperature=0)) == []


def test_sampling_kwargs_carry_every_knob():
    config = SamplingConfig(
        temperature=0.7,
        top_k=20,
        top_p=0.9,
        typical_p=0.95,
        min_p=0.05,
        repetition_penalty=1.2,
        no_repeat_ngram_size=3,
        max_new_tokens=30,
    )
    assert config.generate_kwargs() == {
        "max_new_tokens": 30,
        "repetition_penalty": 1.2,
        "no_repeat_ngram_size": 3,
        "do_sample": True,
        "temperature": 0.7,
        "top_k": 20,
        "top_p": 0.9,
        "typical_p": 0.95,
        "min_p": 0.05,
    }
    names = [type(w).__name__ for w in logits_warpers(config)]
    # the order transformers' generate applies them in
    assert names == [
        "TemperatureLogitsWarper",
        "TopKLogitsWarper",
        "TopPLogitsWarper",
        "MinPLogitsWarper",
        "TypicalLogitsWarper",
    ]


def test_round_trips_through_a_dict():
    config = SamplingConfig(temperature=1.2, seed=7)
    assert SamplingConfig.from_dict({**config.to_dict(), "unknown": 1}) == config


def test_prose_names_every_knob_that_is_on():
    assert SamplingConfig().prose() == "temperature 0.9, top-k 50, top-p 1, repetition penalty 1.1"
    assert SamplingConfig(temperature=0, repetition_penalty=1.0).prose() == "greedy decoding, top-k 50, top-p 1"
    assert SamplingConfig(min_p=0.05, no_repeat_ngram_size=3).prose() == (
        "temperature 0.9, top-k 50, top-p 1, min-p 0.05, repetition penalty 1.1, no repeated n-grams of 3"
    )
