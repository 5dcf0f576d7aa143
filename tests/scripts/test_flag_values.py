"""A flag's text is read as the training form and `/assignment key=value` read it: one reader
(``engine.config.value_from_string`` in argparse's ``type``, then the config's ``validated()``), so a bad
value gets the same one-line message wherever it is typed.

The CLI adds where the value came from (``argument --lr:``, or nothing when the config's own check refuses
it after parsing); the message itself is the reader's. A bool flag is a switch (``--lora`` / ``--no-lora``)
and free text (a path, an author) is the value as typed: neither has text to misread.
"""

from __future__ import annotations

import pytest

from tweetsmith.engine.config import config_from_strings
from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.sampling import SamplingConfig
from tweetsmith.engine.train_config import TrainConfig
from tweetsmith.scripts.cli import build_parser, main


def reader_message(cls: type, field: str, text: str) -> str:
    """What the training form and `/assignment key=value` say for ``field=text``."""
    with pytest.raises(ConfigError) as refused:
        config_from_strings(cls, {field: text})
    return str(refused.value)


def cli_error(argv: list[str], capsys) -> str:
    """The one line `tweetsmith ARGV` writes on stderr when it refuses a flag (exit 2)."""
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's refusal
        code = exited.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "command,cls,flag,field,text",
    [
        ("train", TrainConfig, "--lr", "lr", "abc"),  # not a number
        ("train", TrainConfig, "--lr", "lr", "inf"),  # not a finite number
        ("train", TrainConfig, "--lora-r", "lora_r", "1.5"),  # not a whole number
        ("train", TrainConfig, "--max-steps", "max_steps", "ten"),
        ("train", TrainConfig, "--pack", "pack", "sideways"),  # not one of the choices
        ("train", TrainConfig, "--quantize", "quantize", "2bit"),  # an optional field's choices
        ("sample", SamplingConfig, "--temperature", "temperature", "hot"),
        ("sample", SamplingConfig, "--top-k", "top_k", "many"),
    ],
)
def test_a_flag_the_reader_refuses_gets_the_readers_message(command, cls, flag, field, text, capsys):
    message = reader_message(cls, field, text)
    line = cli_error([command, f"{flag}={text}"], capsys)
    assert line == f"tweetsmith {command}: error: argument {flag}: {message} (see tweetsmith {command} --help)"


@pytest.mark.parametrize(
    "flag,field,text",
    [
        ("--max-steps", "max_steps", "-3"),  # a whole number, refused by the config's own check
        ("--lr", "lr", "-1e-4"),
        ("--batch-size", "batch_size", "0"),
    ],
)
def test_a_value_the_config_refuses_gets_the_configs_message(flag, field, text, tmp_path, capsys):
    message = reader_message(TrainConfig, field, text)
    line = cli_error(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), f"{flag}={text}"], capsys)
    assert line == f"tweetsmith: error: {message}"
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "flag,field,text",
    [
        ("--lr", "lr", " 1e-4 "),  # spaces around a number are ignored
        ("--lr", "lr", "none"),  # an optional field: none is its default (the method's learning rate)
        ("--quantize", "quantize", "none"),
        ("--max-steps", "max_steps", "40"),
        ("--pack", "pack", "off"),
        ("--model", "model", "smollm2-135m"),
    ],
)
def test_a_good_value_reads_the_same_as_the_form_reads_it(flag, field, text):
    args = build_parser().parse_args(["train", f"{flag}={text}"])
    assert getattr(args, field) == getattr(config_from_strings(TrainConfig, {field: text}), field)


def test_an_untouched_flag_keeps_its_default():
    """argparse runs a str default through ``type`` as well: ``--pack``'s "concat" reads as itself."""
    args = build_parser().parse_args(["train"])
    defaults = TrainConfig()
    assert (args.data, args.out, args.pack, args.precision, args.lr, args.quantize) == (
        defaults.data,
        defaults.out,
        defaults.pack,
        defaults.precision,
        defaults.lr,
        defaults.quantize,
    )


@pytest.mark.parametrize("text", ["", " ", "none", " paulg "])
def test_free_text_is_the_value_as_typed(text):
    """``prepare --author=`` keeps the records authorless: on a command line an empty text is typed on purpose."""
    assert build_parser().parse_args(["prepare", "in.txt", f"--author={text}"]).author == text
