"""The training screen shows stage progress and in-step heartbeats, fed through the training worker's own
callback (``app.relay_training_event``; the App forwards the messages to the screen, so each check waits
for the app to settle), and merges superseded progress messages. No training runs: the engine's events
are made here, so the test is exact and instant."""

from __future__ import annotations

import pytest
from textual.widgets import ProgressBar

from tweetsmith.engine.progress import Progress
from tweetsmith.engine.train_events import StepHeartbeat, StepLogged, TrainingStarted
from tweetsmith.tui import messages as msg

STARTED = TrainingStarted(
    total_steps=138,
    epochs=1.0,
    train_tokens=35_000,
    block_size=256,
    batch_size=8,
    grad_accum=1,
    memory_estimate_bytes=2 * 2**30,
    device="cpu",
    dtype="float32",
    method="lora",
    trainable_parameters=1_800_000,
    total_parameters=135_000_000,
    resumed_from_step=0,
    model_description="tiny-llama",
)


def _handled(seen, kind):
    return list({id(m): m for m in seen if isinstance(m, kind)}.values())


async def test_stage_and_heartbeat_lines_and_fractional_progress(make_app, settle):
    from tweetsmith.tui.screens.training import TrainingScreen

    seen: list = []
    app = make_app()
    async with app.run_test(size=(130, 48), message_hook=seen.append) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        bar = screen.query_one("#train-progress", ProgressBar)

        app.relay_training_event(Progress("loading model", 0, None))
        await settle(pilot)
        assert screen.activity_text == "loading model…"
        app.relay_training_event(Progress("encoding train", 1200, None, "records"))
        await settle(pilot)
        assert screen.activity_text == "encoding train 1200 records"

        app.relay_training_event(STARTED)
        app.relay_training_event(
            StepHeartbeat(step=12, total_steps=138, fraction=0.63, micro_batch=1, grad_accum=1, eta_s=1440.0)
        )
        await settle(pilot)
        assert screen.activity_text == "step 13/138 · micro-batch 1/1 · 63% · ETA 24m00s"
        assert bar.total == 138 and bar.progress == pytest.approx(12.63)
        assert "training 12/138" in app.main.header.status

        app.relay_training_event(Progress("evaluating valid", 120, 180, "windows"))
        await settle(pilot)
        assert screen.activity_text == "evaluating valid 120/180 windows"
        assert bar.progress == pytest.approx(12.63)  # a stage between steps leaves the step count alone

        app.relay_training_event(
            StepHeartbeat(step=0, total_steps=138, fraction=0.05, micro_batch=2, grad_accum=4, eta_s=None)
        )
        await settle(pilot)
        assert screen.activity_text == "step 1/138 · micro-batch 2/4 · 5% · ETA –"

        app.relay_training_event(
            StepLogged(
                step=13, total_steps=138, epoch=0.09, loss=3.25, lr=3e-4, tokens_per_s=150.0, eta_s=1400.0, mfu=None
            )
        )
        await settle(pilot)
        assert bar.progress == 13 and screen.activity_text == "step 13/138 done · ETA 23m20s"
        assert "loss 3.250" in str(screen.query_one("#train-stats").content)
        # progress went as replaceable messages, everything else as one message each
        assert {type(m.event) for m in _handled(seen, msg.TrainingProgressed)} == {Progress, StepHeartbeat}
        assert {type(m.event) for m in _handled(seen, msg.TrainingEventArrived)} == {TrainingStarted, StepLogged}


async def test_superseded_progress_is_merged(make_app, settle):
    """A burst of heartbeats queued before the UI runs is handled once, as the newest of them."""
    seen: list = []
    app = make_app()
    async with app.run_test(size=(130, 48), message_hook=seen.append) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        app.relay_training_event(STARTED)
        await settle(pilot)
        posted = [
            StepHeartbeat(step=5, total_steps=138, fraction=i / 200, micro_batch=1, grad_accum=1, eta_s=600.0)
            for i in range(200)
        ]
        for event in posted:  # no await in between: all 200 are queued before the app handles any
            app.relay_training_event(event)
        app.relay_training_event(
            StepLogged(
                step=6, total_steps=138, epoch=0.04, loss=3.0, lr=3e-4, tokens_per_s=150.0, eta_s=590.0, mfu=None
            )
        )
        await settle(pilot)
        handled = _handled(seen, msg.TrainingProgressed)
        assert [m.event for m in handled] == [posted[-1]]
        assert app.screen.query_one("#train-progress", ProgressBar).progress == 6  # the step log after them still came
