"""The app ends with its terminal (tui.lifeline): the pty closing, SIGHUP (even ignored at start, as under
nohup) and SIGTERM end it promptly; a training running in it stops with a resumable checkpoint first.

The terminal tests run the real command line on a pseudo-terminal in a child process and wait on what
the app draws and on the child's exit (each with a generous bound that only a hang reaches); the training
test runs in-process and calls the same path the signal handler and the watchdog call.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from tweetsmith.tui import messages as msg

STARTUP_BOUND_S = 240.0  # the child imports torch and loads the model on a busy 2-core machine
EXIT_BOUND_S = 30.0  # only a hang reaches it; the measured times are printed (pytest -s) and far lower


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, splits_factory) -> Path:
    return splits_factory(tmp_path_factory.mktemp("data"), (60, 20, 20))


class Terminal:
    """The app on a pseudo-terminal: ``wait_for(text)`` reads what it draws; ``close()`` is the terminal gone."""

    def __init__(self, tmp_path: Path, model_dir: Path, data_dir: Path, *, ignore_sighup: bool):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "TWEETSMITH_HOME": str(tmp_path / "home"),
            "TWEETSMITH_RUNS": str(tmp_path / "runs"),
            "TWEETSMITH_STATE": str(tmp_path / "state"),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
        }
        env.pop("TEXTUAL_ALLOW_SIGNALS", None)
        preexec = (lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if ignore_sighup else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tweetsmith.scripts.cli", "tui", "--model", str(model_dir), "--data", str(data_dir)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env=env,
            cwd=tmp_path,
            preexec_fn=preexec,
        )
        os.close(slave)
        self.output = b""
        self._drain: threading.Thread | None = None

    def wait_for(self, text: str, bound_s: float = STARTUP_BOUND_S) -> None:
        deadline = time.monotonic() + bound_s
        while text.encode() not in self.output:
            assert self.proc.poll() is None, (
                f"the app ended (rc {self.proc.returncode}) before drawing {text!r}: {self.output[-2000:]!r}"
            )
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not drawn within {bound_s:.0f} s; last output: {self.output[-2000:]!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready:
                self.output += os.read(self.master, 65536)

    def keep_reading(self) -> None:
        """Read (in a thread) until the app closes its side, so its last writes (restoring the screen) never block."""

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: every slave descriptor is closed
                    return
                if not chunk:
                    return
                self.output += chunk

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()

    def close(self) -> None:
        os.close(self.master)

    def exit_time(self, since: float) -> float:
        try:
            self.proc.wait(EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the app was still running {EXIT_BOUND_S:.0f} s after its terminal went away")
        return time.monotonic() - since

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._drain is None:
            try:
                os.close(self.master)
            except OSError:
                pass
        else:
            self._drain.join(5)
            try:
                os.close(self.master)
            except OSError:
                pass


@pytest.fixture()
def terminal(tmp_path, tiny_llama_dir, data_dir):
    made: list[Terminal] = []

    def start(ignore_sighup: bool = False) -> Terminal:
        term = Terminal(tmp_path, tiny_llama_dir, data_dir, ignore_sighup=ignore_sighup)
        made.append(term)
        return term

    yield start
    for term in made:
        term.cleanup()


@pytest.mark.parametrize("ignore_sighup", [False, True], ids=["sighup-default", "sighup-ignored"])
def test_closing_the_terminal_ends_the_app(terminal, ignore_sighup):
    from tweetsmith.tui.lifeline import TERMINAL_LOST_CODE

    term = terminal(ignore_sighup)
    term.wait_for("loaded in")  # the header says the model loaded: the app is up
    began = time.monotonic()
    term.close()
    seconds = term.exit_time(began)
    print(f"\nterminal closed -> app exited in {seconds:.2f} s (rc {term.proc.returncode})")
    assert term.proc.returncode == TERMINAL_LOST_CODE


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_signal_ends_the_app_even_with_sighup_ignored(terminal, signum):
    term = terminal(ignore_sighup=True)
    term.wait_for("loaded in")
    term.keep_reading()
    began = time.monotonic()
    term.proc.send_signal(signum)
    seconds = term.exit_time(began)
    print(f"\n{signal.Signals(signum).name} -> app exited in {seconds:.2f} s (rc {term.proc.returncode})")
    assert term.proc.returncode == 128 + signum
    term._drain.join(5)
    assert b"\x1b[?1049l" in term.output, "the app left the alternate screen (it exited cleanly, the terminal restored)"


async def test_terminal_lost_during_training_stops_it_with_a_resumable_checkpoint(
    make_app, tiny_llama_dir, splits_factory, tmp_path, settle, submit
):
    from textual.messages import ExitApp

    from tweetsmith.engine import checkpoints
    from tweetsmith.engine.train import TrainConfig
    from tweetsmith.tui.lifeline import TERMINAL_LOST_CODE, Lifeline

    splits = splits_factory(tmp_path / "splits", (120, 30, 30))
    stepped, exited = asyncio.Event(), asyncio.Event()

    def hook(message) -> None:
        if isinstance(message, msg.TrainingEventArrived) and type(message.event).__name__ == "StepLogged":
            stepped.set()
        if isinstance(message, ExitApp):
            exited.set()

    seen: list = []
    app = make_app(data_dir=splits)
    hard_exits: list[int] = []
    async with app.run_test(size=(130, 48), message_hook=lambda m: (seen.append(m), hook(m))) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        out = tmp_path / "runs" / "lost"
        app.screen.start(
            TrainConfig(
                data=str(splits),
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
        await asyncio.wait_for(stepped.wait(), 300)
        await pilot.press("escape")
        await submit(pilot, "/max 190", "paulg")  # a generation runs too
        generation_cancel = app.main.chat.cancel
        lifeline = Lifeline(app, fds=(), hard_exit=hard_exits.append)  # what the watchdog and the handlers call
        lifeline.trigger("the terminal went away (test)", TERMINAL_LOST_CODE)
        assert generation_cancel.is_set() and app.training_cancel.is_set()  # at once, before the loop runs anything
        await asyncio.wait_for(exited.wait(), 120)  # the app's own exit, once the training has stopped
        assert app.training_idle.is_set() and app.return_code == TERMINAL_LOST_CODE
        lifeline.stop()
    finished = [m.finished for m in seen if isinstance(m, msg.TrainingEnded)]
    assert finished and finished[0].outcome == "stopped" and 0 < finished[0].steps < 5000
    newest = checkpoints.newest(out / "checkpoints")
    assert newest is not None and checkpoints.is_complete(newest.path), "no complete checkpoint to resume from"
    assert newest.step == finished[0].steps
