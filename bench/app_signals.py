"""How fast the app ends when its terminal goes: SIGHUP, SIGTERM, or the terminal closed, idle and training.

tui/lifeline.py says the app ends within ~2 s of a hang-up or SIGTERM (a running training first stops
with a checkpoint). This starts the real command, ``.venv/bin/tweetsmith tui --model M --data D``, on a
pseudo-terminal of its own (``pty.fork``: the pty is its controlling terminal, as in a real terminal
window), waits until it has drawn its header ("loaded in"), and then

- sends SIGHUP, or SIGTERM, or closes the pty's master side (the terminal window closed: the kernel
  hangs up the terminal);
- the same while a training runs in the app: ``/train``, Enter, ctrl+s (the form's defaults: LoRA on the
  app's data, one epoch), signalled at a random moment (0-3 s, seeded) after the training screen shows
  step 2 running, so a checkpoint of step 1 is there to keep and the signal lands anywhere in a step;

and measures the seconds from the signal (or the close) to the process's exit, as ``waitpid`` returns
it. Each case runs ``--repeats`` times, each in a fresh process; the table gives the median and the
maximum against the 2 s target, with the exit statuses seen.

    python bench/app_signals.py [--repeats 3] [--model tiny|smollm2-135m|DIR]

``tiny`` (the default) is a 2-layer Llama with the embedded model's tokenizer, built in a temporary
directory, so the figures measure the app's shutdown rather than a model's load; the embedded model
makes each training step take seconds (the stop is checked inside a step, see bench/train_stop.py).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import random
import re
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TWEETSMITH = REPO / ".venv" / "bin" / "tweetsmith"
TARGET_S = 2.0  # the figure tui/lifeline.py gives
STARTUP_BOUND_S = 300.0  # only a hang reaches these bounds
EXIT_BOUND_S = 120.0
ROWS, COLUMNS = 40, 130
SECOND_STEP = re.compile(rb"step 2/\d+ \xc2\xb7 micro-batch")  # the training screen's activity line, in step 2
MAX_DELAY_S = 3.0  # then a random moment within about a step (the tiny model's 8 x 256 step takes ~4 s here)


def tiny_model(out: Path) -> Path:
    """A 2-layer Llama (hidden 64) with the embedded model's tokenizer, saved as a model directory."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from tweetsmith.engine.embedded import ensure_embedded

    tokenizer = AutoTokenizer.from_pretrained(ensure_embedded())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tweet_splits(out: Path, train_lines: int = 6000) -> Path:
    """train/valid/test.txt of made-up tweets: enough text that one epoch lasts a while."""
    words = (
        "the best way to learn is build something people want startups ideas work hard ship it users "
        "growth founders write code every day great products come from small teams"
    ).split()
    rnd = random.Random(0)
    out.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", train_lines), ("valid", 200), ("test", 200)):
        lines = [
            f"\\{rnd.choice(['paulg', 'sama', 'pmarca'])}- " + " ".join(rnd.choices(words, k=rnd.randint(8, 30)))
            for _ in range(count)
        ]
        (out / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


class App:
    """The app on a pty of its own; ``output`` is everything it drew."""

    def __init__(self, model: str, data: Path, root: Path):
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "TWEETSMITH_HOME": str(root / "home"),
            "TWEETSMITH_RUNS": str(root / "runs"),
            "TWEETSMITH_STATE": str(root / "state"),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        env.pop("TEXTUAL_ALLOW_SIGNALS", None)
        argv = [str(TWEETSMITH), "tui", "--model", model, "--data", str(data)]
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            try:
                os.chdir(root)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.output = b""
        self.status: int | None = None
        self.exited_at: float | None = None
        self._exited = threading.Event()
        self._reading = threading.Event()
        self._reading.set()
        threading.Thread(target=self._wait, daemon=True).start()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _wait(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.exited_at = time.perf_counter()
        self.status = os.waitstatus_to_exitcode(status)
        self._exited.set()

    def _read(self) -> None:
        """Drain the pty (an app whose writes block would not exit), until stopped or the app is gone."""
        while self._reading.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the app closed its side
                return
            if not chunk:
                return
            self.output += chunk

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_for(self, pattern: re.Pattern | bytes, bound_s: float = STARTUP_BOUND_S) -> None:
        deadline = time.monotonic() + bound_s
        found = (
            (lambda: pattern in self.output) if isinstance(pattern, bytes) else (lambda: pattern.search(self.output))
        )
        while not found():
            if self._exited.is_set():
                raise RuntimeError(
                    f"the app ended (status {self.status}) before drawing {pattern!r}: {self.output[-1500:]!r}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{pattern!r} not drawn within {bound_s:.0f} s: {self.output[-1500:]!r}")
            time.sleep(0.05)

    def end(self, how: str) -> float:
        """Signal (SIGHUP/SIGTERM) or close the terminal; seconds until the process exited."""
        if how == "close":
            self._reading.clear()
            self._reader.join()
            began = time.perf_counter()
            os.close(self.master)
        else:
            began = time.perf_counter()
            os.kill(self.pid, getattr(signal, how))
        if not self._exited.wait(EXIT_BOUND_S):
            os.kill(self.pid, signal.SIGKILL)
            self._exited.wait()
            raise RuntimeError(f"the app was still running {EXIT_BOUND_S:.0f} s after {how}")
        if how != "close":
            self._reading.clear()
            self._reader.join()
            os.close(self.master)
        return self.exited_at - began


def one_run(model: str, data: Path, how: str, training: bool, delay_s: float) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="app-signals-") as tmp:
        app = App(model, data, Path(tmp))
        app.wait_for(b"loaded in")
        if training:
            app.type(b"/train\r")
            app.wait_for(b"Training runs in the background")
            app.type(b"\x13")  # ctrl+s: start with the form's defaults
            app.wait_for(SECOND_STEP)
            time.sleep(delay_s)
        seconds = app.end(how)
        return seconds, app.status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case, each a fresh app")
    parser.add_argument(
        "--model", default="tiny", help="tiny (a 2-layer Llama built here), smollm2-135m, or a model dir"
    )
    parser.add_argument("--only", default="", help="run only the cases whose label holds this text (e.g. training)")
    args = parser.parse_args(argv)
    if not TWEETSMITH.exists():
        print(f"{TWEETSMITH} is missing: run `make setup` first", file=sys.stderr)
        return 2
    cases = [(how, training) for training in (False, True) for how in ("SIGHUP", "SIGTERM", "close")]
    rows = []
    rnd = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="app-signals-inputs-") as tmp:
        model = str(tiny_model(Path(tmp) / "tiny")) if args.model == "tiny" else args.model
        data = tweet_splits(Path(tmp) / "data")
        for how, training in cases:
            label = f"{'training' if training else 'idle'}, {how if how != 'close' else 'terminal closed'}"
            if args.only not in label:
                continue
            runs = [one_run(model, data, how, training, rnd.uniform(0, MAX_DELAY_S)) for _ in range(args.repeats)]
            seconds = [s for s, _ in runs]
            rows.append((label, statistics.median(seconds), max(seconds), sorted({status for _, status in runs})))
            print(
                f"{label}: {', '.join(f'{s:.2f}' for s in seconds)} s (exit {rows[-1][3]})", file=sys.stderr, flush=True
            )
    print(
        f"\napp exit after its terminal goes ({args.model} model, {args.repeats} runs per case, target {TARGET_S:g} s)"
    )
    print(f"{'case':<28} {'median s':>9} {'max s':>7} {'median/target':>14} {'max/target':>11}  exit status")
    for label, median, worst, statuses in rows:
        print(
            f"{label:<28} {median:>9.2f} {worst:>7.2f} {median / TARGET_S:>13.2f}x {worst / TARGET_S:>10.2f}x  "
            f"{', '.join(map(str, statuses))}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
