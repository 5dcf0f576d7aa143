"""A training started from the app on a run another process is training: refused at once, with the
holder's pid on the training screen, and nothing written into the run."""

from __future__ import annotations

import os

from textual.widgets import Button, Input

from tweetsmith.tui import messages as msg


async def test_the_app_refuses_a_locked_run_naming_the_holder(
    make_app, tiny_llama_dir, small_splits, tmp_path, settle, message_log
):
    from tweetsmith.engine.dir_lock import holding
    from tweetsmith.tui.screens.training import TrainingScreen

    run = tmp_path / "runs" / "busy"
    app = make_app(data_dir=small_splits)
    with holding(run, "training"):  # another training (the CLI, another tab) holds the run
        before = sorted(p.name for p in run.iterdir())
        async with app.run_test(size=(130, 48), message_hook=message_log) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+t")
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            fields = {
                "model": str(tiny_llama_dir),
                "out": str(run),
                "max_steps": "2",
                "batch_size": "2",
                "block_size": "32",
                "lora_r": "4",
            }
            for name, value in fields.items():
                screen.query_one(f"#f-{name}", Input).value = value
            screen.query_one("#start", Button).active_effect_duration = 0
            assert await pilot.click("#start")
            failed, _ = await message_log.wait_for(lambda m: isinstance(m, (msg.TrainingFailed, msg.TrainingEnded)))
            await settle(pilot)
            assert isinstance(failed, msg.TrainingFailed), failed
            assert f"is in use by pid {os.getpid()} (training)" in failed.error and "\n" not in failed.error
            error = screen.query_one("#form-error")
            assert error.display and f"pid {os.getpid()}" in str(error.content)
            assert not app.workspace.training_running
        assert sorted(p.name for p in run.iterdir()) == before
