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


@pytest.mark.parametrize(
    "command, config",
    [("train", "tweetsmith.engine.train:TrainConfig"), ("prepare", "tweetsmith.data.prepare:PrepareConfig")],
)
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


@pytest.mark.parametrize(
    "argv,line",
    [
        (
            ["train", "--lora-r", "abc"],
            "tweetsmith train: error: argument --lora-r: lora_r: 'abc' is not a whole number (see tweetsmith train --help)",
        ),
        (
            ["sample", "--temperature"],
            "tweetsmith sample: error: argument --temperature: expected one argument (see tweetsmith sample --help)",
        ),
        (["frob"], "tweetsmith: error: argument COMMAND: invalid choice: 'frob'"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(argv, line, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(line), err


def test_flags_without_a_command_open_the_app_like_tui(monkeypatch):
    """`make run ARGS="--model smollm2-135m"` (the README's example) is `tweetsmith tui --model smollm2-135m`."""
    from tweetsmith.scripts import tui_cmd

    seen = []
    monkeypatch.setattr(tui_cmd, "run", lambda args: seen.append(args) or 0)
    assert main(["--model", "smollm2-135m", "--data", "d"]) == 0
    assert main([]) == 0
    assert [(a.command, a.model, a.data) for a in seen] == [("tui", "smollm2-135m", "d"), ("tui", None, None)]


def test_setup_json_names_the_embedded_models_folder(embedded_dir, capsys):
    import json
    from pathlib import Path

    assert main(["setup", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ready"] is True and Path(out["directory"]) == embedded_dir
    assert (Path(out["directory"]) / "config.json").is_file()
