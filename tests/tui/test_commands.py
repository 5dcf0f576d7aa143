"""Slash commands and prompts: pure parsing, checked against hand-written expectations."""

from __future__ import annotations

import pytest

from tweetsmith.tui.commands import (
    COMMAND_SPECS,
    Command,
    CommandError,
    Prompt,
    SweepRequest,
    parse_command,
    parse_input,
    parse_prompt,
    stepped,
)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("/temp 0.8", Command("temp", 0.8)),
        ("/temperature 1", Command("temp", 1.0)),
        ("/k 25", Command("k", 25)),
        ("/p 0.9", Command("p", 0.9)),
        ("/n 5", Command("n", 5)),
        ("/max 60", Command("max", 60)),
        ("/seed 1", Command("seed", 1)),
        ("/model smollm2-135m", Command("model", "smollm2-135m")),
        ("/run runs/vc", Command("run", "runs/vc")),
        ("/base", Command("base")),
        ("/tuned", Command("tuned")),
        ("/ab", Command("ab", None)),
        ("/ab paulg: The best", Command("ab", Prompt("paulg", "The best"))),
        ("/train", Command("train")),
        ("/eval", Command("eval")),
        ("/sweep", Command("sweep", SweepRequest("temperature"))),
        ("/sweep k 5 20 n=8", Command("sweep", SweepRequest("top_k", (5, 20), 8))),
        ("/sweep p 0.5 0.9", Command("sweep", SweepRequest("top_p", (0.5, 0.9)))),
        ("/save", Command("save", None)),
        ("/save out/chat.md", Command("save", "out/chat.md")),
        ("/clear", Command("clear")),
        ("/help", Command("help")),
        ("  /TEMP   0.5  ", Command("temp", 0.5)),
    ],
)
def test_commands(line, expected):
    assert parse_command(line) == expected


@pytest.mark.parametrize(
    "line, message",
    [
        ("/nope", "unknown command /nope; /help lists the commands"),
        ("/temp", "/temp needs a number, e.g. /temp 0.8"),
        ("/temp hot", "/temp needs a number, e.g. /temp 0.8"),
        ("/k 2.5", "/k needs a whole number, e.g. /k 25"),
        ("/model", "/model needs an argument: /model smollm2-135m"),
        ("/base now", "/base takes no argument"),
        ("/sweep q", "/sweep takes temp, k or p"),
        ("/sweep k 2.5", "/sweep k values must be whole numbers"),
        ("/sweep n=1", "n=2 or more"),
        ("/", "a command starts with /"),
    ],
)
def test_bad_commands(line, message):
    with pytest.raises(CommandError, match=None) as info:
        parse_command(line)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("paulg", Prompt("paulg", "")),
        ("@paulg", Prompt("paulg", "")),
        ("paulg: The best startups", Prompt("paulg", "The best startups")),
        ("@sama:Hello: world", Prompt("sama", "Hello: world")),
        (": just text", Prompt("", "just text")),
    ],
)
def test_prompts(line, expected):
    assert parse_prompt(line) == expected
    assert parse_input(line) == expected


@pytest.mark.parametrize("line", ["", "   ", "two words", "two words: text", ":"])
def test_bad_prompts(line):
    with pytest.raises(CommandError):
        parse_prompt(line)


def test_every_command_has_usage_that_parses():
    for spec in COMMAND_SPECS:
        assert parse_command(spec.usage).name == spec.name


@pytest.mark.parametrize(
    "field, current, step, expected",
    [
        ("temperature", 0.9, -0.1, 0.8),
        ("temperature", 0.1, -0.1, 0.1),  # clamped: the engine's 0 means greedy, keys never go there
        ("temperature", 0.7, 0.1, 0.8),  # not 0.7999999999999999
        ("top_k", 50, -5, 45),
        ("top_k", 0, -5, 0),
        ("top_p", 1.0, 0.05, 1.0),
        ("top_p", 0.95, -0.05, 0.9),
        ("num_samples", 1, -1, 1),
    ],
)
def test_stepped(field, current, step, expected):
    assert stepped(field, current, step) == expected
