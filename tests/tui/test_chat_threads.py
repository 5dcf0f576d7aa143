"""The chat never changes torch's process-wide thread count: while a training runs, each sample's own
generation thread gets one thread (engine.threads), and torch's setting seen by every other thread stays."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from tweetsmith.tui import messages as msg


@pytest.mark.parametrize("training", [False, True], ids=["idle", "training"])
async def test_generation_threads_follow_the_training_and_nothing_else_changes(
    make_app, settle, submit, monkeypatch, training
):
    import torch

    from tweetsmith.engine import generate

    asked: list = []
    seen_in_generation: list[int] = []
    real_run = generate.SampleStream._run

    def spy_run(self, loaded):  # the generation thread: what count does it run with?
        real_run(self, loaded)
        seen_in_generation.append(torch.get_num_threads())

    real_stream = generate.stream_sample

    def spy_stream(*args, **kwargs):
        asked.append(kwargs.get("num_threads"))
        return real_stream(*args, **kwargs)

    monkeypatch.setattr(generate, "stream_sample", spy_stream)
    monkeypatch.setattr(generate.SampleStream, "_run", spy_run)
    torch.set_num_threads(2)  # the autouse fixture restores its own value after the test
    finished: list = []
    app = make_app()
    async with app.run_test(
        size=(120, 40), message_hook=lambda m: finished.append(m) if isinstance(m, msg.SampleFinished) else None
    ) as pilot:
        await settle(pilot)
        app.workspace = replace(app.workspace, training_running=training)  # as while the app's training runs
        await submit(pilot, "paulg")
        await settle(pilot)
        assert finished
    assert asked == [1 if training else None]
    assert seen_in_generation == [1 if training else 2]
    assert torch.get_num_threads() == 2  # the main thread's

    later: list[int] = []
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert later == [2]  # a thread started afterwards (a training) gets the process-wide count
