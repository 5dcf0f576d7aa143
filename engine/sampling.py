"""How to pick each next token: the sampling config shared by the CLI, the app and the experiments.

One frozen dataclass holds every decoding knob (its fields carry help strings, so the CLI's flags and
the app's forms come from it). ``validated()`` rejects values outside their range with a one-line
``ConfigError`` that names the range. Temperature 0 means greedy decoding.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
from dataclasses import dataclass

from .config import option
from .errors import ConfigError

MAX_TEMPERATURE = 5.0
MAX_NEW_TOKENS = 1024
MAX_NUM_SAMPLES = 100_000
FRESH_SEED_BOUND = 2**31  # fresh seeds are below this: short enough to read off a card and type back


# Where fresh seeds come from: the OS, so two requests never share torch's or Python's global random
# state. The app's tests replace it with a seeded ``random.Random`` (tests/tui/conftest.py), so no test
# depends on which seed a request happens to draw.
FRESH_SEEDS: random.Random = secrets.SystemRandom()


def fresh_seed() -> int:
    """A new random seed for a request that did not pin one, from ``FRESH_SEEDS``; recorded with every
    sample so it can be reproduced."""
    return FRESH_SEEDS.randrange(FRESH_SEED_BOUND)


# The knobs that are off unless set: (field, label in ``short``, label in ``prose``, the value that means off).
OPTIONAL_KNOBS = (
    ("typical_p", "typ", "typical-p", 1.0),
    ("min_p", "min_p", "min-p", 0.0),
    ("repetition_penalty", "rep", "repetition penalty", 1.0),
    ("no_repeat_ngram_size", "no_rep", "no repeated n-grams of", 0),
)


@dataclass(frozen=True)
class SamplingConfig:
    """Decoding settings for one generation request (``num_samples`` samples, seeds ``seed``, ``seed+1``, ...)."""

    temperature: float = option(0.9, "softmax temperature, 0..5; 0 means greedy decoding")
    top_k: int = option(50, "keep only the k most likely tokens; 0 turns it off")
    top_p: float = option(
        1.0, "nucleus sampling: keep the smallest set of tokens with this much probability, in (0, 1]"
    )
    typical_p: float = option(1.0, "locally typical sampling mass, in (0, 1]; 1 turns it off")
    min_p: float = option(0.0, "drop tokens below min_p times the top token's probability, in [0, 1); 0 turns it off")
    # 1.1 by default: on a 56-step run it halved the samples with a problem (24 -> 12 of 100, most of them
    # a repeated phrase) and raised dist-2 (0.758 -> 0.808) without making the samples easier to tell from
    # real tweets (README, "The repetition guard"). no_repeat_ngram_size=3 did as well on problems but
    # forbids repeating the prompt's own tag tokens, and blocks quotes of a phrase within one tweet.
    repetition_penalty: float = option(
        1.1, "divide the logits of tokens already present by this, 0.5..5; 1 turns it off"
    )
    no_repeat_ngram_size: int = option(0, "never repeat an n-gram of this many tokens; 0 turns it off")
    max_new_tokens: int = option(60, "stop a sample after this many new tokens, 1..1024")
    seed: int = option(0, "random seed of the first sample; sample i uses seed + i")
    num_samples: int = option(1, "how many samples to generate")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def validated(self) -> SamplingConfig:
        """Return self if every value is in range, else raise ConfigError naming the field and its range."""
        checks = (
            ("temperature", 0 <= self.temperature <= MAX_TEMPERATURE, f"0..{MAX_TEMPERATURE:g}"),
            ("top_k", self.top_k >= 0, "0 or more (0 = off)"),
            ("top_p", 0 < self.top_p <= 1, "(0, 1]"),
            ("typical_p", 0 < self.typical_p <= 1, "(0, 1]"),
            ("min_p", 0 <= self.min_p < 1, "[0, 1)"),
            ("repetition_penalty", 0.5 <= self.repetition_penalty <= 5, "0.5..5"),
            ("no_repeat_ngram_size", self.no_repeat_ngram_size >= 0, "0 or more (0 = off)"),
            ("max_new_tokens", 1 <= self.max_new_tokens <= MAX_NEW_TOKENS, f"1..{MAX_NEW_TOKENS}"),
            ("seed", 0 <= self.seed < 2**63, "0 or more"),
            ("num_samples", 1 <= self.num_samples <= MAX_NUM_SAMPLES, f"1..{MAX_NUM_SAMPLES}"),
        )
        for name, ok, valid in checks:
            value = getattr(self, name)
            if not ok or (isinstance(value, float) and value != value):  # NaN fails every range
                raise ConfigError(
                    f"{name} must be in {valid}, got {value:g}"
                    if isinstance(value, float)
                    else f"{name} must be in {valid}, got {value}"
                )
        return self

    def with_changes(self, **changes) -> SamplingConfig:
        """A copy with some fields changed, validated (unknown names raise ConfigError)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(f"unknown sampling setting {unknown[0]!r}; valid: {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes).validated()

    def generate_kwargs(self) -> dict:
        """Keyword arguments for a plain ``model.generate`` (greedy gets no sampling flags).

        The engine's own generation samples each row with its own seeded generator instead (see
        ``engine.generate``), but with the same warpers, so both follow this config.
        """
        kwargs: dict = {"max_new_tokens": self.max_new_tokens}
        if self.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = self.repetition_penalty
        if self.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = self.no_repeat_ngram_size
        if self.greedy:
            kwargs["do_sample"] = False
            return kwargs
        kwargs.update(
            do_sample=True, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, typical_p=self.typical_p
        )
        if self.min_p > 0:
            kwargs["min_p"] = self.min_p
        return kwargs

    def short(self) -> str:
        """A compact label for tables and the app: ``t=0.9 k=50 p=1``."""
        parts = ["greedy" if self.greedy else f"t={self.temperature:g}", f"k={self.top_k}", f"p={self.top_p:g}"]
        parts += [f"{short}={value:g}" for short, _, value in self.knobs_on()]
        return " ".join(parts)

    def knobs_on(self) -> list[tuple[str, str, float]]:
        """(short label, prose label, value) of each optional knob that is not at its off value, for the
        labels of ``short`` and ``prose``."""
        return [
            (short, prose, getattr(self, name))
            for name, short, prose, off in OPTIONAL_KNOBS
            if getattr(self, name) != off
        ]

    def prose(self) -> str:
        """For reports: ``temperature 0.9, top-k 50, top-p 1, repetition penalty 1.1`` (knobs left off unnamed)."""
        parts = [
            "greedy decoding" if self.greedy else f"temperature {self.temperature:g}",
            f"top-k {self.top_k}",
            f"top-p {self.top_p:g}",
        ]
        parts += [f"{prose} {value:g}" for _, prose, value in self.knobs_on()]
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> SamplingConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def logits_warpers(config: SamplingConfig) -> list:
    """The transformers warpers for ``config``, in the order ``generate`` applies them when sampling."""
    from transformers.generation.logits_process import (
        MinPLogitsWarper,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
        TypicalLogitsWarper,
    )

    warpers: list = []
    if config.greedy:
        return warpers
    if config.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(config.temperature))
    if config.top_k:
        warpers.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=1))
    if config.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=1))
    if config.min_p > 0:
        warpers.append(MinPLogitsWarper(min_p=config.min_p, min_tokens_to_keep=1))
    if config.typical_p < 1.0:
        warpers.append(TypicalLogitsWarper(mass=config.typical_p, min_tokens_to_keep=1))
    return warpers
