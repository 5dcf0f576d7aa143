"""Pilot tests of training from the app, the base/tuned toggle, /ab and the perplexity panel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Button, Input

from tweetsmith.engine.run_record import RunRecord
from tweetsmith.tui import messages as msg
from tweetsmith.tui.widgets.message_card import ABPair, MessageCard
from tweetsmith.tui.widgets.perplexity_panel import PerplexityPanel, format_perplexity


@pytest.fixture(scope="module")
def module_splits(tmp_path_factory, splits_factory) -> Path:
    """Small splits shared by this module's tests (the trained run records this path)."""
    return splits_factory(tmp_path_factory.mktemp("splits"), (120, 30, 30))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_llama_dir, module_splits) -> Path:
    """A LoRA run of the tiny model, trained with the engine directly (4 steps)."""
    from tweetsmith.engine.train import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "tiny-lora"
    finished = train(
        TrainConfig(
            data=str(module_splits),
            model=str(tiny_llama_dir),
            out=str(out),
            lora=True,
            max_steps=4,
            batch_size=2,
            block_size=32,
            eval_every=0,
            save_every=0,
            logging_steps=1,
        )
    )
    assert finished.result_dir
    return out


def _unique(seen, kind):
    return list({id(m): m for m in seen if isinstance(m, kind)}.values())


def _ended(message) -> bool:
    return isinstance(message, (msg.TrainingEnded, msg.TrainingFailed))


def _step_logged(message) -> bool:
    return isinstance(message, msg.TrainingEventArrived) and type(message.event).__name__ == "StepLogged"


def _signal_when_run(screen, action: str) -> asyncio.Event:
    """An event set each time the screen's ``action_<action>`` has run: a click's handling, observed
    (a click is handled some loop turns after pilot.click returns; waiting a while would be a race)."""
    done = asyncio.Event()
    original = getattr(screen, f"action_{action}")

    def run_then_signal() -> None:
        original()
        done.set()

    setattr(screen, f"action_{action}", run_then_signal)
    return done


async def _handled(done: asyncio.Event) -> None:
    await asyncio.wait_for(done.wait(), 600)  # a hang guard only: the action runs in a few loop turns
    done.clear()


async def test_training_screen_form_start_and_use_tuned(
    make_app, tiny_llama_dir, module_splits, tmp_path, settle, message_log
):
    from tweetsmith.tui.screens.training import TrainingScreen
    from tweetsmith.tui.widgets.loss_plot import LossPlot

    seen = message_log
    app = make_app(data_dir=module_splits)
    async with app.run_test(size=(130, 48), message_hook=seen) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        assert screen.query_one("#f-data", Input).value.endswith(module_splits.name)
        fields = {
            "model": str(tiny_llama_dir),
            "out": str(tmp_path / "runs" / "ui"),
            "max_steps": "nine",
            "batch_size": "2",
            "block_size": "32",
            "eval_every": "5",
            "lora_r": "4",
            "early_stopping": "1",
        }  # the form's field reaches the run (at step 10 it is the last step: no stop)
        for name, value in fields.items():
            screen.query_one(f"#f-{name}", Input).value = value
        # A button ignores clicks for its 0.2 s press animation: the second click must not depend on
        # how long the first took, so the animation is off.
        screen.query_one("#start", Button).active_effect_duration = 0
        started = _signal_when_run(screen, "start")
        assert await pilot.click("#start")
        await _handled(started)
        error = screen.query_one("#form-error")
        assert error.display and "max_steps: 'nine' is not a whole number" in str(error.content)
        assert not app.workspace.training_running
        screen.query_one("#f-max_steps", Input).value = "10"
        assert await pilot.click("#start")
        await _handled(started)
        # the App started it: its worker's first message came (posted only after the App took the request)
        await seen.wait_for(
            lambda m: isinstance(m, (msg.TrainingProgressed, msg.TrainingEventArrived, msg.TrainingFailed))
        )
        assert not error.display and app.workspace.training_running
        await seen.wait_for(_ended)
        await settle(pilot)  # the training worker has finished and its last messages are handled
        assert not _unique(seen, msg.TrainingFailed), _unique(seen, msg.TrainingFailed)
        finished = _unique(seen, msg.TrainingEnded)[0].finished
        assert finished.outcome == "completed" and finished.steps == 10
        record = RunRecord.read(tmp_path / "runs" / "ui")
        assert (record.lora, record.lora_r, record.batch_size, record.block_size) == (True, 4, 2, 32)
        assert (record.early_stopping, record.report_to) == (1, "none")
        plot = screen.query_one(LossPlot)
        logged = [e.event for e in _unique(seen, msg.TrainingEventArrived) if type(e.event).__name__ == "StepLogged"]
        assert (
            plot.steps == [e.step for e in logged] and plot.losses == [e.loss for e in logged] and plot.steps[-1] == 10
        )
        evaluated = [e.event for e in _unique(seen, msg.TrainingEventArrived) if type(e.event).__name__ == "Evaluated"]
        assert plot.perplexities == [e.valid_perplexity for e in evaluated] and plot.eval_steps == [5, 10]
        assert "Done: 10 steps" in str(screen.query_one("#train-result").content)
        assert app.workspace.run_dir == tmp_path / "runs" / "ui"
        assert not screen.query_one("#use-tuned", Button).disabled
        assert await pilot.click("#use-tuned")
        await settle(pilot)
        assert app.workspace.side == "tuned" and app.workspace.model.info.adapter is not None
        assert "tuned" in app.main.header.title_text and "LoRA" in app.main.header.title_text
        # the panel was refreshed with base vs tuned of the new run
        table = app.main.query_one(PerplexityPanel).table
        assert table is not None and table.get("tuned", "valid") is not None


async def test_training_stop_keeps_a_checkpoint(make_app, tiny_llama_dir, module_splits, tmp_path, settle, message_log):
    from tweetsmith.engine.train import TrainConfig

    seen = message_log
    app = make_app(data_dir=module_splits)
    async with app.run_test(size=(130, 48), message_hook=seen) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        out = tmp_path / "runs" / "stop"
        app.screen.start(
            TrainConfig(
                data=str(module_splits),
                model=str(tiny_llama_dir),
                out=str(out),
                lora=True,
                max_steps=5000,
                batch_size=2,
                block_size=32,
                eval_every=0,
                logging_steps=1,
            )
        )
        await seen.wait_for(_step_logged)
        assert app.workspace.training_running
        stopped = _signal_when_run(app.screen, "stop")
        assert await pilot.click("#stop")
        await _handled(stopped)
        await seen.wait_for(_ended)
        await settle(pilot)
        finished = _unique(seen, msg.TrainingEnded)[0].finished
        assert finished.outcome == "stopped" and 0 < finished.steps < 5000
        assert any((out / "checkpoints").iterdir())
        assert "Stopped" in str(app.screen.query_one("#train-result").content)
        # the chat stayed usable: back to it, and it streams while nothing else runs
        await pilot.press("escape")
        assert app.screen is app.main


async def test_base_tuned_toggle_and_ab(make_app, trained_run, settle, submit):
    seen: list = []
    app = make_app(loaded=None, run_dir=trained_run, data_dir=None)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        ws = app.workspace
        assert ws.side == "tuned" and ws.model.info.adapter is not None
        assert app.main.header.side == "tuned"
        await pilot.press("ctrl+b")
        await settle(pilot)
        ws = app.workspace  # a new value: the App replaces it, never changes it
        assert ws.side == "base" and ws.model.info.adapter is None and app.main.header.side == "base"
        await submit(pilot, "/tuned")
        await settle(pilot)
        assert app.workspace.side == "tuned"
        await submit(pilot, "/ab paulg: Hello")
        await settle(pilot)
        pair = app.main.query_one(ABPair)
        cards = list(pair.query(MessageCard))
        assert [c.side for c in cards] == ["base", "tuned"]
        samples = {m.side: m.sample for m in _unique(seen, msg.SampleFinished)}
        assert [c.text for c in cards] == [samples["base"].text, samples["tuned"].text]
        assert samples["tuned"].adapter is not None and samples["base"].adapter is None


async def test_perplexity_panel_matches_the_engine(make_app, trained_run, module_splits, settle):
    from tweetsmith.engine.models import load_run_model
    from tweetsmith.engine.perplexity import max_len_for, perplexity_of_file

    app = make_app(loaded=None, run_dir=trained_run, data_dir=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.main.query_one(PerplexityPanel)
        assert panel.table is None  # nothing cached yet
        await pilot.press("ctrl+e")
        await settle(pilot)
        table = panel.table
        assert not panel.busy and table is not None
        for tuned, side in ((False, "base"), (True, "tuned")):
            loaded = load_run_model(trained_run, tuned=tuned)
            for split in ("valid", "test"):
                stride = min(512, max_len_for(loaded.model))  # the tiny model's context is 256 tokens
                expected = perplexity_of_file(loaded, module_splits / f"{split}.txt", stride_tokens=stride).perplexity
                assert table.get(side, split) == pytest.approx(expected, rel=1e-6)
        shown = str(panel.query_one("#ppl-table").content)
        for side in ("base", "tuned"):
            for split in ("valid", "test"):
                assert format_perplexity(table.get(side, split)) in shown
    app = make_app(loaded=None, run_dir=trained_run, data_dir=None)
    async with app.run_test(size=(120, 40)) as pilot:  # shown at once next time, from RUN/eval.json
        await settle(pilot)
        panel = app.main.query_one(PerplexityPanel)
        assert panel.table is not None and panel.table.values == table.values
        assert "cached" in panel.table.note


async def test_perplexity_without_a_run_scores_the_loaded_model(make_app, tiny_loaded, small_splits, settle):
    from tweetsmith.engine.perplexity import perplexity_of_file

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+e")
        await settle(pilot)
        table = app.main.query_one(PerplexityPanel).table
        for split in ("valid", "test"):
            expected = perplexity_of_file(tiny_loaded, small_splits / f"{split}.txt", stride_tokens=256).perplexity
            assert table.get("base", split) == pytest.approx(expected, rel=1e-6)
            assert table.get("tuned", split) is None
