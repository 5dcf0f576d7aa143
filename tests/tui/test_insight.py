"""Pilot tests of the chat's insight: copied spans and their source, surprisal colours, /score, and the
diversity panel's intervals and human band, each checked against the engine called directly."""

from __future__ import annotations

import pytest

from tweetsmith.data.records import parse_line, prompt_for, read_split_lines
from tweetsmith.tui import messages as msg
from tweetsmith.tui.widgets.insight_cards import ScoreCard, SourceCard, SurprisalLegend
from tweetsmith.tui.widgets.message_card import MessageCard


@pytest.fixture()
def training_tweet(small_splits) -> tuple[str, str]:
    """A training line of 9+ words and its text."""
    for line in read_split_lines(small_splits / "train.txt"):
        if len(parse_line(line).text.split()) >= 9:
            return line, parse_line(line).text
    raise AssertionError("no long training tweet in the small splits")


@pytest.fixture()
def copying_model(monkeypatch, training_tweet):
    """Generation that returns a training tweet word for word (a model that memorised it)."""
    from tweetsmith.engine import generate
    from tweetsmith.engine.sample_record import Sample

    _, text = training_tweet

    class Copying:
        def __init__(self, loaded, author, prompt_text, config, **kwargs):
            self.sample = Sample(
                author=author,
                prompt=prompt_for(author, prompt_text),
                text=text,
                new_tokens=20,
                seconds=0.2,
                first_token_s=0.01,
                tokens_per_s=100.0,
                config=config,
                model="tiny",
                adapter=None,
                seed=config.seed,
            )

        def __iter__(self):
            yield text[:12]
            yield text[12:]

    monkeypatch.setattr(generate, "stream_sample", Copying)


async def test_a_copied_span_is_marked_and_its_source_shown(make_app, settle, submit, copying_model, training_tweet):
    line, text = training_tweet
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, "sama")
        await settle(pilot)
        card = app.screen.query_one(MessageCard)
        match = card.match
        assert match is not None and match.copied and match.record_text == line
        assert match.words == match.sample_words == len(text.split()) or match.words >= 8
        assert card.copied_span == (match.char_start, match.char_end)
        assert text[match.char_start : match.char_end].lower().startswith(match.span.split()[0])
        styles = [str(span.style) for span in card.query_one(".card-body").content.spans]
        assert any("underline" in style for style in styles)
        assert f"copied: {match.words} words of a training tweet" in card.footer_text
        await pilot.press("escape", "s")  # leave the input; s shows the source
        await settle(pilot)
        source = app.screen.query_one(SourceCard)
        assert line in source.plain and match.span in source.plain
        await submit(pilot, "/source")
        await settle(pilot)
        assert len(app.screen.query(SourceCard)) == 2


async def test_surprisal_colours_follow_the_key(make_app, settle, submit, tiny_loaded):
    from tweetsmith.engine.surprisal import score_text
    from tweetsmith.tui.widgets.card_marks import surprisal_style

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, "sama: The best")
        await settle(pilot)
        card = app.screen.query_one(MessageCard)
        legend = app.screen.query_one(SurprisalLegend)
        assert card.surprisal is None and not legend.display
        await pilot.press("escape", "u")
        await settle(pilot)
        expected = score_text(tiny_loaded, "sama", card.body_text)
        assert [t.logprob for t in card.surprisal.tokens] == pytest.approx(
            [t.logprob for t in expected.tokens], abs=1e-5
        )
        assert legend.display and "under base" in legend.content.plain
        styles = {str(span.style).replace(" italic", "") for span in card.query_one(".card-body").content.spans}
        assert styles == {
            surprisal_style(t.bits) for t in card.surprisal.scored if not t.end_of_text and t.end > t.start
        }
        await pilot.press("u")
        await settle(pilot)
        assert card.surprisal is None and not legend.display


async def test_score_command_under_base_and_tuned(
    make_app, settle, submit, tiny_loaded, tmp_path, tiny_llama_dir, small_splits, tuned_run_factory
):
    from tweetsmith.data.records import Record
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.surprisal import disagreements, score_texts

    run = tuned_run_factory(tmp_path / "tuned", tiny_llama_dir, small_splits)
    tuned = load_model(str(run / "final"))
    seen: list = []
    app = make_app(tuned=tuned)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        await submit(pilot, "/score paulg: The best startups")
        await settle(pilot)
        card = app.screen.query_one(ScoreCard)
        record = Record("paulg", "The best startups")
        for side, loaded in (("base", tiny_loaded), ("tuned", tuned)):
            expected = score_texts(loaded, [record])[0]
            assert card.scores[side].mean_logprob == pytest.approx(expected.mean_logprob, abs=1e-5)
        expected = disagreements(score_texts(tiny_loaded, [record])[0], score_texts(tuned, [record])[0])
        assert [d.change for d in card.disagreements] == pytest.approx([d.change for d in expected], abs=1e-5)
        assert "base" in card.plain and "tuned" in card.plain and "most changed by tuning" in card.plain
        await submit(pilot, "/score")
        assert "/score needs a text" in str(app.screen.query_one("#input-error").content)


async def test_diversity_panel_gets_intervals_and_the_human_band(make_app, settle, submit, small_splits):
    from tweetsmith.engine.bootstrap import human_pool_for_split, intervals
    from tweetsmith.engine.diversity import reference_from_lines
    from tweetsmith.tui.widgets.diversity_panel import APP_BAND_REPEATS, DiversityPanel

    seen: list = []
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        await submit(pilot, "/n 3", "sama")
        await settle(pilot)
        panel = app.screen.query_one(DiversityPanel)
        texts = app.main.chat.session.texts()
        assert len(texts) == 3 and panel.overall.samples == 3
        reference = reference_from_lines(read_split_lines(small_splits / "test.txt"))
        assert panel.intervals == intervals(texts, reference=reference)  # the same draws: the same bounds
        assert panel.band == human_pool_for_split(small_splits / "test.txt").band(3, repeats=APP_BAND_REPEATS)
        text = panel.query_one("#div-values").content.plain
        assert "human" in text and any(word in text for word in ("within", "above", "below"))
        assert f"± 95% · human {APP_BAND_REPEATS}×3 tweets" in text
        half = (panel.intervals.bounds["dist_1"][1] - panel.intervals.bounds["dist_1"][0]) / 2
        dist_row = next(line for line in text.splitlines() if line.startswith("dist-1"))
        assert f"{half:.2f}".lstrip("0") in dist_row
        assert any(isinstance(m, msg.IntervalsComputed) and m.samples == 3 for m in seen)


async def test_training_screen_shows_the_latest_fixed_prompt_samples(make_app, settle):
    from tweetsmith.engine.training_samples import SamplesGenerated, TrainingSample
    from tweetsmith.tui.widgets.training_samples import TrainingSamplesView

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        view = app.screen.query_one(TrainingSamplesView)
        assert not view.display
        for step, text in ((2, "first [try]"), (4, "second try")):
            event = SamplesGenerated(step, (TrainingSample("sama", 1234, text), TrainingSample("paulg", 1235, "")))
            app.post_message(msg.TrainingEventArrived(event))
            await settle(pilot)
        assert view.display and view.event.step == 4
        assert view.plain.splitlines() == [
            "samples at step 4 (same prompts and seeds each evaluation)",
            "@sama seed 1234: second try",
            "@paulg seed 1235: (empty)",
        ]
