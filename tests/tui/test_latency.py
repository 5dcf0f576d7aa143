"""The UI answers a key within 100 ms while a model streams (the issue's explicit requirement).

Delay = from sending the key to the moment the sampling reactive changes, measured while a thread
worker streams from the model. The assertion is on the median of several presses, so one scheduler
hiccup on a busy 2-core machine doesn't fail it; the embedded-model variant also prints the numbers.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from textual import events

from tweetsmith.tui import messages as msg


async def _key_delays(app, pilot, log, presses: int) -> tuple[list[float], float]:
    """Start a long stream, then send T/t while it runs; return the delays and the time from the
    request to the first text reaching the UI (seconds).

    Keys are posted to the app as the terminal driver does (``events.Key``); ``pilot.press`` would
    also wait for the process to go idle, which never happens while a model runs. Each delay ends when
    the sampling reactive's watcher runs (the app's own signal that the key took effect).
    """
    main = app.main
    changed: list[float] = []
    answered = asyncio.Event()

    def on_change(_value) -> None:
        changed.append(time.perf_counter())
        answered.set()

    main.watch(main, "sampling", on_change, init=False)
    await pilot.press("escape")  # leave the input: the letters are sampling keys now
    requested = time.perf_counter()
    main.run_line("paulg")
    _message, first_text = await log.wait_for(lambda m: isinstance(m, msg.TokensArrived) and m.text)
    first_text_s = first_text - requested
    delays: list[float] = []
    for i in range(presses):
        if not main.streaming:
            break
        answered.clear()
        key = "t" if i % 2 else "T"
        started = time.perf_counter()
        app.post_message(events.Key(key, key))
        try:
            await asyncio.wait_for(answered.wait(), 2.0)  # a key unanswered in 2 s counts as infinitely late
            delays.append(changed[-1] - started)
        except asyncio.TimeoutError:
            delays.append(float("inf"))
        await asyncio.sleep(0.05)  # keys at a typist's pace (the measurement's protocol, not a wait for state)
    return delays, first_text_s


async def test_key_answers_within_100ms_while_streaming(make_app, settle, submit, message_log):
    seen = message_log
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=seen) as pilot:
        await settle(pilot)
        await submit(pilot, "/max 190", "/k 0", "/temp 1.5", "/n 20")
        delays, _ = await _key_delays(app, pilot, seen, presses=9)
        assert any(isinstance(m, msg.TokensArrived) for m in seen)
        assert app.main.streaming, "the stream ended before the presses did: the measurement needs a longer stream"
        app.main.stop_generation()
        await settle(pilot)
    assert len(delays) >= 5
    assert statistics.median(delays) < 0.100, delays


@pytest.mark.embedded
@pytest.mark.slow
async def test_embedded_model_latency_and_first_token(embedded_dir, small_splits, tmp_path, tui_home, settle, submit, capsys,
                                                      message_log):
    """Time to first streamed token and key delay (p50/p95) with the real embedded model."""
    from tweetsmith.engine.models import load_model
    from tweetsmith.tui.app import TweetsmithApp

    loaded = load_model("smollm2-135m")
    app = TweetsmithApp(loaded=loaded, data_dir=small_splits, session_path=tmp_path / "chat.jsonl")
    seen = message_log
    async with app.run_test(size=(120, 40), message_hook=seen) as pilot:
        await settle(pilot)
        await submit(pilot, "/max 200", "/k 0", "/n 3")
        delays, first_text_s = await _key_delays(app, pilot, seen, presses=30)
        app.main.stop_generation()
        await settle(pilot)
    samples = [m.sample for m in {id(m): m for m in seen if isinstance(m, msg.SampleFinished)}.values()]
    firsts = [round(s.first_token_s, 3) for s in samples]
    speeds = [round(s.tokens_per_s, 1) for s in samples]
    delays_ms = sorted(d * 1000 for d in delays)
    p50 = statistics.median(delays_ms)
    p95 = delays_ms[min(len(delays_ms) - 1, int(round(0.95 * (len(delays_ms) - 1))))]
    with capsys.disabled():
        print(f"\nembedded: first text in the card {first_text_s:.3f} s after the request; engine first token {firsts} s, "
              f"{speeds} tokens/s; key delay over {len(delays_ms)} presses p50 {p50:.1f} ms p95 {p95:.1f} ms max {max(delays_ms):.1f} ms")
    assert p50 < 100
