"""The tweetsmith app: owns the loaded models, the run and the data; the screens show and drive them.

Model work never runs on the event loop: loading and training are thread workers here (they post
messages from ``tui.messages`` back), generation and evaluation are workers of the chat screen.
After a model loads, ``gc.collect(); gc.freeze()`` moves torch's ~500k objects out of the collector's
reach, which removes the 150-330 ms full collections that otherwise stall keys while streaming.

Leaving: every way out (ctrl+q, /quit, SIGHUP, SIGTERM, the terminal going away: see ``tui.lifeline``) goes
through ``request_shutdown``, which sets every cancel event the engine watches (generation, perplexity,
sweeps), asks a running training to stop (it saves a checkpoint of the last completed step) and exits
once it has, or after ``TRAINING_STOP_WAIT_S``. Without that, Python's exit waits for the worker threads:
a training or an evaluation would go on for minutes with no UI.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from . import messages as msg
from .palette import TweetsmithCommands
from .startup import StartPlan, authors_of, builtin_data_dir, plan_start

if TYPE_CHECKING:
    from tweetsmith.engine.train_events import TrainEvent

TRAINING_STOP_WAIT_S = 60.0  # leaving while a training runs: wait this long for its stop checkpoint
QUICK_EVAL_RECORDS = 100  # after a training: perplexity on the first N valid records (seconds, not minutes)


def _error_text(err: BaseException) -> str:
    """User errors carry their own fix; anything else is named by its type (a bug, logged by Textual)."""
    from tweetsmith.data.errors import DataError
    from tweetsmith.engine.errors import EngineError

    if isinstance(err, (DataError, EngineError)):
        return str(err)
    return f"{type(err).__name__}: {err}"


class TweetsmithApp(App):
    """The chat-style app. Pass a pre-loaded ``LoadedModel`` (tests) or let it load what ``plan_start`` picks."""

    CSS_PATH = "app.tcss"
    TITLE = "tweetsmith"
    COMMANDS = App.COMMANDS | {TweetsmithCommands}
    BINDINGS = [
        Binding("f1", "help", "help", priority=True),
        Binding("ctrl+t", "train", "train", priority=True),
        Binding("ctrl+e", "evaluate", "perplexity", priority=True),
        Binding("ctrl+b", "toggle_side", "base/tuned", priority=True),
        Binding("ctrl+q", "quit", "quit", priority=True, show=False),
    ]

    side: reactive[str] = reactive("base")

    def __init__(
        self,
        *,
        model_spec: str | None = None,
        run_dir: str | Path | None = None,
        data_dir: str | Path | None = None,
        loaded: Any = None,
        tuned: Any = None,
        session_path: str | Path | None = None,
        runs_root: str | Path | None = None,
    ):
        super().__init__()
        self.model_spec = model_spec
        self.run_dir: Path | None = Path(run_dir) if run_dir else None
        self.data_dir: Path | None = Path(data_dir) if data_dir else None
        self.session_path = Path(session_path) if session_path else None
        self._runs_root = Path(runs_root) if runs_root else None
        self.models: dict[str, Any] = {}
        if loaded is not None:
            self.models["base"] = loaded
        if tuned is not None:
            self.models["tuned"] = tuned
        self.authors: list[str] = []
        self.training_cancel: threading.Event | None = None
        self.training_running = False
        self.training_idle = threading.Event()  # set while no training thread runs (threads may wait on it)
        self.training_idle.set()
        self.last_training: Any = None  # engine TrainingFinished of this app's last training
        self.quick_eval_records = QUICK_EVAL_RECORDS
        self.event_loop: asyncio.AbstractEventLoop | None = None  # for threads and signal handlers
        self.shutting_down = False
        self._shutdown_code = 0
        self._cancels: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        # Reentrant: a signal handler runs in the main thread, possibly while that thread is in track().
        self._cancels_lock = threading.RLock()

    # --- screens ----------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        from .screens.main import MainScreen

        return MainScreen()

    @property
    def main(self):
        from .screens.main import MainScreen

        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.event_loop = asyncio.get_running_loop()

    # --- leaving ------------------------------------------------------------------------------------

    def track(self, cancel: threading.Event) -> threading.Event:
        """Register a cancel event the engine watches, so leaving the app sets it; returns it."""
        with self._cancels_lock:
            self._cancels.add(cancel)
        return cancel

    def cancel_all_work(self) -> None:
        """Set every registered cancel event and the training's. Thread-safe (events only): the signal
        handlers and the terminal watchdog call it before the event loop runs anything."""
        with self._cancels_lock:
            cancels = list(self._cancels)
        for cancel in cancels:
            cancel.set()
        if self.training_cancel is not None:
            self.training_cancel.set()

    def action_quit(self) -> None:
        self.request_shutdown("quit")

    def request_shutdown(self, reason: str, return_code: int = 0) -> None:
        """Stop everything and exit: generation and evaluations at once; a running training is asked to
        stop (it saves a checkpoint of the last completed step) and waited for, up to TRAINING_STOP_WAIT_S."""
        self.cancel_all_work()
        if self.shutting_down:
            return
        self.shutting_down = True
        self._shutdown_code = return_code
        if self.training_idle.is_set():
            self.exit(return_code=return_code)
            return
        self.log.info(f"leaving ({reason}): stopping the training first")
        self.notify("stopping the training; it keeps a checkpoint of the last completed step…", title="Leaving", timeout=30)
        self.set_timer(TRAINING_STOP_WAIT_S, lambda: self.exit(return_code=return_code))

    def _exit_if_shutting_down(self) -> None:
        """The training ended while leaving: now leave."""
        if self.shutting_down:
            self.exit(return_code=self._shutdown_code)

    def on_unmount(self) -> None:
        self.cancel_all_work()  # however the app ended, no worker thread goes on without a UI

    def main_screen_ready(self) -> None:
        """Called by the chat screen once mounted: start loading (or show the models we were given)."""
        if "tuned" in self.models:
            self.side = "tuned"
        if self.models:
            self._models_ready_from_args()
        self.load_start()

    def _models_ready_from_args(self) -> None:
        for side, loaded in self.models.items():
            self.post_message(msg.ModelLoaded(loaded, side, 0.0, activate=(side == self.side)))

    # --- loading ----------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load_start(self) -> None:
        """Load what ``plan_start`` picks (unless models were given) and the data's authors."""
        from tweetsmith.engine.paths import runs_root

        try:
            if self.models and self.run_dir is None:  # given a loaded model: no run to look for
                plan = StartPlan(None, None, self.data_dir, self.side)
            else:
                plan = plan_start(self.model_spec, self.run_dir, self.data_dir, self._runs_root or runs_root())
        except Exception as err:  # noqa: BLE001 - a bad run dir is shown, not raised
            plan = StartPlan(None, self.model_spec, self.data_dir, "base")
            self.post_message(msg.ModelLoadFailed(_error_text(err)))
        self.run_dir = plan.run_dir
        if not self.models:
            self._load(plan.side, plan.run_dir, plan.model_spec)
        self._load_data(plan.data_dir)

    def _load(self, side: str, run_dir: Path | None, spec: str | None, activate: bool = True) -> bool:
        from tweetsmith.engine.models import DEFAULT_MODEL, load_model
        from tweetsmith.engine.runs import load_run_model

        progress = lambda text: self.post_message(msg.ModelLoadProgressed(text))  # noqa: E731
        began = time.perf_counter()
        try:
            if run_dir is not None:
                loaded = load_run_model(run_dir, tuned=(side == "tuned"), progress=progress)
            else:
                loaded = load_model(spec or DEFAULT_MODEL, progress=progress)
        except Exception as err:  # noqa: BLE001 - the app stays up and says what to do
            self.post_message(msg.ModelLoadFailed(_error_text(err), side))
            return False
        gc.collect()
        gc.freeze()
        self.post_message(msg.ModelLoaded(loaded, side, time.perf_counter() - began, activate))
        return True

    def _load_data(self, data_dir: Path | None) -> None:
        try:
            if data_dir is None:
                data_dir = builtin_data_dir(lambda text: self.post_message(msg.ModelLoadProgressed(text)))
            self.post_message(msg.DataReady(Path(data_dir), authors_of(data_dir)))
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.DataFailed(_error_text(err)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load_side(self, side: str, activate: bool = True) -> None:
        self._load(side, self.run_dir, self.model_spec, activate)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def open_target(self, run_dir: Path | None, spec: str | None) -> None:
        """``/run RUN`` or ``/model SPEC``: replace the models (and the run's data)."""
        try:
            plan = plan_start(spec, run_dir, None, Path("."))
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.ModelLoadFailed(_error_text(err)))
            return
        if self._load(plan.side, plan.run_dir, plan.model_spec):
            self.call_from_thread(self._set_target, plan)
            if plan.data_dir is not None and plan.data_dir != self.data_dir:
                self._load_data(plan.data_dir)

    def _set_target(self, plan: StartPlan) -> None:
        self.run_dir, self.model_spec = plan.run_dir, plan.model_spec
        for side in [s for s in self.models if s != plan.side]:
            del self.models[side]
        self.main.reopen_session()

    def on_model_loaded(self, message: msg.ModelLoaded) -> None:
        self.models[message.side] = message.loaded
        if message.activate:
            self.side = message.side
        self.main.model_ready(message.side, message.loaded, message.seconds, message.activate)

    def on_model_load_progressed(self, message: msg.ModelLoadProgressed) -> None:
        self.main.header.status = message.text

    def on_model_load_failed(self, message: msg.ModelLoadFailed) -> None:
        self.main.header.status = "no model loaded" if not self.models else ""
        self.notify(message.error, title="Model not loaded", severity="error", timeout=12)

    def on_data_ready(self, message: msg.DataReady) -> None:
        self.data_dir = message.data_dir
        self.authors = message.authors
        if self.main.header.status.startswith("preparing"):
            self.main.header.status = ""
        self.main.data_ready(message.data_dir, message.authors)

    def on_data_failed(self, message: msg.DataFailed) -> None:
        self.notify(message.error, title="No data", severity="warning", timeout=12)

    @property
    def model(self) -> Any:
        """The model the chat uses now (None while loading)."""
        return self.models.get(self.side)

    @property
    def has_tuned(self) -> bool:
        return "tuned" in self.models or (self.run_dir is not None and (self.run_dir / "final").is_dir())

    # --- actions ----------------------------------------------------------------------------------

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_train(self) -> None:
        from .screens.training import TrainingScreen

        if isinstance(self.screen, TrainingScreen):
            self.pop_screen()
            return
        if not self.is_screen_installed("training"):
            self.install_screen(TrainingScreen(), "training")
        self.push_screen("training")

    def action_evaluate(self) -> None:
        self.main.evaluate()

    def action_slash(self, line: str) -> None:
        """Run a slash command (the palette's entries use this)."""
        if self.screen is not self.main:
            self.pop_screen()
        self.main.run_line(line)

    def action_toggle_side(self) -> None:
        self.switch_side("base" if self.side == "tuned" else "tuned")

    def switch_side(self, side: str) -> None:
        if side == self.side and side in self.models:
            self.notify(f"already using the {side} model")
            return
        if side in self.models:
            self.side = side
            self.main.model_ready(side, self.models[side], 0.0, True)
            return
        if side == "tuned" and not self.has_tuned:
            self.notify("no tuned model yet: train one (ctrl+t) or open a run with /run RUN", severity="warning")
            return
        if side == "base" and self.run_dir is None and self.model_spec is None and "base" not in self.models:
            self.notify("no base model to switch to", severity="warning")
            return
        self.main.header.status = f"loading the {side} model…"
        self.load_side(side)

    # --- training ---------------------------------------------------------------------------------

    def start_training(self, config: Any) -> None:
        if self.shutting_down:
            return
        self.training_cancel = threading.Event()
        self.training_running = True
        self.training_idle.clear()
        self.run_training(config, self.training_cancel)

    def stop_training(self) -> None:
        if self.training_cancel is not None:
            self.training_cancel.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="train")
    def run_training(self, config: Any, cancel: threading.Event) -> None:
        from tweetsmith.engine.train import train

        try:
            config = self._prepared(config, cancel)
            finished = train(config, on_event=self.relay_training_event, cancel=cancel)
        except Exception as err:  # noqa: BLE001 - shown on the training screen, the app goes on
            self.post_message(msg.TrainingFailed(_error_text(err)))
            return
        finally:
            self.training_idle.set()
        gc.collect()
        self.post_message(msg.TrainingEnded(finished))

    def relay_training_event(self, event: TrainEvent) -> None:
        """The training's ``on_event`` (called in its thread): progress that the next one supersedes
        (stage progress, heartbeats) as a replaceable message, everything else as one message each."""
        from tweetsmith.engine.train_events import StageProgress, StepHeartbeat

        if isinstance(event, (StageProgress, StepHeartbeat)):
            self.post_message(msg.TrainingProgressed(event))
        else:
            self.post_message(msg.TrainingEventArrived(event))

    def _prepared(self, config: Any, cancel: threading.Event) -> Any:
        """A data *file* is prepared (cleaned and split) into the user cache first; a directory is used as is."""
        import dataclasses

        from tweetsmith.data.prepare import PrepareConfig, prepare
        from tweetsmith.engine.paths import home

        source = Path(config.data).expanduser()
        if not source.is_file():
            return config
        out = home() / "data" / source.stem
        if not (out / "train.txt").is_file():
            self.post_message(msg.ModelLoadProgressed(f"preparing {source.name} into {out}"))
            prepare(PrepareConfig(inputs=(str(source),), out=str(out)), cancel=cancel)
        return dataclasses.replace(config, data=str(out))

    def _training_screen(self):
        return self.get_screen("training") if self.is_screen_installed("training") else None

    def on_training_event_arrived(self, message: msg.TrainingEventArrived) -> None:
        from tweetsmith.engine.train_events import StepLogged

        screen = self._training_screen()
        if screen is not None:
            screen.apply_event(message.event)
        if isinstance(message.event, StepLogged):
            self._header_progress(message.event.step, message.event.total_steps)

    def on_training_progressed(self, message: msg.TrainingProgressed) -> None:
        from tweetsmith.engine.train_events import StepHeartbeat

        screen = self._training_screen()
        if screen is not None:
            screen.apply_progress(message.event)
        if isinstance(message.event, StepHeartbeat):
            self._header_progress(message.event.step, message.event.total_steps)

    def _header_progress(self, step: int, total_steps: int) -> None:
        if total_steps and not self.shutting_down:
            self.main.header.status = f"training {step}/{total_steps} (chat uses the {self.side} model meanwhile)"

    def on_training_ended(self, message: msg.TrainingEnded) -> None:
        self.training_running = False
        self.last_training = message.finished
        if self.shutting_down:
            self._exit_if_shutting_down()
            return
        screen = self._training_screen()
        if screen is not None:
            screen.training_ended(message.finished)
        self.main.header.status = ""
        if message.finished.result_dir:
            self.adopt_run(Path(message.finished.run_dir))
            n = self.quick_eval_records
            self.notify(f"ctrl+b switches the chat to the tuned model. Perplexity on the first {n} valid records is "
                        "being computed (seconds); ctrl+e for the full valid and test splits (minutes on a CPU).",
                        title="Tuned model ready", timeout=12)
            self.main.evaluate_quick(n)

    def adopt_run(self, run_dir: Path) -> None:
        """A training just produced ``run_dir``: its tuned model becomes the other side of ctrl+b.

        The chat keeps its session and its loaded model (the run's base, as it was trained from it).
        """
        self.run_dir = run_dir
        self.models.pop("tuned", None)
        if self.side == "tuned":
            self.side = "base"
        if "base" not in self.models:
            self.load_side("base")

    def on_training_failed(self, message: msg.TrainingFailed) -> None:
        self.training_running = False
        if self.shutting_down:
            self._exit_if_shutting_down()
            return
        screen = self._training_screen()
        if screen is not None:
            screen.training_failed(message.error)
        self.main.header.status = ""
        self.notify(message.error, title="Training failed", severity="error", timeout=12)


def screen_text(app: App) -> str:
    """The current screen as plain text (what a screenshot shows, without colours)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None,
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def run_app(**kwargs: Any) -> int:
    """Run the app in this terminal; it ends with the terminal (see ``tui.lifeline``). Returns the exit code."""
    from .lifeline import Lifeline

    app = TweetsmithApp(**kwargs)
    lifeline = Lifeline(app)
    lifeline.install()
    try:
        app.run()
    finally:
        lifeline.stop()
    return app.return_code or 0
