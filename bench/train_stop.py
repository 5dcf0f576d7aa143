"""How long Stop takes: from setting the cancel event to ``train()`` returning (checkpoint and final/ saved).

The embedded model, LoRA, 8 x 256 tokens per step on CPU, the settings of a laptop run. Each trial
starts a training in a thread, waits for the first step to finish, waits a random 0-10 s more (so the
stop lands anywhere inside a step) and sets the event, as the app's Stop button and Ctrl-C do. Ours
checks the event inside every layer's forward and backward pass (engine/step_watch.py); the baseline,
measured side by side, is the same run with that check switched off, i.e. a stop honoured at the end of
the optimizer step (the previous behaviour).

    python bench/train_stop.py [--trials 5] [--baseline-trials 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def one_stop(data: Path, out: Path, delay_s: float, *, inside_step: bool) -> tuple[float, int]:
    """Seconds from cancel to return, and the step the checkpoint holds."""
    from tweetsmith.engine import step_watch
    from tweetsmith.engine.train import TrainConfig, train
    from tweetsmith.engine.train_events import StepLogged

    cancel = threading.Event()
    first_step = threading.Event()
    result = {}

    def on_event(event):
        if isinstance(event, StepLogged):
            first_step.set()

    config = TrainConfig(
        data=str(data),
        model="smollm2-135m",
        out=str(out),
        lora=True,
        batch_size=8,
        block_size=256,
        max_steps=50,
        eval_every=0,
        save_every=0,
        logging_steps=1,
        precision="fp32",
    )
    step_watch_check = step_watch.StepWatch.check
    if not inside_step:  # the baseline: heartbeats still flow, but the stop waits for the step's end

        def check(self, fraction=None):
            raise_on_cancel, self.raise_on_cancel = self.raise_on_cancel, False
            try:
                step_watch_check(self, fraction)
            finally:
                self.raise_on_cancel = raise_on_cancel

        step_watch.StepWatch.check = check
    try:
        worker = threading.Thread(target=lambda: result.update(done=train(config, on_event=on_event, cancel=cancel)))
        worker.start()
        first_step.wait()
        time.sleep(delay_s)
        stopped_at = time.perf_counter()
        cancel.set()
        worker.join()
        took = time.perf_counter() - stopped_at
    finally:
        step_watch.StepWatch.check = step_watch_check
    return took, result["done"].steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--baseline-trials", type=int, default=3)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "vc_tweets"))
    args = parser.parse_args(argv)
    from train_throughput import ensure_importable

    ensure_importable()
    rnd = random.Random(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="train-stop-") as tmp:
        for label, inside, trials in (
            ("ours: checked inside the step", True, args.trials),
            ("baseline: checked at the step's end", False, args.baseline_trials),
        ):
            times = []
            for trial in range(trials):
                delay = rnd.uniform(0, 10)
                took, step = one_stop(Path(args.data), Path(tmp) / f"{inside}-{trial}", delay, inside_step=inside)
                times.append(took)
                print(
                    f"  {label}: stop after {delay:.1f} s into the run's 2nd step -> ended in {took:.2f} s, "
                    f"checkpoint of step {step}",
                    file=sys.stderr,
                    flush=True,
                )
            rows.append((label, times))
    base = statistics.median(rows[1][1]) if rows[1][1] else None
    print("\n| stop | trials | p50 | max | p50 ratio to baseline |")
    print("|---|---|---|---|---|")
    for label, times in rows:
        if not times:
            continue
        p50 = statistics.median(times)
        ratio = f"{p50 / base:.2f}x" if base else ""
        print(f"| {label} | {len(times)} | {p50:.2f} s | {max(times):.2f} s | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
