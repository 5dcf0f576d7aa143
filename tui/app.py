"""The tweetsmith app: owns the workspace (loaded models, run, data) and the training; the screens show it.

Model work never runs on the event loop. Loading and training are thread workers here: they post messages
(``tui.messages``); the handlers below assign the workspace, then forward the message to the screen that
shows it. Screens ask for what only the App changes with ``...Requested`` messages; the header watches
``status``. After a model loads, ``gc.collect(); gc.freeze()`` moves torch's ~500k objects out of the
collector's reach: no more 150-330 ms full collections stalling keys while streaming.

Leaving: every way out (ctrl+q, /quit, SIGHUP, SIGTERM, the terminal going away: see ``tui.lifeline``) goes
through ``request_shutdown``, which sets every cancel event the engine watches, asks a running training
to stop (it saves a checkpoint of the last completed step) and exits once it has, or after
``TRAINING_STOP_WAIT_S``. Without that, Python's exit waits for the worker threads for minutes.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from tweetsmith.data.records import authors_by_frequency
from tweetsmith.data.split import SplitDir
from tweetsmith.engine.start_plan import StartPlan, load_side_model, plan_start

from . import messages as msg
from .errors import error_text
from .lifeline import TRAINING_STOP_WAIT_S, Lifeline
from .palette import TweetsmithCommands
from .root import Root
from .training_job import message_for, run_training
from .workspace import Workspace

if TYPE_CHECKING:
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sides import Side
    from tweetsmith.engine.train_config import TrainConfig
    from tweetsmith.engine.train_events import TrainEvent

    from .screens.main import MainScreen

QUICK_EVAL_RECORDS = 100  # after a training: perplexity on the first N valid records (seconds, not minutes)
LOADED_NOTE_S = 5.0  # how long the header says "loaded in 2.1 s"


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

    status: reactive[str] = reactive("")  # the header's note: loading, training progress

    def __init__(
        self,
        *,
        model_spec: str | None = None,
        run_dir: str | Path | None = None,
        data_dir: str | Path | None = None,
        loaded: LoadedModel | None = None,
        tuned: LoadedModel | None = None,
        session_path: str | Path | None = None,
        runs_root: str | Path | None = None,
        root: str | Path | None = None,
        precision: str = "auto",
    ):
        """``root``: the directory every path the user types must stay under (``tui.root``); None: anywhere.
        ``precision``: what models load in (``engine.precision.InferenceSettings``)."""
        super().__init__()
        given = {side: model for side, model in (("base", loaded), ("tuned", tuned)) if model is not None}
        self.workspace = Workspace(
            model_spec=model_spec,
            run_dir=Path(run_dir) if run_dir else None,
            data_dir=Path(data_dir) if data_dir else None,
            session_path=Path(session_path) if session_path else None,
            models=given,
            root=Root.at(root) if root is not None else Root(),
            precision=precision,
        )
        self._given_models = bool(given)
        self._runs_root = Path(runs_root) if runs_root else None
        self.training_cancel: threading.Event | None = None
        self.training_idle = threading.Event()  # set while no training thread runs (threads may wait on it)
        self.training_idle.set()
        self.quick_eval_records = QUICK_EVAL_RECORDS
        self.event_loop: asyncio.AbstractEventLoop | None = None  # for threads and signal handlers
        self.shutting_down = False
        self._shutdown_code = 0

    # --- screens ----------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        from .screens.main import MainScreen

        return MainScreen(self.workspace)

    @property
    def main(self) -> MainScreen:
        from .screens.main import MainScreen

        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.event_loop = asyncio.get_running_loop()

    # --- leaving ------------------------------------------------------------------------------------

    def cancel_all_work(self) -> None:
        """Set every registered cancel event, the training's included. Thread-safe (events only): the signal
        handlers and the terminal watchdog call it before the event loop runs anything."""
        self.workspace.cancels.set_all()

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
        self.notify(
            "stopping the training; it keeps a checkpoint of the last completed step…", title="Leaving", timeout=30
        )
        self.set_timer(TRAINING_STOP_WAIT_S, lambda: self.exit(return_code=return_code))

    def on_unmount(self) -> None:
        self.cancel_all_work()  # however the app ended, no worker thread goes on without a UI

    # --- loading ----------------------------------------------------------------------------------

    def on_chat_screen_mounted(self) -> None:
        """Start loading (or show the models we were given)."""
        ws = self.workspace
        if "tuned" in ws.models:
            ws.side = "tuned"
        for side, loaded in ws.models.items():
            self.post_message(msg.ModelLoaded(loaded, side, 0.0, activate=(side == ws.side)))
        from tweetsmith.engine.paths import runs_root

        self._load_start(ws.model_spec, ws.run_dir, ws.data_dir, self._runs_root or runs_root(), ws.side)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_start(
        self, spec: str | None, run_dir: Path | None, data_dir: Path | None, root: Path, side: Side
    ) -> None:
        """Load what ``plan_start`` picks (unless models were given) and the data's authors."""
        try:
            if self._given_models and run_dir is None:  # given a loaded model: no run to look for
                plan = StartPlan(None, None, data_dir, side)
            else:
                plan = plan_start(spec, run_dir, data_dir, root)
        except Exception as err:  # noqa: BLE001 - a bad run dir is shown, not raised
            plan = StartPlan(None, spec, data_dir, "base")
            self.post_message(msg.ModelLoadFailed(error_text(err)))
        self.post_message(msg.StartPlanned(plan))
        if not self._given_models:
            result = self._load(plan.side, plan.run_dir, plan.model_spec)
            if result is not None:
                loaded, seconds = result
                self.post_message(msg.ModelLoaded(loaded, plan.side, seconds, activate=True))
        self._load_data(plan.data_dir)

    def _load(self, side: Side, run_dir: Path | None, spec: str | None) -> tuple[LoadedModel, float] | None:
        """In a worker: one side's model (a run's, else ``spec``'s) and the seconds it took; a failure is
        posted as ``ModelLoadFailed`` (None returned)."""
        began = time.perf_counter()
        try:
            loaded = load_side_model(side, run_dir, spec, self._say_progress, self.workspace.precision)
        except Exception as err:  # noqa: BLE001 - the app stays up and says what to do
            self.post_message(msg.ModelLoadFailed(error_text(err), side))
            return None
        gc.collect()
        gc.freeze()
        return loaded, time.perf_counter() - began

    def _say_progress(self, text: str) -> None:
        self.post_message(msg.ModelLoadProgressed(text))

    def _load_data(self, data_dir: Path | None) -> None:
        from tweetsmith.engine.data_cache import builtin_data_dir

        try:
            if data_dir is None:
                data_dir = builtin_data_dir(self._say_progress)
            self.post_message(msg.DataReady(Path(data_dir), authors_by_frequency(SplitDir(data_dir).train)))
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.DataFailed(error_text(err)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_side(self, side: Side, activate: bool, run_dir: Path | None, spec: str | None) -> None:
        result = self._load(side, run_dir, spec)
        if result is not None:
            loaded, seconds = result
            self.post_message(msg.ModelLoaded(loaded, side, seconds, activate))

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _open_target(self, run_dir: Path | None, spec: str | None, data_dir: Path | None) -> None:
        """``/run RUN`` or ``/model SPEC``: load it; it replaces the models (and the data, with a run's own)."""
        try:
            plan = plan_start(spec, run_dir, None, Path("."))
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.ModelLoadFailed(error_text(err)))
            return
        result = self._load(plan.side, plan.run_dir, plan.model_spec)
        if result is None:
            return
        self.post_message(msg.TargetOpened(plan, *result))
        if plan.data_dir is not None and plan.data_dir != data_dir:
            self._load_data(plan.data_dir)

    def on_start_planned(self, message: msg.StartPlanned) -> None:
        self.workspace.run_dir = message.plan.run_dir

    def on_model_loaded(self, message: msg.ModelLoaded) -> None:
        ws = self.workspace
        ws.models[message.side] = message.loaded
        if message.activate:
            ws.side = message.side
            self._say_loaded(message.seconds)
        self.main.post_message(message)

    def on_target_opened(self, message: msg.TargetOpened) -> None:
        ws = self.workspace
        ws.run_dir, ws.model_spec = message.plan.run_dir, message.plan.model_spec
        ws.models = {message.plan.side: message.loaded}
        ws.side = message.plan.side
        self._say_loaded(message.seconds)
        self.main.post_message(message)

    def _say_loaded(self, seconds: float) -> None:
        if not seconds:
            self.status = ""
            return
        status = self.status = f"loaded in {seconds:.1f} s"
        self.set_timer(LOADED_NOTE_S, lambda: setattr(self, "status", "") if self.status == status else None)

    def on_model_load_progressed(self, message: msg.ModelLoadProgressed) -> None:
        self.status = message.text

    def on_model_load_failed(self, message: msg.ModelLoadFailed) -> None:
        self.status = "no model loaded" if not self.workspace.models else ""
        self.notify(message.error, title="Model not loaded", severity="error", timeout=12)

    def on_data_ready(self, message: msg.DataReady) -> None:
        self.workspace.data_dir = message.data_dir
        self.workspace.authors = message.authors
        if self.status.startswith("preparing"):
            self.status = ""
        self.main.post_message(message)

    def on_data_failed(self, message: msg.DataFailed) -> None:
        self.notify(message.error, title="No data", severity="warning", timeout=12)

    def on_perplexity_computed(self, message: msg.PerplexityComputed) -> None:
        """The quick estimate after a training loaded the run's tuned model: keep it (ctrl+b is then instant)."""
        if message.tuned is not None:
            self.post_message(msg.ModelLoaded(message.tuned, "tuned", 0.0, activate=False))

    # --- requests from the screens ------------------------------------------------------------------

    def on_side_requested(self, message: msg.SideRequested) -> None:
        if message.activate:
            self.switch_side(message.side)
        else:
            self._load_side(message.side, False, self.workspace.run_dir, self.workspace.model_spec)

    def on_target_requested(self, message: msg.TargetRequested) -> None:
        self._open_target(message.run_dir, message.spec, self.workspace.data_dir)

    def action_toggle_side(self) -> None:
        self.switch_side("base" if self.workspace.side == "tuned" else "tuned")

    def switch_side(self, side: Side) -> None:
        ws = self.workspace
        if side == ws.side and side in ws.models:
            self.notify(f"already using the {side} model")
            return
        if side in ws.models:
            self.on_model_loaded(msg.ModelLoaded(ws.models[side], side, 0.0, activate=True))
            return
        if side == "tuned" and not ws.has_tuned:
            self.notify("no tuned model yet: train one (ctrl+t) or open a run with /run RUN", severity="warning")
            return
        if side == "base" and ws.run_dir is None and ws.model_spec is None and "base" not in ws.models:
            self.notify("no base model to switch to", severity="warning")
            return
        self.status = f"loading the {side} model…"
        self._load_side(side, True, ws.run_dir, ws.model_spec)

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
            self.install_screen(TrainingScreen(self.workspace), "training")
        self.push_screen("training")

    def action_evaluate(self) -> None:
        self.main.post_message(msg.PerplexityRequested())

    def action_slash(self, line: str) -> None:
        """Run a slash command (the palette's entries use this)."""
        if self.screen is not self.main:
            self.pop_screen()
        self.main.post_message(msg.CommandChosen(line))

    def action_type(self, text: str) -> None:
        """Put ``text`` in the chat's input for the user to finish (palette entries that need an argument)."""
        if self.screen is not self.main:
            self.pop_screen()
        self.main.action_focus_input(text)

    # --- training ---------------------------------------------------------------------------------

    def on_training_requested(self, message: msg.TrainingRequested) -> None:
        if self.shutting_down or self.workspace.training_running:
            return
        self.training_cancel = self.workspace.track(threading.Event())
        self.workspace.training_running = True
        self.training_idle.clear()
        self._run_training(message.config, self.training_cancel)

    def on_training_stop_requested(self) -> None:
        if self.training_cancel is not None:
            self.training_cancel.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="train")
    def _run_training(self, config: TrainConfig, cancel: threading.Event) -> None:
        try:
            ended = run_training(config, cancel, self.relay_training_event, self._say_progress)
        finally:
            self.training_idle.set()
        self.post_message(ended)

    def relay_training_event(self, event: TrainEvent) -> None:
        """The training's ``on_event`` (called in its thread): the event as the message it travels in."""
        self.post_message(message_for(event))

    def on_training_event_arrived(self, message: msg.TrainingEventArrived) -> None:
        self._training_news(message)

    def on_training_progressed(self, message: msg.TrainingProgressed) -> None:
        self._training_news(message)

    def _training_news(self, message: msg.TrainingEventArrived | msg.TrainingProgressed) -> None:
        """To the training screen; the steps also to the header (the chat goes on meanwhile)."""
        from tweetsmith.engine.train_events import StepHeartbeat, StepLogged

        self._to_training_screen(message)
        event = message.event
        if isinstance(event, (StepLogged, StepHeartbeat)) and event.total_steps and not self.shutting_down:
            self.status = (
                f"training {event.step}/{event.total_steps} (chat uses the {self.workspace.side} model meanwhile)"
            )

    def _to_training_screen(self, message: Message) -> None:
        if self.is_screen_installed("training"):
            self.get_screen("training").post_message(message)

    def on_training_ended(self, message: msg.TrainingEnded) -> None:
        self.workspace.training_running = False
        if self.shutting_down:
            self.exit(return_code=self._shutdown_code)  # the training ended while leaving: now leave
            return
        self._to_training_screen(message)
        self.status = ""
        if message.finished.result_dir:
            self.adopt_run(Path(message.finished.run_dir))
            n = self.quick_eval_records
            self.notify(
                f"ctrl+b switches the chat to the tuned model. Perplexity on the first {n} valid records is "
                "being computed (seconds); ctrl+e for the full valid and test splits (minutes on a CPU).",
                title="Tuned model ready",
                timeout=12,
            )
            self.main.post_message(msg.PerplexityRequested(n))

    def adopt_run(self, run_dir: Path) -> None:
        """A training just produced ``run_dir``: its tuned model becomes the other side of ctrl+b.

        The chat keeps its session and its loaded model (the run's base, as it was trained from it).
        """
        ws = self.workspace
        ws.run_dir = run_dir
        ws.models.pop("tuned", None)
        if ws.side == "tuned":
            ws.side = "base"
        if "base" not in ws.models:
            self._load_side("base", True, run_dir, ws.model_spec)

    def on_training_failed(self, message: msg.TrainingFailed) -> None:
        self.workspace.training_running = False
        if self.shutting_down:
            self.exit(return_code=self._shutdown_code)
            return
        self._to_training_screen(message)
        self.status = ""
        self.notify(message.error, title="Training failed", severity="error", timeout=12)


def run_app(**kwargs: Any) -> int:
    """Run the app in this terminal; it ends with the terminal (see ``tui.lifeline``). Returns the exit code."""
    app = TweetsmithApp(**kwargs)
    lifeline = Lifeline(app)
    lifeline.install()
    try:
        app.run()
    finally:
        lifeline.stop()
    return app.return_code or 0
