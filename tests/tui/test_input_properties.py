"""Every line a user can type, and every value the training form can hold: an action or one line of error.

Hypothesis feeds the slash-command/prompt parser (tui/commands.py) arbitrary text and command-shaped
text with hostile arguments (nan, inf, 1e400, 5,000 digits, line separators, NULs), and the training
form's reader (TrainingScreen.read_form) arbitrary values in every field. The parser must return a
Command or a Prompt (numbers equal to Python's own reading of the argument) or raise CommandError with a
one-line message; the form must give a TrainConfig holding the values as typed, or a ValueError /
EngineError with a one-line message: never another exception, which in the app would be a crash.

Then the lines are executed, not only parsed: each example types a few generated lines (every command
among them, with hostile values) into a fresh app whose current directory is the test's tmp_path, and
lets their work run (a sample, a model load, a sweep started, a file saved). No exception, no worker in
ERROR, one line for every refusal, sampling values held exactly when Python's reading of them is in range,
and nothing written outside tmp_path (Python's audit hook sees every file the process writes).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from textual.widgets import Input, Switch

from tweetsmith.tui.commands import (
    COMMAND_SPECS,
    Command,
    CommandError,
    Prompt,
    SweepRequest,
    parse_command,
    parse_input,
)

NAMES = sorted({alias for spec in COMMAND_SPECS for alias in (spec.name, *spec.aliases)})
HOSTILE = [
    "0",
    "-1",
    "0.5",
    "1e400",
    "-1e400",
    "inf",
    "-inf",
    "nan",
    "NaN",
    "1_000",
    "٣",
    "0x10",
    "9" * 5000,
    "1e-400",
    "auto",
    "n=",
    "n=3",
    "n=1e9",
    "n=-5",
    "n=inf",
    "k",
    "p",
    "temp",
    "t",
    ":",
    "@",
    "paulg:",
    "",
    "\u2028",
    "\x00",
    "\x85",
    "\r",
    "\u200b",
    "👩‍💻",
    "'",
    '"',
    "\\",
    "[red]",
    "[/]",
]
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
@given(
    name=st.sampled_from(["temp", "p", "k", "n", "max"]),
    value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**30), 10**30),
)
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

FORM_VALUES = [
    "",
    " ",
    "0",
    "1",
    "-1",
    "2",
    "1.5",
    "3e-4",
    "1e400",
    "-0",
    "nan",
    "inf",
    "-inf",
    "1_000",
    "٣",
    "9" * 5000,
    "0x10",
    "ten",
    "\x00",
    "~",
    "~nosuchuser/x",
    "a" * 300,
    "/" + "a" * 5000,
    "/dev/null",
    "\u2028",
    "runs/x",
    "smollm2-135m",
    "🙂",
]


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
        good = {
            "data": str(module_data),
            "model": str(tiny_llama_dir),
            "out": "runs/x",
            "lora_r": "4",
            "lora_alpha": "8",
            "lr": "",
            "epochs": "1",
            "max_steps": "3",
            "batch_size": "2",
            "block_size": "32",
            "eval_every": "0",
            "eval_tokens": "",
            "early_stopping": "0",
            "report_to": "none",
        }
        assert set(good) == set(text_fields)  # every field reset before each example: none keeps a drawn value
        outcomes = []

        # Runs inside the app's loop: read_form only reads the widgets, so no await is needed between
        # setting the values and reading them.
        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            changed=st.dictionaries(
                st.sampled_from(text_fields), st.sampled_from(FORM_VALUES) | st.text(max_size=12), max_size=4
            ),
            switches=st.fixed_dictionaries({"lora": st.booleans(), "resume": st.booleans()}),
        )
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
        assert outcomes.count("config") >= 20 and outcomes.count("refused") >= 20, (
            outcomes.count("config"),
            outcomes.count("refused"),
        )


@pytest.fixture()
def module_data(splits_factory, tmp_path):
    return splits_factory(tmp_path / "data", (40, 10, 10))


async def test_nasty_lines_typed_in_the_app_show_one_line_errors(make_app, settle, submit):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        error = app.screen.query_one("#input-error")
        before = app.main.sampling
        for line in (
            "/temp nan",
            "/temp 1e400",
            "/k 1e400",
            "/sweep k inf",
            "/sweep temp nan",
            "/p -0",
            "/seed " + "9" * 5000,
            "/n 99999999999999999999",
            "/te\u2028mp 1",
            "two\u2028words",
            "/max \x00",
            "/temp [red]",
        ):
            await submit(pilot, line)
            await settle(pilot)
            assert app.screen is app.main, line  # nothing opened (a bad /sweep stays in the chat)
            assert error.display and len(str(error.content).splitlines()) == 1, (line, str(error.content))
        assert app.main.sampling == before


# --- lines executed by the running app ---------------------------------------------------------------
# Parsing is not enough: each generated line is typed into a fresh app (cwd = the test's tmp_path) and
# executed. The app must not crash (no exception, no worker in ERROR), must say one line about a bad value,
# must hold a sampling value exactly when Python's own reading of it is in the documented range, and must
# write nothing outside tmp_path (Python's audit hook sees every file the process opens for writing).

import asyncio  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

from textual.worker import Worker, WorkerState  # noqa: E402

from tweetsmith.tui import messages as msg  # noqa: E402

EXECUTED_EXAMPLES = 40  # ~1 s each on 2 cores (a fresh app, its lines, their work)
HANG_GUARD_S = 300.0  # only a hang reaches it

# Arguments the app may act on: no "/" or "~" (a path outside tmp_path is the user's to write, and as root
# `/save /dev/null` would replace the device) and not all dots ("/save .." renames onto the parent).
# "sotu" is left out: /assignment sotu runs the whole pipeline (its own tests cover it).
_SAFE_HOSTILE = [w for w in HOSTILE if "/" not in w and "~" not in w]
safe_word = (st.sampled_from(_SAFE_HOSTILE) | st.text(st.characters(blacklist_characters="/~"), max_size=8)).filter(
    lambda w: not (w and set(w) == {"."}) and w.lower() != "sotu"
)


@st.composite
def executed_lines(draw):
    """A slash command with hostile (but local) arguments, a prompt, or any text that is not a command."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        name = draw(st.sampled_from(NAMES) | st.text(st.characters(blacklist_characters="/~"), max_size=6))
        args = draw(st.lists(safe_word, max_size=3))
        if name.lower() == "model":  # a path: any other word is a hub id, which offline loads the embedded model
            args = ["." + "".join(args)]  # instead (25 s on 2 cores; that fallback is the engine's to test)
        return draw(st.sampled_from(["/", " /", "/ "])) + name + draw(spaces) + draw(spaces).join(args)
    if kind == 1:
        return (
            draw(st.sampled_from(["", "@"]))
            + draw(safe_word)
            + draw(st.sampled_from([":", "", " : "]))
            + draw(safe_word)
        )
    return draw(st.text(max_size=40).filter(lambda line: not line.lstrip().startswith("/")))


# Each command once, with a value it must refuse or survive (NUL in a path, a thousand samples, ...).
EVERY_COMMAND = [
    "/temp nan",
    "/k 1e400",
    "/p 0",
    "/n 1_000",
    "sama: The\x00 best",
    "/max 1_000",
    "sama",
    "/seed -1",
    "/model .no\x00such",
    "/run \x00",
    "/base",
    "/tuned",
    "/ab paulg: hi",
    "/train",
    "/eval",
    "/sweep k 1 inf",
    "/sweep p 0.5 n=2",
    "/score \x00\u2028",
    "/source",
    "/assignment nosuchfile.js n=1",
    "/save \x00",
    "/save a\u2028b.md",
    "/save",
    "/clear now",
    "/clear",
    "/help",
    "/quit",
]

# field, Python's reading, the documented range (SamplingConfig's help strings)
_SAMPLING = {
    "temperature": (float, lambda v: 0 <= v <= 5),
    "top_k": (int, lambda v: v >= 0),
    "top_p": (float, lambda v: 0 < v <= 1),
    "num_samples": (int, lambda v: 1 <= v <= 100_000),
    "max_new_tokens": (int, lambda v: 1 <= v <= 1024),
}
_FIELD_OF = {
    "temp": "temperature",
    "temperature": "temperature",
    "t": "temperature",
    "k": "top_k",
    "top_k": "top_k",
    "topk": "top_k",
    "p": "top_p",
    "top_p": "top_p",
    "topp": "top_p",
    "n": "num_samples",
    "samples": "num_samples",
    "max": "max_new_tokens",
    "max_new_tokens": "max_new_tokens",
}


def _expected_setting(line: str):
    """(field, value or None when bad) for a sampling command, by Python's reading and the range; else None."""
    name, _, arg = line.strip()[1:].partition(" ")
    field = _FIELD_OF.get(name.lower()) if line.strip().startswith("/") else None
    if field is None:
        return None
    kind, in_range = _SAMPLING[field]
    try:
        value = kind(arg.strip())
    except ValueError:
        return field, None
    return field, value if in_range(value) and value == value else None


class WriteAudit:
    """Every path this process opens for writing, creates, renames onto or removes (sys.addaudithook: a hook
    cannot be removed, so it records only while ``on``)."""

    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    installed: WriteAudit | None = None

    def __init__(self) -> None:
        self.on = False
        self.paths: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        sys.addaudithook(self._hook)

    @classmethod
    def get(cls) -> WriteAudit:
        if cls.installed is None:
            cls.installed = cls()
        return cls.installed

    def _hook(self, event: str, args: tuple) -> None:
        if not self.on:
            return
        if event == "open":
            path, mode, flags = args
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & self.WRITE_FLAGS)
            targets = [path] if writes else []
        elif event in (
            "os.mkdir",
            "os.remove",
            "os.rmdir",
            "os.truncate",
            "os.chmod",
            "os.utime",
            "os.symlink",
            "os.link",
            "shutil.rmtree",
            "tempfile.mkstemp",
            "tempfile.mkdtemp",
        ):
            targets = [args[0]] if event != "os.symlink" else [args[1]]
        elif event in ("os.rename", "shutil.copyfile", "shutil.move", "shutil.copytree"):
            targets = [args[0], args[1]]
        else:
            return
        for target in targets:
            if isinstance(target, (str, bytes, os.PathLike)):
                target = os.fsdecode(target)
                with self._lock:
                    self.paths.append((event, os.path.abspath(target) if "\x00" not in target else target))


def _outside(paths: list[tuple[str, str]], root: Path) -> list[tuple[str, str]]:
    roots = {str(root), os.path.realpath(root)}
    return [
        (event, path)
        for event, path in paths
        if not any(path == r or path.startswith(r + os.sep) for r in roots)
        and "__pycache__" not in path
        and path != os.devnull
    ]  # bytecode the interpreter caches is not the app's


def test_typed_lines_are_executed_without_a_crash_or_a_write_outside(
    make_app, settle, submit, tmp_path, monkeypatch, splits_factory
):
    """Each example is a fresh app in its own event loop (hypothesis runs plain functions)."""
    monkeypatch.chdir(tmp_path)
    data = splits_factory(tmp_path / "data", (40, 10, 10))
    counts = {
        "examples": 0,
        "lines": 0,
        "refused": 0,
        "set": 0,
        "generated": 0,
        "screens": 0,
        "quit": 0,
        "writes inside": 0,
        "commands": set(),
    }

    async def run_lines(lines: list[str]) -> None:
        counts["examples"] += 1
        counts["commands"] |= {line.strip()[1:].partition(" ")[0] for line in lines if line.strip().startswith("/")}
        seen: list = []
        app = make_app(data_dir=data, session_path=tmp_path / f"session-{counts['examples']}" / "chat.jsonl")
        notes: list[str] = []  # every warning and error notified, however soon it leaves the screen
        notify = app.notify

        def noting(message, *args, **kwargs):
            if kwargs.get("severity", "information") != "information":
                notes.append(str(message))
            return notify(message, *args, **kwargs)

        app.notify = noting
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await settle(pilot)
            await submit(pilot, "/max 6")  # short samples: the point is what the app does with the line
            for line in lines:
                if not app.is_running:  # /quit ended it
                    break
                counts["lines"] += 1
                before_config, before_notes, before_seen = app.main.sampling, len(notes), len(seen)
                await submit(pilot, line)
                await pilot.pause()
                if app.is_running:
                    error = app.main.query_one("#input-error")
                    shown = str(error.content) if error.display else ""
                    if shown:
                        counts["refused"] += 1
                        assert len(shown.splitlines()) == 1 and shown.strip(), (line, shown)
                    expected = _expected_setting(line)
                    if expected is not None:
                        field, value = expected
                        if value is None:
                            assert shown and app.main.sampling == before_config, (line, shown)
                        else:
                            counts["set"] += 1
                            assert not shown and getattr(app.main.sampling, field) == value, (line, shown)
                await _finish_the_lines_work(app, pilot, seen, before_seen, settle, counts)
                for note in notes[before_notes:]:
                    assert len(note.splitlines()) <= 1, (line, note)
            counts["quit"] += not app.is_running
        counts["generated"] += len({id(m) for m in seen if isinstance(m, msg.SampleStarted)})
        errors = [m.worker for m in seen if isinstance(m, Worker.StateChanged) and m.state == WorkerState.ERROR]
        assert not errors, [(w.name, w.error) for w in errors]
        assert app.return_code in (None, 0)

    @settings(max_examples=EXECUTED_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lines=st.lists(executed_lines(), min_size=1, max_size=3))
    @example(lines=EVERY_COMMAND[: len(EVERY_COMMAND) // 2])  # every command runs at least once, with a bad value
    @example(lines=EVERY_COMMAND[len(EVERY_COMMAND) // 2 :])
    def check(lines):
        audit.paths.clear()
        asyncio.run(run_lines(lines))
        outside = _outside(audit.paths, tmp_path)
        assert not outside, outside[:10]
        counts["writes inside"] += len(audit.paths) - len(outside)

    audit = WriteAudit.get()
    audit.on = True
    try:
        check()
    finally:
        audit.on = False
    print(f"\nexecuted: {counts}")
    # the lines reached every kind of outcome and every command ran (else the strategy tests little)
    # (and the audit saw the app's own writes: the session files, /save's markdown)
    assert all(counts[k] >= 1 for k in ("refused", "set", "generated", "screens", "quit", "writes inside")), counts
    assert {spec.name for spec in COMMAND_SPECS} <= counts["commands"], counts["commands"]


async def _finish_the_lines_work(app, pilot, seen, since, settle, counts):
    """Let the line's work show that it ran, then end it: one sample of a request (a ``/n 1_000`` would
    stream a thousand), a screen closed with Esc (a sweep is cancelled), then every worker done."""
    from tweetsmith.tui.screens.main import MainScreen

    if app.is_running and app.main.streaming:
        ended = (msg.SampleFinished, msg.SampleFailed, msg.GenerationEnded)

        async def first_sample_ends():
            while not any(isinstance(m, ended) for m in seen[since:]):
                await pilot.pause()

        await asyncio.wait_for(first_sample_ends(), HANG_GUARD_S)
        app.main.stop_generation(quiet=True)
    while app.is_running and not isinstance(app.screen, MainScreen):
        counts["screens"] += 1
        await pilot.press("escape")
        await pilot.pause()
    if app.is_running:
        await settle(pilot)
