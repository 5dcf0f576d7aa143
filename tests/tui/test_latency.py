"""Sampling keys act while a model streams: the event loop is never blocked by generation.

Each key is posted as the terminal driver does (``events.Key``) and its effect awaited through the
sampling reactive's watcher (the app's own signal), so the test waits on state, never on the clock. How
fast a key is answered (the issue's 100 ms) is measured by ``bench/ui_latency.py``, side by side with
the same keys on an idle app, not asserted here: a busy CI machine slows both.
"""

from __future__ import annotations

import asyncio
import time

from textual import events

from tweetsmith.tui import messages as msg

PRESSES = 6


async def test_sampling_keys_act_while_a_model_streams(make_app, tiny_loaded, settle, submit, message_log):
    def slow(module, args, kwargs):  # 5 ms a token: 20 samples of 190 tokens outlast the presses anywhere
        time.sleep(0.005)

    handle = tiny_loaded.model.register_forward_pre_hook(slow, with_kwargs=True)
    app = make_app()
    answers: list[tuple[float, bool]] = []
    try:
        async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
            await settle(pilot)
            await submit(pilot, "/max 190", "/k 0", "/temp 1.5", "/n 20")
            main = app.main
            answered = asyncio.Event()

            def on_change(value) -> None:
                answers.append((round(value.temperature, 2), main.streaming))
                answered.set()

            main.watch(main, "sampling", on_change, init=False)
            await pilot.press("escape")  # leave the input: the letters are sampling keys now
            main.run_line("paulg")
            await message_log.wait_for(lambda m: isinstance(m, msg.TokensArrived) and m.text)
            for i in range(PRESSES):
                answered.clear()
                key = "t" if i % 2 else "T"
                app.post_message(events.Key(key, key))
                await asyncio.wait_for(answered.wait(), 600)  # a hang guard only
            main.stop_generation()
            await settle(pilot)
    finally:
        handle.remove()
    assert answers == [(1.6, True), (1.5, True)] * (PRESSES // 2)
