"""The app ends with its terminal: SIGHUP, SIGTERM, or a terminal that went away end it.

Measured with real signals on a pseudo-terminal (``bench/app_signals.py --repeats 3``, 2-core machine,
others working beside it): idle, 0.41-0.49 s; with a training running, a median of 1.6-3.1 s and a worst
case of 5.2 s, because the training first finishes the micro-batch it is in and saves its checkpoint.

Why: in a multiplexer whose session was killed, with SIGHUP ignored (as under nohup), the app kept one
core at ~100% for 16 minutes on a deleted pty. A hung-up tty reads EOF forever (Textual's input thread
spins on it), writes fail with EIO (Textual's writer thread dies, and the UI may then block on its full
queue), and nothing told the app that its terminal was gone.

What ``Lifeline`` does, for the real terminal only (``run_app``; pilot tests call the app's shutdown path
directly):

- ``install()`` (main thread, before ``app.run()``) sets handlers for SIGHUP and SIGTERM. SIGHUP is
  handled even when it was ignored at start: the app owns its terminal, and a hang-up means it is gone.
- a watchdog thread checks every ``POLL_S`` that the descriptors that were terminals at start still are
  (a hung-up tty fails ``isatty``, as does a closed descriptor).
- either one calls ``trigger``: it sets every cancel event from this thread (so generation stops even if
  the event loop is stuck), asks the app to shut down on its loop (``call_soon_threadsafe``: the app asks
  a running training to stop and exits once it saved its checkpoint), and starts a guard that ends the
  process with ``os._exit`` if it is still alive ``GRACE_S`` after the training is idle (at most
  ``TRAINING_STOP_WAIT_S``): a UI whose terminal is gone may never get to exit by itself, and Python's
  exit waits for every worker thread (a model load cannot be cancelled).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

    from .app import TweetsmithApp

    # What signal.signal takes and returns: a function, SIG_DFL or SIG_IGN, or None (set outside Python).
    SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

POLL_S = 0.2  # how often the watchdog checks the terminal
GRACE_S = 1.5  # after the work stopped, how long the app gets to exit by itself before os._exit
TRAINING_STOP_WAIT_S = 60.0  # leaving while a training runs: wait this long for its stop checkpoint
HANDLED_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
TERMINAL_LOST_CODE = 128 + signal.SIGHUP  # the exit status of a process that a hang-up ended


class Lifeline:
    """Ends ``app`` when its terminal goes: signals, a watchdog, and a last-resort exit."""

    def __init__(
        self, app: TweetsmithApp, *, fds: tuple[int, ...] = (0, 1, 2), hard_exit: Callable[[int], object] = os._exit
    ):
        self.app = app
        self.hard_exit = hard_exit  # tests pass a recorder: the guard must not end pytest
        self.fds = tuple(fd for fd in fds if _isatty(fd))  # only what was a terminal at start is watched
        self.reason: str | None = None
        self._stopped = threading.Event()
        self._previous: dict[int, SignalHandler] = {}
        self._watchdog: threading.Thread | None = None

    def install(self) -> None:
        """Set the signal handlers (in the main thread only: Python allows no other) and start the watchdog."""
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        if self.fds:
            self._watchdog = threading.Thread(target=self._watch, name="tweetsmith-terminal-watchdog", daemon=True)
            self._watchdog.start()

    def stop(self) -> None:
        """The app has returned: stop watching and put the previous handlers back (a triggered guard
        still ends the process at its deadline, should Python's exit hang on a thread)."""
        self._stopped.set()
        if threading.current_thread() is threading.main_thread():
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.trigger(f"{signal.Signals(signum).name} received", 128 + signum)

    def _watch(self) -> None:
        while not self._stopped.wait(POLL_S):
            lost = [fd for fd in self.fds if not _isatty(fd)]
            if lost:
                _stop_reading(self.app)
                self.trigger(
                    f"the terminal went away (descriptor {lost[0]} is no longer a terminal)", TERMINAL_LOST_CODE
                )
                return

    def trigger(self, reason: str, return_code: int) -> None:
        """Stop all work now, ask the app to exit, and make sure the process ends. Safe from any thread
        and from a signal handler; only the first call counts."""
        if self.reason is not None:
            return
        self.reason = reason
        app = self.app
        app.cancel_all_work()
        loop = app.event_loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(app.request_shutdown, reason, return_code)
            except RuntimeError:  # the loop closed meanwhile: the guard below ends the process
                pass
        threading.Thread(target=self._guard, args=(return_code,), name="tweetsmith-exit-guard", daemon=True).start()

    def _guard(self, return_code: int) -> None:
        self.app.training_idle.wait(TRAINING_STOP_WAIT_S)
        # Normally the process is gone before this: the app exits within ms once the work stopped. Still
        # waiting are a worker that cannot be cancelled (a model load), a UI blocked writing to a dead
        # terminal, or Python's own finalization on a busy machine: none of them keeps the process alive.
        threading.Event().wait(GRACE_S)
        self.hard_exit(return_code)


def _stop_reading(app: TweetsmithApp) -> None:
    """Let Textual's input thread end: on a hung-up tty every read returns EOF at once, so it spins a core
    (while a training may still be saving its checkpoint). Its loop runs until the driver's exit event."""
    exit_event = getattr(getattr(app, "_driver", None), "exit_event", None)
    if isinstance(exit_event, threading.Event):
        exit_event.set()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
