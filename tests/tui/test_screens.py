"""Snapshots of the main and training screens (fixed size, no timings), the sweep screen, the palette."""

from __future__ import annotations

import pytest

from tweetsmith.tui.session import ChatEntry

ENTRIES = [
    ChatEntry(
        author="paulg",
        prompt_text="The best startups",
        text=" are the ones that [look] like toys at first.",
        params={"temperature": 0.9, "top_k": 50, "top_p": 1.0},
        seed=0,
        new_tokens=12,
        seconds=0.8,
        first_token_s=0.12,
        tokens_per_s=15.0,
        model="tiny-llama",
    ),
    ChatEntry(
        author="sama",
        prompt_text="",
        text="The most important thing is to keep going when it gets hard.",
        params={"temperature": 0.7, "top_k": 25, "top_p": 0.9},
        seed=3,
        new_tokens=14,
        seconds=1.0,
        first_token_s=0.1,
        tokens_per_s=14.0,
        model="tiny-llama",
        stopped=True,
    ),
]


@pytest.fixture()
def seeded_session(tmp_path):
    path = tmp_path / "session" / "chat.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(e.to_json() + "\n" for e in ENTRIES), encoding="utf-8")
    return path


async def _settled(pilot) -> None:
    from textual.widgets import Input
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(3):
        try:
            await pilot.app.workers.wait_for_complete()
        except (WorkerCancelled, WorkerFailed):
            pass
        await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False  # a blinking cursor would make the picture depend on timing


def test_main_screen_snapshot(make_app, seeded_session, snap_compare):
    app = make_app(session_path=seeded_session)
    assert snap_compare(app, terminal_size=(120, 36), run_before=_settled)


def test_training_screen_snapshot(make_app, small_splits, snap_compare):
    async def open_training(pilot):
        await _settled(pilot)
        await pilot.press("ctrl+t")
        screen = pilot.app.screen
        for name, value in (("data", "data/vc_tweets"), ("model", "smollm2-135m"), ("out", "runs/vc_tweets-lora")):
            screen.query_one(f"#f-{name}").value = value
        await _settled(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=open_training)


async def test_sweep_screen_shows_the_engine_numbers(make_app, tiny_loaded, small_splits, settle, submit):
    from tweetsmith.engine.diversity import diversity, reference_from_file
    from tweetsmith.engine.experiments import authors_from_split
    from tweetsmith.engine.generate import generate_samples
    from tweetsmith.tui.screens.sweep import SweepScreen, metric

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await submit(pilot, "/sweep temp 0.5 1.2 n=3")
        assert isinstance(app.screen, SweepScreen)
        await settle(pilot)
        result = app.screen.result
        assert result.param == "temperature" and result.values == (0.5, 1.2)
        authors = authors_from_split(small_splits / "train.txt", 3, seed=0)
        reference = reference_from_file(small_splits / "test.txt")
        assert len(result.curves["base"]) == 2  # one point per value: zip must not drop one
        for value, point in zip((0.5, 1.2), result.curves["base"]):
            samples = generate_samples(tiny_loaded, authors, app.main.sampling.with_changes(temperature=value))
            expected = diversity([s.text for s in samples], reference=reference)
            assert (metric(point, "dist_1"), metric(point, "dist_2"), metric(point, "self_bleu")) == (
                expected.dist_1,
                expected.dist_2,
                expected.self_bleu,
            )
        table = str(app.screen.query_one("#sweep-table").content)
        assert f"{expected.dist_1:.3f}" in table and f"{expected.self_bleu:.3f}" in table
        copied = [f"{metric(p, 'copied'):.3f}" for p in result.curves["base"]]
        assert "base copied".ljust(16) + "".join(f"{c:>8}" for c in copied) in table
        band = result.human.bounds
        assert f"dist-1 {band['dist_1'][0]:.3f}-{band['dist_1'][1]:.3f}" in table
        await pilot.press("escape")
        assert app.screen is app.main


async def test_palette_lists_the_app_commands(make_app, settle):
    from tweetsmith.tui.palette import PALETTE_COMMANDS

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await app.run_action("slash('/temp 0.4')")
        await settle(pilot)  # the App handed the line to the chat screen (a message), which ran it
        assert app.main.sampling.temperature == 0.4
        await pilot.press("ctrl+p", *"train a")
        await settle(pilot)  # the palette's search workers have finished: the hits are listed
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "TrainingScreen"
    assert {name for name, _help, _action in PALETTE_COMMANDS} >= {
        "Train a model",
        "Evaluate perplexity",
        "Sweep temperature",
    }
