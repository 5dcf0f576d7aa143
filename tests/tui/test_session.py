"""The session file and its markdown export, read back and compared with what was written."""

from __future__ import annotations

import json

from tweetsmith.engine.sample_record import Sample
from tweetsmith.engine.sampling import SamplingConfig
from tweetsmith.tui.session import ChatEntry, Session, default_session_path, entry_from_sample, session_markdown


def _sample(**changes) -> Sample:
    values = dict(
        author="paulg",
        prompt="\\paulg- The best",
        text=" ideas [look] bad",
        new_tokens=5,
        seconds=0.5,
        first_token_s=0.1,
        tokens_per_s=10.0,
        config=SamplingConfig(temperature=0.7, seed=3),
        model="m",
        adapter=None,
        seed=3,
        stopped=False,
    )
    values.update(changes)
    return Sample(**values)


def test_entry_from_sample_keeps_params_and_costs():
    entry = entry_from_sample(_sample(), side="tuned")
    assert (entry.author, entry.prompt_text, entry.text, entry.side, entry.seed) == (
        "paulg",
        "The best",
        " ideas [look] bad",
        "tuned",
        3,
    )
    assert entry.params == SamplingConfig(temperature=0.7, seed=3).to_dict()
    assert entry.full_text == "The best ideas [look] bad"
    assert entry.param_line() == "t 0.7 · k 50 · p 1 · rep 1.1 · seed 3"  # the default repetition guard is shown
    assert entry.stats_line() == "5 tok · first 0.10 s · 10.0 tok/s"
    assert "stopped" in entry_from_sample(_sample(stopped=True), side="base").stats_line()


async def test_every_optional_knob_that_is_on_is_named_as_the_engine_names_it():
    """The card's line and the sampling panel read the engine's one list of knobs (``OPTIONAL_KNOBS``): a knob
    at its off value is left out, one that is on carries ``SamplingConfig.short``'s label."""
    from tweetsmith.engine.sampling import OPTIONAL_KNOBS

    on = {"typical_p": 0.9, "min_p": 0.05, "repetition_penalty": 1.3, "no_repeat_ngram_size": 3}
    assert set(on) == {name for name, *_ in OPTIONAL_KNOBS}  # a new knob needs a value here
    config = SamplingConfig(temperature=0.7, seed=3, **on)
    line = entry_from_sample(_sample(config=config), side="base").param_line()
    short = config.short()
    for name, label, _, _ in OPTIONAL_KNOBS:
        assert f"{label} {on[name]:g}" in line and f"{label}={on[name]:g}" in short
    off = SamplingConfig(repetition_penalty=1.0)
    assert entry_from_sample(_sample(config=off), side="base").param_line() == "t 0.9 · k 50 · p 1 · seed 3"

    panel = await _panel_text(config)
    for name, label, _, _ in OPTIONAL_KNOBS:
        assert f"{label:<8}{on[name]:>7g}" in panel
    assert "rep" not in await _panel_text(off)


async def _panel_text(config: SamplingConfig) -> str:
    """What the sampling panel shows for ``config``, in an app of its own."""
    from textual.app import App

    from tweetsmith.tui.widgets.sampling_panel import SamplingPanel

    class PanelApp(App):
        def compose(self):
            yield SamplingPanel()

    app = PanelApp()
    async with app.run_test() as pilot:
        panel = app.query_one(SamplingPanel)
        panel.config = config
        await pilot.pause()
        return str(panel.query_one("#sampling-values").content)


def test_session_appends_reloads_skips_broken_lines_and_archives(tmp_path):
    path = tmp_path / "samples" / "chat.jsonl"
    session = Session(path)
    first, second = entry_from_sample(_sample(), side="base"), entry_from_sample(_sample(text=" two"), side="tuned")
    session.add(first)
    session.add(second)
    assert [json.loads(line)["text"] for line in path.read_text().splitlines()] == [" ideas [look] bad", " two"]
    with open(path, "a") as f:
        f.write('{"author": "half a li')  # a crash mid-write
    reopened = Session(path)
    assert reopened.load() == [first, second]
    assert reopened.torn is not None and "chat.jsonl: its last line is incomplete" in reopened.torn
    assert reopened.texts() == [" ideas [look] bad", " two"] and reopened.texts("nobody") == []
    before = path.read_bytes()
    reopened.add(first)  # the torn tail is cut off and one line appended: nothing before it rewritten
    assert path.read_bytes() == before[: before.rindex(b"\n") + 1] + (first.to_json() + "\n").encode()
    again = Session(path)
    assert again.load() == [first, second, first] and again.torn is None
    archived = session.clear()
    assert not path.exists() and archived.is_file() and session.entries == []
    session.add(first)  # a second clear within the same second keeps both archives
    second_archive = session.clear()
    assert second_archive != archived and archived.is_file() and second_archive.is_file()


def test_markdown_quotes_each_sample_with_its_params():
    entries = [
        ChatEntry(
            author="sama",
            prompt_text="",
            text="line one",
            params={"temperature": 0.9, "top_k": 50, "top_p": 1.0},
            seed=0,
            new_tokens=2,
            first_token_s=0.05,
            tokens_per_s=20.0,
            model="m",
            adapter="runs/x/final",
            side="tuned",
        )
    ]
    assert session_markdown(entries, "chat").splitlines() == [
        "# chat",
        "",
        "### @sama · tuned · m + runs/x/final",
        "",
        "> line one",
        "",
        "*t 0.9 · k 50 · p 1 · seed 0 · 2 tok · first 0.05 s · 20.0 tok/s*",
    ]


def test_default_session_path(tmp_path):
    assert default_session_path(tmp_path / "run", "x", tmp_path) == tmp_path / "run" / "samples" / "chat.jsonl"
    assert default_session_path(None, "gpt2 medium/x", tmp_path) == tmp_path / "sessions" / "gpt2_medium_x.jsonl"
