"""`tweetsmith [COMMAND] --help` for every command: exit 0, every flag listed, every help text as written.

argparse %-formats help strings, so a bare "%" in a config field's help ("~30% slower") once printed a
dump of the argparse action in the middle of `train --help`. The check here is independent of how
the help is escaped: each flag's help, with its %(default)s filled in by hand, must appear in the
output (whitespace aside, as argparse wraps lines), and nothing may look like %-formatting.
"""

from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from tweetsmith.scripts.cli import COMMANDS, build_parser, main


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def subparser(name: str | None) -> argparse.ArgumentParser:
    parser = build_parser()
    if name is None:
        return parser
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def intended_help(action: argparse.Action) -> str:
    """The help text as its author meant it to read: %(default)s filled in, %% read as %."""
    text = action.help.replace("%(default)s", str(action.default))
    return text.replace("%%", "%")


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_lists_every_flag_with_its_help_as_written(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"] if command else ["--help"])
    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("usage: tweetsmith")
    assert "Traceback" not in out and "%(" not in out and "%%" not in out and "option_strings" not in out
    flat = squash(out)
    for action in subparser(command)._actions:
        for flag in action.option_strings:
            assert re.search(rf"(^|[\s\[,]){re.escape(flag)}\b", out), flag
        if action.help and action.help is not argparse.SUPPRESS:
            assert squash(intended_help(action)) in flat, (command, action.option_strings, action.help)
    if command is None:  # the command list names every command
        assert all(name in out for name in COMMANDS)


def test_config_help_with_a_percent_sign_reads_as_written():
    """The case that was garbled: a config field's help (or default) holding a bare %, as "~30% slower"."""
    from tweetsmith.data.options import option
    from tweetsmith.scripts.common import add_config_arguments

    @dataclasses.dataclass(frozen=True)
    class Config:
        checkpointing: bool = option(False, "less memory, ~30% slower")
        share: str = option("50%", "share of the 100% to keep, as 10% or 0.1")
        rate: float = option(0.5, "rate in %(not a key)s terms")

    parser = argparse.ArgumentParser(prog="x")
    add_config_arguments(parser, Config)
    flat = squash(parser.format_help())
    for field in dataclasses.fields(Config):  # the dataclass's own words, not argparse's
        assert squash(field.metadata["help"]) in flat, field.name
    assert squash("(default: 50%)") in flat and "%%" not in flat


@pytest.mark.parametrize("command, config", [("train", "tweetsmith.engine.train:TrainConfig"),
                                             ("prepare", "tweetsmith.data.prepare:PrepareConfig")])
def test_every_config_field_help_reads_as_written(command, config, capsys):
    import importlib

    module, name = config.split(":")
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(SystemExit):
        main([command, "--help"])
    flat = squash(capsys.readouterr().out)
    for field in dataclasses.fields(cls):
        if field.name != "inputs":  # prepare's positional INPUT has its own help
            assert squash(field.metadata["help"]) in flat, field.name
