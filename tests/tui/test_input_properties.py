"""Every line a user can type, and every value the training form can hold: an action or one line of error.

Hypothesis feeds the slash-command/prompt parser (tui/commands.py) arbitrary text and command-shaped
text with hostile arguments (nan, inf, 1e400, 5,000 digits, line separators, NULs), and the training
form's reader (TrainingScreen.read_form) arbitrary values in every field. The parser must return a
Command or a Prompt (numbers equal to Python's own reading of the argument) or raise CommandError with a
one-line message; the form must give a TrainConfig holding the values as typed, or a ValueError /
EngineError with a one-line message: never another exception, which in the app would be a crash. One
pilot test then types a few of the nastiest lines into the running app.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import Input, Switch

from tweetsmith.tui.commands import COMMAND_SPECS, Command, CommandError, Prompt, SweepRequest, parse_command, parse_input

NAMES = sorted({alias for spec in COMMAND_SPECS for alias in (spec.name, *spec.aliases)})
HOSTILE = ["0", "-1", "0.5", "1e400", "-1e400", "inf", "-inf", "nan", "NaN", "1_000", "٣", "0x10", "9" * 5000,
           "1e-400", "auto", "n=", "n=3", "n=1e9", "n=-5", "n=inf", "k", "p", "temp", "t", ":", "@", "paulg:", "",
           "\u2028", "\x00", "\x85", "\r", "\u200b", "👩‍💻", "'", '"', "\\", "[red]", "[/]"]
word = st.sampled_from(HOSTILE) | st.text(max_size=8)
spaces = st.sampled_from([" ", "  ", "\t", "\u3000", "\u2028", ""])


@st.composite
def typed_lines(draw):
    """A slash command with hostile arguments, a prompt, or anything at all."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        name = draw(st.sampled_from(NAMES) | st.text(max_size=6))
        args = draw(st.lists(word, max_size=5))
        return draw(st.sampled_from(["/", " /", "//", "/ "])) + name + draw(spaces) + draw(spaces).join(args)
    if kind == 1:
        return draw(st.sampled_from(["", "@"])) + draw(word) + draw(st.sampled_from([":", "", " : "])) + draw(word)
    return draw(st.text(max_size=40))


def _expected_number(spec_name: str, arg: str):
    """The value Python itself reads from ``arg`` for a numeric command (the independent computation)."""
    return {"temp": float, "p": float, "k": int, "n": int, "max": int}[spec_name](arg)


@settings(max_examples=1000, deadline=None)
@given(line=typed_lines())
def test_every_line_is_a_command_a_prompt_or_a_one_line_error(line):
    try:
        parsed = parse_input(line)
    except CommandError as err:
        message = str(err)
        assert message.strip() and len(message.splitlines()) == 1, repr(message)
        return
    assert isinstance(parsed, (Command, Prompt))
    if isinstance(parsed, Prompt):
        assert not any(c.isspace() for c in parsed.author)  # usernames are tokens
        return
    arg = line.strip()[1:].partition(" ")[2].strip()
    if parsed.name in ("temp", "p", "k", "n", "max"):
        expected = _expected_number(parsed.name, arg)
        assert parsed.value == expected or (math.isnan(parsed.value) and math.isnan(expected))
    if parsed.name == "sweep":
        request = parsed.value
        assert isinstance(request, SweepRequest) and request.samples >= 2
        assert request.values is None or all(math.isfinite(v) for v in request.values)
        if request.field == "top_k" and request.values:
            assert all(isinstance(v, int) for v in request.values)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(["temp", "p", "k", "n", "max"]),
       value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**30, 10**30))
def test_numeric_commands_read_what_python_reads(name, value):
    line = f"/{name} {value}"
    try:
        command = parse_command(line)
    except CommandError as err:
        assert len(str(err).splitlines()) == 1
        with pytest.raises(ValueError):
            _expected_number(name, str(value))
        return
    expected = _expected_number(name, str(value))
    assert command.value == expected or (math.isnan(command.value) and math.isnan(expected))


# --- the training form -----------------------------------------------------------------------------

FORM_VALUES = ["", " ", "0", "1", "-1", "2", "1.5", "3e-4", "1e400", "-0", "nan", "inf", "-inf", "1_000", "٣",
               "9" * 5000, "0x10", "ten", "\x00", "~", "~nosuchuser/x", "a" * 300, "/" + "a" * 5000, "/dev/null",
               "\u2028", "runs/x", "smollm2-135m", "🙂"]


async def test_training_form_gives_a_config_or_one_line_error(make_app, settle, tiny_llama_dir, module_data):
    from tweetsmith.engine.errors import EngineError
    from tweetsmith.tui.screens.training import FORM_FIELDS, TrainingScreen, _field_info

    app = make_app(data_dir=module_data)
    async with app.run_test(size=(130, 48)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        text_fields = [n for n in FORM_FIELDS if _field_info(n)[0] is not bool]
        good = {"data": str(module_data), "model": str(tiny_llama_dir), "out": "runs/x", "lora_r": "4",
                "lora_alpha": "8", "lr": "", "epochs": "1", "max_steps": "3", "batch_size": "2", "block_size": "32",
                "eval_every": "0"}
        outcomes = []

        # Runs inside the app's loop: read_form only reads the widgets, so no await is needed between
        # setting the values and reading them.
        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        @given(changed=st.dictionaries(st.sampled_from(text_fields), st.sampled_from(FORM_VALUES) | st.text(max_size=12),
                                       max_size=4),
               switches=st.fixed_dictionaries({"lora": st.booleans(), "resume": st.booleans()}))
        def check(changed, switches):
            values = {**good, **changed}
            for name, value in values.items():
                screen.query_one(f"#f-{name}", Input).value = value
            for name, on in switches.items():
                screen.query_one(f"#f-{name}", Switch).value = on
            try:
                config = screen.read_form()
            except (ValueError, EngineError) as err:
                assert str(err).strip() and len(str(err).splitlines()) == 1, repr(str(err))
                outcomes.append("refused")
                return
            outcomes.append("config")
            for name, raw in values.items():  # the config holds what was typed, read as Python reads it
                kind = _field_info(name)[0]
                raw = raw.strip()
                expected = None if raw == "" else kind(raw) if kind is not str else raw
                got = getattr(config, name)
                assert got == expected or (isinstance(got, float) and math.isnan(got) and math.isnan(expected)), name
            assert (config.lora, config.resume) == (switches["lora"], switches["resume"])

        check()
        assert outcomes.count("config") >= 20 and outcomes.count("refused") >= 20, (outcomes.count("config"), outcomes.count("refused"))


@pytest.fixture()
def module_data(splits_factory, tmp_path):
    return splits_factory(tmp_path / "data", (40, 10, 10))


async def test_nasty_lines_typed_in_the_app_show_one_line_errors(make_app, settle, submit):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        error = app.screen.query_one("#input-error")
        before = app.main.sampling
        for line in ("/temp nan", "/temp 1e400", "/k 1e400", "/sweep k inf", "/sweep temp nan", "/p -0",
                     "/seed " + "9" * 5000, "/n 99999999999999999999", "/te\u2028mp 1", "two\u2028words",
                     "/max \x00", "/temp [red]"):
            await submit(pilot, line)
            await settle(pilot)
            assert app.screen is app.main, line  # nothing opened (a bad /sweep stays in the chat)
            assert error.display and len(str(error.content).splitlines()) == 1, (line, str(error.content))
        assert app.main.sampling == before
