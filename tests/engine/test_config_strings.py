"""One reader from strings to a typed config (``engine.config.config_from_strings``): each field type's good
texts give exact values, bad ones one line naming the field, the text and what it should be; then the
config's own checks run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from tweetsmith.engine.config import config_from_strings, option, value_from_string
from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.train_config import TrainConfig


@dataclass(frozen=True)
class Knobs:
    steps: int = option(3, "steps to take")
    rate: float = option(0.5, "how fast")
    loud: bool = option(False, "say more")
    name: str = option("x", "what to call it")
    side: Literal["base", "tuned"] = option("base", "which model")
    size: int | None = option(None, "how big (none: automatic)")
    scale: float | None = option(None, "a factor")
    mode: str = option("a", "the mode", choices=("a", "b"))
    bits: str | None = option(None, "quantize to", choices=("4bit", "8bit"))

    def validated(self) -> Knobs:
        if self.steps < 0:
            raise ConfigError(f"--steps must be 0 or more, got {self.steps}")
        return self


GOOD = [
    ("steps", "12", 12),
    ("steps", " 0 ", 0),
    ("steps", "1_000", 1000),
    ("rate", "1e-4", 1e-4),
    ("rate", "3", 3.0),
    ("rate", " .25", 0.25),
    ("loud", "true", True),
    ("loud", "YES", True),
    ("loud", "on", True),
    ("loud", "1", True),
    ("loud", "false", False),
    ("loud", "No", False),
    ("loud", "off", False),
    ("loud", "0", False),
    ("name", "runs/vc", "runs/vc"),
    ("name", "  padded ", "padded"),
    ("side", "tuned", "tuned"),
    ("size", "256", 256),
    ("size", "", None),
    ("size", "None", None),
    ("scale", "2.5", 2.5),
    ("scale", " ", None),
    ("mode", "b", "b"),
    ("bits", "4bit", "4bit"),
    ("bits", "none", None),
    ("bits", "", None),
]

BAD = [
    ("steps", "nine", "steps: 'nine' is not a whole number"),
    ("steps", "2.5", "steps: '2.5' is not a whole number"),
    ("steps", "", "steps: needs a value (steps to take)"),
    ("rate", "fast", "rate: 'fast' is not a number"),
    ("rate", "nan", "rate: 'nan' is not a finite number"),
    ("rate", "1e400", "rate: '1e400' is not a finite number"),
    ("rate", "-inf", "rate: '-inf' is not a finite number"),
    ("loud", "maybe", "loud: 'maybe' is not true or false (true/yes/on/1 or false/no/off/0)"),
    ("name", "", "name: needs a value (what to call it)"),
    ("side", "Tuned", "side: 'Tuned' is not one of base, tuned"),
    ("size", "big", "size: 'big' is not a whole number"),
    ("scale", "inf", "scale: 'inf' is not a finite number"),
    ("mode", "c", "mode: 'c' is not one of a, b"),
    ("bits", "2bit", "bits: '2bit' is not one of 4bit, 8bit"),
    (
        "colour",
        "red",
        "colour: no such setting; the settings are steps, rate, loud, name, side, size, scale, mode, bits",
    ),
    ("name\n", "x", "name\n: no such setting"),  # the name is the caller's key, never a typed line break
]


@pytest.mark.parametrize("name,text,expected", GOOD)
def test_good_texts_give_exact_values(name, text, expected):
    value = value_from_string(Knobs, name, text)
    assert value == expected and type(value) is type(expected)
    assert getattr(config_from_strings(Knobs, {name: text}), name) == expected


@pytest.mark.parametrize("name,text,message", BAD)
def test_bad_texts_are_one_line_naming_field_and_text(name, text, message):
    with pytest.raises(ConfigError) as raised:
        config_from_strings(Knobs, {name: text})
    assert str(raised.value).startswith(message)
    if "\n" not in name:
        assert str(raised.value) == message and "\n" not in str(raised.value)


def test_a_typed_line_break_stays_on_one_line():
    with pytest.raises(ConfigError) as raised:
        value_from_string(Knobs, "steps", "1\n2")
    assert str(raised.value) == "steps: '1\\n2' is not a whole number"


def test_the_configs_own_checks_run_after_reading():
    with pytest.raises(ConfigError, match=r"^--steps must be 0 or more, got -4$"):
        config_from_strings(Knobs, {"steps": "-4"})
    base = Knobs(name="kept", rate=2.0)
    assert config_from_strings(Knobs, {"steps": "7"}, base=base) == Knobs(steps=7, name="kept", rate=2.0)
    assert config_from_strings(Knobs, {}) == Knobs()


@pytest.mark.parametrize(
    "texts,message",
    [
        ({"lr": "-1"}, "--lr must be positive, got -1.0"),
        ({"batch_size": "0"}, "--batch-size must be at least 1, got 0"),
        ({"lora": "true", "lora_dropout": "1"}, "--lora-dropout must be in [0, 1), got 1.0"),
        ({"merge": "yes"}, "--merge applies to LoRA runs; a full fine-tune already saves the full model"),
        ({"pack": "tight"}, "pack: 'tight' is not one of concat, isolated, off"),
        ({"quantize": "2bit"}, "quantize: '2bit' is not one of 4bit, 8bit"),
        ({"max_steps": "nine"}, "max_steps: 'nine' is not a whole number"),
    ],
)
def test_train_config_reads_and_checks(texts, message):
    with pytest.raises(ConfigError) as raised:
        config_from_strings(TrainConfig, texts)
    assert str(raised.value) == message


def test_train_config_from_strings_has_the_typed_values():
    config = config_from_strings(
        TrainConfig,
        {
            "lr": "",
            "lora": "yes",
            "lora_r": "8",
            "epochs": "2",
            "quantize": "none",
            "pack": "concat",
            "data": "data/vc",
        },
    )
    assert config == TrainConfig(lr=None, lora=True, lora_r=8, epochs=2.0, quantize=None, pack="concat", data="data/vc")
