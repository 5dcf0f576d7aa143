"""Pilot tests of the chat: stream, stop, parameters by key and command, bad input, history, session."""

from __future__ import annotations

import json

from textual import events

from tweetsmith.tui import messages as msg
from tweetsmith.tui.widgets.message_card import MessageCard
from tweetsmith.tui.widgets.sampling_panel import SamplingPanel


def _unique(seen, kind):
    """Messages of ``kind`` once each (the hook sees a bubbling message at every node it reaches)."""
    return list({id(m): m for m in seen if isinstance(m, kind)}.values())


def _finished(seen):
    return _unique(seen, msg.SampleFinished)


async def test_type_a_user_and_stream(make_app, tiny_loaded, settle, tmp_path):
    from tweetsmith.engine.generate import stream_sample

    seen: list = []
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        await pilot.press(*"paulg: The best", "enter")
        await settle(pilot)
        finished = _finished(seen)
        assert len(finished) == 1
        sample = finished[0].sample
        card = app.screen.query_one(MessageCard)
        assert card.author == "paulg" and card.prompt_text == "The best"
        # What streamed into the card is exactly the sample's text, and the text is the engine's for that seed.
        assert card.text == sample.text and card.streamed == sample.text
        direct = stream_sample(
            tiny_loaded, "paulg", "The best", app.main.sampling.with_changes(seed=sample.seed)
        ).sample
        assert direct.text == sample.text
        assert (
            f"{sample.new_tokens} tok" in card.footer_text
            and f"t 0.9 · k 50 · p 1 · rep 1.1 · seed {sample.seed}" in card.footer_text
        )
        assert len(_unique(seen, msg.TokensArrived)) >= 1
    saved = [json.loads(line) for line in (tmp_path / "session" / "chat.jsonl").read_text().splitlines()]
    assert [(e["author"], e["prompt_text"], e["text"], e["seed"]) for e in saved] == [
        ("paulg", "The best", sample.text, sample.seed)
    ]


async def test_n_samples_use_consecutive_seeds(make_app, settle, submit):
    seen: list = []
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        await submit(pilot, "/n 3", "@sama")
        await settle(pilot)
        samples = [m.sample for m in _finished(seen)]
        first = samples[0].seed  # drawn fresh for the request; its samples take the next seeds
        assert [s.seed for s in samples] == [first, first + 1, first + 2] and {s.author for s in samples} == {"sama"}
        assert [c.text for c in app.screen.query(MessageCard)] == [s.text for s in samples]


async def test_escape_stops_the_stream(make_app, settle, submit, message_log):
    seen = message_log
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen) as pilot:
        await settle(pilot)
        await submit(pilot, "/max 190", "/temp 1.5", "/k 0", "/n 20")
        app.main.run_line("paulg")
        await seen.wait_for(lambda m: isinstance(m, msg.TokensArrived))  # the stream is under way
        app.post_message(events.Key("escape", None))  # as the terminal driver sends it
        await settle(pilot)
        finished = _finished(seen)
        assert len(finished) == 1, "Esc stops the whole request, not just the current sample"
        sample = finished[0].sample
        assert sample.stopped and sample.new_tokens < 190
        card = app.screen.query_one(MessageCard)
        assert card.text == sample.text == card.streamed and "stopped" in card.footer_text
        assert not app.main.streaming and _unique(seen, msg.GenerationEnded)[0].stopped


async def test_keys_change_sampling_only_when_the_input_is_not_focused(make_app, settle):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(SamplingPanel)
        await pilot.press("t", "T")  # the input has focus: these are letters
        assert app.main.prompt.value == "tT" and panel.config.temperature == 0.9
        assert not panel.keys_active
        app.main.prompt.value = ""
        await pilot.press("escape")  # leave the input
        assert panel.keys_active
        await pilot.press("t", "t", "T", "k", "K", "K", "p", "p", "N", "N", "n", "shift+t", "t")
        assert (panel.config.temperature, panel.config.top_k, panel.config.top_p, panel.config.num_samples) == (
            0.8,
            55,
            0.9,
            2,
        )
        assert panel.config == app.main.sampling
        await pilot.press("escape")  # back to the input
        assert app.main.focused is app.main.prompt


async def test_commands_change_sampling(make_app, settle, submit):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, "/temp 0.5", "/k 10", "/p 0.8", "/n 3", "/max 30", "/seed 7", "/temperature 0.7")
        config = app.screen.query_one(SamplingPanel).config
        assert (
            config.temperature,
            config.top_k,
            config.top_p,
            config.num_samples,
            config.max_new_tokens,
            config.seed,
        ) == (0.7, 10, 0.8, 3, 30, 7)
        values = str(app.screen.query_one("#sampling-values").content)
        assert "0.7" in values and "10" in values and "30" in values


async def test_bad_commands_show_an_inline_error(make_app, settle, submit):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        error = app.screen.query_one("#input-error")
        for line, expected in (
            ("/frobnicate", "unknown command /frobnicate"),
            ("/temp warm", "/temp needs a number"),
            ("/temp 9", "temperature must be in 0..5"),
            ("/k -3", "top_k must be in 0 or more"),
            ("/model", "/model needs an argument"),
            ("/run /nonexistent/run", "not a run directory"),
            ("two words", "usernames have no spaces"),
            ("/clear now", "/clear takes no argument"),
        ):
            await submit(pilot, line)
            assert error.display and expected in str(error.content), line
        assert app.main.sampling.temperature == 0.9 and app.main.sampling.top_k == 50
        await pilot.press("x")  # typing clears the error
        assert not error.display


async def test_history_and_completion(make_app, settle, submit):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        prompt = app.main.prompt
        await submit(pilot, "/temp 0.5", "/k 10")
        await pilot.press("up")
        assert prompt.value == "/k 10"
        await pilot.press("up")
        assert prompt.value == "/temp 0.5"
        await pilot.press("down", "down")
        assert prompt.value == ""
        await pilot.press(*"guyk", "tab")
        assert prompt.value == "guykawasaki"


async def test_help_screen_lists_keys_and_commands(make_app, settle):
    from tweetsmith.tui.commands import COMMAND_SPECS
    from tweetsmith.tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-commands").content) + str(app.screen.query_one("#help-keys").content)
        for spec in COMMAND_SPECS:
            assert spec.usage in text
        for key in ("ctrl+t", "ctrl+e", "ctrl+b", "escape", "T"):
            assert key in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_session_reopens_save_and_clear(make_app, settle, submit, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, "sama")
        await settle(pilot)
        text = app.screen.query_one(MessageCard).text
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        cards = list(app.screen.query(MessageCard))
        assert [(c.author, c.text) for c in cards] == [("sama", text)]
        out = tmp_path / "chat.md"
        await submit(pilot, f"/save {out}")
        markdown = out.read_text()
        assert "### @sama" in markdown and f"> {text}" in markdown.splitlines()
        await submit(pilot, "/clear")
        await settle(pilot)
        assert not list(app.screen.query(MessageCard))
    assert not (tmp_path / "session" / "chat.jsonl").exists()
    assert len(list((tmp_path / "session").glob("chat-*.jsonl"))) == 1


async def test_a_model_that_fails_to_load_is_a_notification(make_app, settle, submit):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, "/model /no/such/model")
        await settle(pilot)
        notes = [n.message for n in app._notifications]
        assert any("no such file or directory" in n for n in notes), notes
        assert app.workspace.model is not None  # the old model stays, the chat goes on
        await submit(pilot, "sama")
        await settle(pilot)
        assert app.screen.query_one(MessageCard).entry is not None


async def test_a_stream_cut_by_an_error_keeps_its_text(make_app, settle, submit, monkeypatch):
    from tweetsmith.engine import generate
    from tweetsmith.engine.errors import EngineError

    class Broken:
        def __iter__(self):
            yield "The first"
            yield " words"
            raise EngineError("the model ran out of memory; lower max_new_tokens")

    monkeypatch.setattr(generate, "stream_sample", lambda *args, **kwargs: Broken())
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, "sama")
        await settle(pilot)
        card = app.screen.query_one(MessageCard)
        assert card.text == "The first words" and "cut by an error: the model ran out of memory" in card.footer_text
        assert any("ran out of memory" in n.message for n in app._notifications)
        assert app.main.chat.session.entries[-1].text == "The first words" and app.main.chat.session.entries[-1].error
        assert not app.main.streaming
