"""Pilot tests of what chat users expect of a card: copy its tweet (c), the last request again with a fresh
seed (r), continue its text (m); a request typed while the model loads waits on its card and streams once
it is in; a tweet is cut at 280 characters; a finished card names its most surprising token.

Each test waits on the app's own messages (``MessageLog``) or on every worker's end (``settle``), and checks
against what the engine or the model gives when called directly.
"""

from __future__ import annotations

import math
import re
import threading

import pytest

from tweetsmith.tui import messages as msg
from tweetsmith.tui.widgets.message_card import MessageCard


def _unique(seen, kind):
    return list({id(m): m for m in seen if isinstance(m, kind)}.values())


def _samples(seen):
    return [m.sample for m in _unique(seen, msg.SampleFinished)]


async def test_c_copies_exactly_the_cards_tweet(make_app, settle, submit, message_log):
    app = make_app()
    copied: list[str] = []
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        real_copy = app.copy_to_clipboard
        app.copy_to_clipboard = lambda text: (copied.append(text), real_copy(text))  # observed, still done
        await settle(pilot)
        await submit(pilot, "paulg: The best", "sama")
        await settle(pilot)
        first, second = _samples(message_log)
        await pilot.press("escape", "c")  # leave the input; c copies the latest card
        assert copied == [second.full_text] and app.clipboard == second.full_text
        cards = list(app.screen.query(MessageCard))
        cards[0].focus()  # a clicked (focused) card is the one copied
        await pilot.press("c")
        assert copied[-1] == "The best" + first.text == first.full_text
        app.main.prompt.focus()
        await pilot.press("c")  # while the input has focus, c is a letter of the prompt
        assert app.main.prompt.value == "c" and len(copied) == 2


async def test_keys_are_in_the_footer_and_the_help(make_app, settle):
    from tweetsmith.tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        shown = {key: b.binding.description for key, b in app.screen.active_bindings.items() if b.binding.show}
        assert (shown.get("c"), shown.get("r"), shown.get("m")) == ("copy", "regenerate", "continue")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = app.screen.query_one("#help-keys").content.plain
        for key, what in (("c", "copy"), ("r", "regenerate"), ("m", "continue")):
            assert re.search(rf"^  {key} +{what}$", keys, re.M), keys


async def test_r_sends_the_last_request_again_with_a_fresh_seed(make_app, settle, submit, message_log, tiny_loaded):
    from tweetsmith.engine.generate import stream_sample

    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        await settle(pilot)
        await submit(pilot, "/temp 0.7", "sama: Tonight")
        await settle(pilot)
        await submit(pilot, "/temp 1.3")  # a change after the request: r repeats the request as it was
        await pilot.press("escape", "r")
        await settle(pilot)
        first, again = _samples(message_log)
        assert (again.author, again.user_text) == (first.author, first.user_text) == ("sama", "Tonight")
        assert again.seed != first.seed
        assert again.config == first.config.with_changes(seed=again.seed) and again.config.temperature == 0.7
        direct = stream_sample(tiny_loaded, "sama", "Tonight", again.config).sample
        assert direct.text == again.text
        assert len(app.screen.query(MessageCard)) == 2


async def test_m_continues_the_cards_text(make_app, settle, submit, message_log):
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        await settle(pilot)
        await submit(pilot, "paulg: The best")
        await settle(pilot)
        card = app.screen.query_one(MessageCard)
        await pilot.press("escape", "m")
        await settle(pilot)
        started = _unique(message_log, msg.SampleStarted)
        assert len(started) == 2 and (started[1].author, started[1].prompt_text) == ("paulg", card.body_text)
        continued = _samples(message_log)[1]
        assert continued.user_text == card.body_text == "The best" + _samples(message_log)[0].text
        new = list(app.screen.query(MessageCard))[1]
        assert new.prompt_text == card.body_text and new.text == continued.text


async def test_a_request_typed_while_the_model_loads_waits_and_streams(
    make_app, settle, submit, message_log, tiny_loaded, monkeypatch
):
    from tweetsmith.engine.generate import stream_sample
    from tweetsmith.tui import loading

    release = threading.Event()

    def slow_load(*args, **kwargs):  # the app's loader, held until the test releases it
        assert release.wait(600), "the test never released the model"
        return tiny_loaded

    monkeypatch.setattr(loading, "load_side_model", slow_load)
    app = make_app(loaded=None)
    try:
        async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
            await pilot.pause()
            assert not app.workspace.models
            await submit(pilot, "sama: The best")
            await pilot.pause()
            card = app.screen.query_one(MessageCard)
            assert card.waiting and "waiting for the model to load" in card.footer_text
            assert (card.author, card.prompt_text, card.text) == ("sama", "The best", "")
            assert not _unique(message_log, msg.SampleStarted)
            release.set()
            finished, _ = await message_log.wait_for(lambda m: isinstance(m, msg.SampleFinished))
            await settle(pilot)
            assert list(app.screen.query(MessageCard)) == [card]  # the waiting card streamed it
            sample = finished.sample
            assert (sample.author, sample.user_text) == ("sama", "The best")
            assert card.text == sample.text and not card.waiting and card.entry is not None
            direct = stream_sample(tiny_loaded, "sama", "The best", app.main.sampling.with_changes(seed=sample.seed))
            assert direct.sample.text == card.text
    finally:
        release.set()


async def test_escape_drops_a_waiting_request(make_app, submit, message_log, tiny_loaded, monkeypatch, settle):
    from tweetsmith.tui import loading

    release = threading.Event()
    monkeypatch.setattr(loading, "load_side_model", lambda *a, **k: (release.wait(600), tiny_loaded)[1])
    app = make_app(loaded=None)
    try:
        async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
            await pilot.pause()
            await submit(pilot, "sama")
            await pilot.pause()
            await pilot.press("escape")
            card = app.screen.query_one(MessageCard)
            assert not card.waiting and card.footer_text == "not sent: stopped before the model loaded"
            release.set()
            await message_log.wait_for(lambda m: isinstance(m, msg.ModelLoaded))
            await settle(pilot)
            assert not _unique(message_log, msg.SampleStarted)
    finally:
        release.set()


async def test_a_long_tweet_is_cut_at_280_characters_and_the_card_says_so(
    make_app, forced_model, settle, submit, message_log
):
    forced = forced_model()
    words = [f"word{i:02d}" for i in range(60)]  # 60 x 7 characters
    counts = forced.text(*(f" {w}" for w in words))
    app = make_app(loaded=forced.loaded)
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        await settle(pilot)
        await submit(pilot, f"/max {sum(counts) + 4}", "paulg: Hi")
        await settle(pilot)
        sample = _samples(message_log)[0]
        card = app.screen.query_one(MessageCard)
        kept = 0
        while len("Hi") + len(" " + " ".join(words[: kept + 1])) <= 280:
            kept += 1
        assert sample.text == " " + " ".join(words[:kept]) and sample.cut_at_limit
        assert card.text == sample.text and len(card.body_text) <= 280 and card.entry.cut_at_limit
        assert "cut at 280 characters" in card.footer_text


def _hand_most_surprising(loaded, author: str, body: str, typed_chars: int) -> tuple[str, float]:
    """Independent of engine.surprisal: one forward pass over end-of-text + ``\\author- body``; among the
    tokens ending inside the sample (not the typed text, not the end of text), the least likely one."""
    import torch

    line = f"\\{author}- {body}"
    encoded = loaded.tokenizer(line, add_special_tokens=False, return_offsets_mapping=True)
    ids = [loaded.eot_id] + list(encoded["input_ids"])
    with torch.no_grad():
        logits = loaded.model(torch.tensor([ids])).logits[0].double()
    logprobs = torch.log_softmax(logits[:-1], dim=-1).gather(-1, torch.tensor(ids[1:])[:, None]).squeeze(-1)
    sample_from = len(line) - len(body) + typed_chars
    best, covered = None, 0
    for (start, end), logprob in zip(encoded["offset_mapping"], logprobs.tolist()):
        own = (max(start, covered), end)  # later bytes of one character add no characters of their own
        covered = max(covered, end)
        if own[1] > own[0] and end > sample_from and (best is None or logprob < best[1]):
            best = (line[own[0] : own[1]], logprob)
    assert best is not None
    return best[0].strip() or best[0], math.exp(best[1])


async def test_a_finished_cards_footer_names_its_most_surprising_token(
    make_app, settle, submit, message_log, tiny_loaded
):
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        await settle(pilot)
        await submit(pilot, "sama: The best")
        await message_log.wait_for(lambda m: isinstance(m, msg.SurprisalScored))  # scored in a worker
        await settle(pilot)
        card = app.screen.query_one(MessageCard)
        found = re.search(r'most surprising: "(.*)" \(p=([0-9.e+-]+)\)$', card.footer_text)
        assert found, card.footer_text
        piece, p = _hand_most_surprising(tiny_loaded, "sama", card.body_text, len(card.prompt_text))
        assert found.group(1) == piece
        assert float(found.group(2)) == pytest.approx(p, rel=0.05)  # shown with 2 significant digits
        assert card.surprisal is None  # colours stay off until u
