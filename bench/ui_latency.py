"""Key latency of the app while the embedded model streams, against the same keys on the idle app.

A key is posted as the terminal driver does (``events.Key``); its delay ends when the sampling
reactive's watcher runs (the app's own signal that the key took effect). Target: p50 under 100 ms
while streaming. Also prints the time from the request to the first text in the card.

    python bench/ui_latency.py [--presses 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def splits(root: Path) -> Path:
    """A few tweet lines in each split: the app needs authors, the latency does not depend on them."""
    lines = [
        f"\\{a}- the best way to learn is to build something people want {i}"
        for i, a in enumerate(["paulg", "sama", "pmarca"] * 20)
    ]
    for name in ("train", "valid", "test"):
        (root / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


async def measure(presses: int) -> dict:
    from textual import events

    from tweetsmith.engine.models import load_model
    from tweetsmith.tui import messages as msg
    from tweetsmith.tui.app import TweetsmithApp

    loaded = load_model("smollm2-135m")
    with tempfile.TemporaryDirectory() as tmp:
        first_text = asyncio.Event()
        app = TweetsmithApp(loaded=loaded, data_dir=splits(Path(tmp)), session_path=Path(tmp) / "chat.jsonl")

        def hook(message) -> None:
            if isinstance(message, msg.TokensArrived) and message.text:
                first_text.set()

        async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
            await pilot.pause()
            main = app.main
            for line in ("/max 200", "/k 0", "/n 3", "/temp 1.0"):
                main.run_line(line)
            await pilot.pause()
            answered = asyncio.Event()
            changed: list[float] = []

            def on_change(_value) -> None:
                changed.append(time.perf_counter())
                answered.set()

            main.watch(main, "sampling", on_change, init=False)
            await pilot.press("escape")

            async def delays(n: int, while_streaming: bool) -> list[float]:
                out = []
                for i in range(n):
                    if while_streaming and not main.streaming:
                        break
                    answered.clear()
                    key = "t" if i % 2 else "T"
                    started = time.perf_counter()
                    app.post_message(events.Key(key, key))
                    try:
                        await asyncio.wait_for(answered.wait(), 2.0)
                        out.append(changed[-1] - started)
                    except asyncio.TimeoutError:
                        out.append(float("inf"))  # unanswered in 2 s: infinitely late
                    await asyncio.sleep(0.05)  # a typist's pace
                return out

            idle = await delays(presses, False)
            requested = time.perf_counter()
            main.run_line("paulg")
            await first_text.wait()
            first_s = time.perf_counter() - requested
            streaming = await delays(presses, True)
            main.stop_generation()
            await pilot.pause()
    return {"idle": idle, "streaming": streaming, "first_text_s": first_s}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=30)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    result = asyncio.run(measure(args.presses))
    base = statistics.median(result["idle"])
    print("| keys | presses | p50 ms | p95 ms | max ms | p50 / idle p50 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("idle", "streaming"):
        d = result[name]
        print(
            f"| {name} | {len(d)} | {1000 * statistics.median(d):.1f} | {1000 * pct(d, 0.95):.1f} | {1000 * max(d):.1f} "
            f"| {statistics.median(d) / base:.2f}x |"
        )
    print(f"\nfirst text in the card {result['first_text_s']:.3f} s after the request; target: streaming p50 < 100 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
