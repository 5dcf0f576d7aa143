"""A new tweet each time: every Enter draws a fresh seed and shows it; /seed N pins it until /seed auto.

The samples are checked against the engine's own sample for the seed the card shows (an independent
call outside the app), so "the card's seed reproduces the card" is what is tested.
"""

from __future__ import annotations

from tweetsmith.tui import messages as msg
from tweetsmith.tui.widgets.message_card import MessageCard
from tweetsmith.tui.widgets.sampling_panel import SamplingPanel


def _finished(seen):
    return list({id(m): m.sample for m in seen if isinstance(m, msg.SampleFinished)}.values())


def _seed_row(app) -> str:
    values = app.main.query_one(SamplingPanel).query_one("#sampling-values").content.plain
    return next(line for line in values.splitlines() if line.startswith("seed"))


async def test_enter_twice_gives_two_seeds_and_a_card_seed_reproduces_its_tweet(make_app, tiny_loaded, settle, submit):
    from tweetsmith.engine.generate import stream_sample

    seen: list = []
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        assert _seed_row(app).split()[1] == "auto"
        await submit(pilot, "paulg")
        await settle(pilot)
        await submit(pilot, "paulg")
        await settle(pilot)
        first, second = _finished(seen)
        assert first.seed != second.seed  # fresh seeds: equal with probability 2**-31
        cards = list(app.main.query(MessageCard))
        assert len(cards) == 2  # a card per sample: zip must not drop one
        for card, sample in zip(cards, (first, second)):
            assert f"seed {sample.seed}" in card.footer_text and card.text == sample.text
            again = stream_sample(tiny_loaded, "paulg", "", app.main.sampling.with_changes(seed=sample.seed)).sample
            assert again.text == sample.text

        # /seed N pins the first card's seed: the next Enters give its tweet again, and the panel says N
        await submit(pilot, f"/seed {first.seed}")
        assert _seed_row(app).split()[1] == str(first.seed) and not app.main.seed_auto
        await submit(pilot, "paulg")
        await settle(pilot)
        await submit(pilot, "paulg")
        await settle(pilot)
        pinned = _finished(seen)[2:]
        assert [s.seed for s in pinned] == [first.seed, first.seed] and [s.text for s in pinned] == [first.text] * 2

        # /seed auto: fresh seeds again
        await submit(pilot, "/seed auto")
        assert _seed_row(app).split()[1] == "auto" and app.main.seed_auto
        await submit(pilot, "paulg")
        await settle(pilot)
        assert _finished(seen)[4].seed != first.seed


async def test_a_pinned_seed_with_n_samples_uses_consecutive_seeds(make_app, settle, submit):
    seen: list = []
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        await submit(pilot, "/seed 41", "/n 3", "sama")
        await settle(pilot)
        assert [s.seed for s in _finished(seen)] == [41, 42, 43]


async def test_bad_seed_is_an_inline_error(make_app, settle, submit):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, "/seed soon")
        error = app.main.query_one("#input-error")
        assert error.display and "/seed needs a whole number or auto" in str(error.content)
        await submit(pilot, "/seed -1")
        assert error.display and "seed must be in 0 or more" in str(error.content)
        assert app.main.seed_auto  # a refused value pins nothing
