"""The tweetsmith app: owns the workspace (loaded models, run, data) and the training; the screens show it.

Model work never runs on the event loop. Loading and training are thread workers here: they post messages
(``tui.messages``); the handlers below replace the workspace (``tui.workspace``, frozen) and the
``workspace`` setter publishes each new one on ``workspace_changed``, the one signal the screens and
widgets that show it subscribe to: no message is forwarded by hand. Screens ask for what only the App
changes with ``...Requested`` messages; the header watches ``status``. The loading workers' work is
``tui.loading``'s.

Leaving: every way out (ctrl+q, /quit, SIGHUP, SIGTERM, the terminal going away: see ``tui.lifeline``) goes
through ``request_shutdown``, which sets every cancel event the engine watches, asks a running training
to stop (it saves a checkpoint of the last completed step) and exits once it has, or after
``TRAINING_STOP_WAIT_S``. Without that, Python's exit waits for the worker threads for minutes.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.signal import Signal

from . import messages as msg
from .lifeline import TRAINING_STOP_WAIT_S, Lifeline
from .loading import Loader
from .palette import TweetsmithCommands
from .root import Root
from .session import default_session_path
from .training_job import message_for, run_training
from .workspace import CancelEvents, Workspace

if TYPE_CHECKING:
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sides import Side
    from tweetsmith.engine.train_config import TrainConfig
    from tweetsmith.engine.train_events import TrainEvent

    from .screens.main import MainScreen

QUICK_EVAL_RECORDS = 100  # after a training: perplexity on the first N valid records (seconds, not minutes)
LOADED_NOTE_S = 5.0  # how long the header says "loaded in 2.1 s"


class TweetsmithApp(App):
    """The chat-style app. Pass a pre-loaded ``LoadedModel`` (tests) or let it load what
    ``engine.start_plan.plan_start`` picks."""

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
        self.workspace_changed: Signal[Workspace] = Signal(self, "workspace-changed")
        self._workspace = Workspace(
            model_spec=model_spec,
            run_dir=Path(run_dir) if run_dir else None,
            data_dir=Path(data_dir) if data_dir else None,
        )
        # Not state (``tui.workspace``): the registry every worker's cancel event joins, and two settings.
        self.cancels = CancelEvents()
        self.root = Root.at(root) if root is not None else Root()
        self.precision = precision
        given: dict[Side, LoadedModel | None] = {"base": loaded, "tuned": tuned}
        self._given = {side: model for side, model in given.items() if model is not None}
        self._loader = Loader(self.post_message, precision)  # the loading workers' work (``tui.loading``)
        self._session_given = Path(session_path) if session_path else None
        self._runs_root = Path(runs_root) if runs_root else None
        self.training_cancel: threading.Event | None = None
        self.training_idle = threading.Event()  # set while no training thread runs (threads may wait on it)
        self.training_idle.set()
        self.quick_eval_records = QUICK_EVAL_RECORDS
        self.event_loop: asyncio.AbstractEventLoop | None = None  # for threads and signal handlers
        self.shutting_down = False
        self._shutdown_code = 0

    # --- the workspace ------------------------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        """What the app has open now. Only the App's handlers assign it (a new frozen value each time)."""
        return self._workspace

    @workspace.setter
    def workspace(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self.workspace_changed.publish(workspace)

    def _session_for(self, run_dir: Path | None, loaded: LoadedModel) -> Path:
        """The chat's session file: ``--session``, else beside the run (or the model without one)."""
        from tweetsmith.engine.paths import home

        return self._session_given or default_session_path(run_dir, loaded.info.name, home())

    def _keep_model(self, loaded: LoadedModel, side: Side, activate: bool) -> None:
        """``loaded`` becomes the workspace's ``side``; with ``activate`` the chat uses it (and opens its session,
        the first time)."""
        ws = self.workspace
        models = {**ws.models, side: loaded}
        if not activate:
            self.workspace = replace(ws, models=models)
            return
        session = ws.session_path or self._session_for(ws.run_dir, loaded)
        self.workspace = replace(ws, models=models, side=side, session_path=session)

    # --- screens ----------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        from .screens.main import MainScreen

        return MainScreen(self)

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
        self.cancels.set_all()

    async def action_quit(self) -> None:  # App's is a coroutine: leaving waits for nothing here
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
        """Start loading (or show the models we were given: the tuned one in use, and in first)."""
        ws = self.workspace
        side: Side = "tuned" if "tuned" in self._given else "base"
        for given_side, loaded in sorted(self._given.items(), key=lambda item: item[0] != side):
            self.post_message(msg.ModelLoaded(loaded, given_side, 0.0, given_side == side, ws.run_dir))
        from tweetsmith.engine.paths import runs_root

        self._load_start(ws.model_spec, ws.run_dir, ws.data_dir, self._runs_root or runs_root(), side)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_start(
        self, spec: str | None, run_dir: Path | None, data_dir: Path | None, root: Path, side: Side
    ) -> None:
        self._loader.start(spec, run_dir, data_dir, root, side, given=bool(self._given))

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load_side(self, side: Side, activate: bool, run_dir: Path | None, spec: str | None) -> None:
        self._loader.side(side, activate, run_dir, spec)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _open_target(self, run_dir: Path | None, spec: str | None, data_dir: Path | None) -> None:
        self._loader.target(run_dir, spec, data_dir)

    def on_start_planned(self, message: msg.StartPlanned) -> None:
        self.workspace = replace(self.workspace, run_dir=message.plan.run_dir)

    def on_model_loaded(self, message: msg.ModelLoaded) -> None:
        if message.run_dir != self.workspace.run_dir:
            return  # loaded for a run that /run (or a training) has replaced since: not this run's model
        self._keep_model(message.loaded, message.side, message.activate)
        if message.activate:
            self._say_loaded(message.seconds)

    def on_target_opened(self, message: msg.TargetOpened) -> None:
        """``/run`` or ``/model``: its model replaces every model, and its session the chat's."""
        plan, loaded = message.plan, message.loaded
        self.workspace = replace(
            self.workspace,
            run_dir=plan.run_dir,
            model_spec=plan.model_spec,
            models={plan.side: loaded},
            side=plan.side,
            session_path=self._session_for(plan.run_dir, loaded),
        )
        self._say_loaded(message.seconds)

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
        self.workspace = replace(self.workspace, data_dir=message.data_dir, authors=tuple(message.authors))
        if self.status.startswith("preparing"):
            self.status = ""

    def on_data_failed(self, message: msg.DataFailed) -> None:
        self.notify(message.error, title="No data", severity="warning", timeout=12)

    def on_perplexity_computed(self, message: msg.PerplexityComputed) -> None:
        """The quick estimate after a training loaded the run's tuned model: keep it (ctrl+b and /ab are then
        instant), unless the workspace has a tuned model already or another run is open now."""
        ws = self.workspace
        if message.tuned is not None and "tuned" not in ws.models and message.run_dir == ws.run_dir:
            self._keep_model(message.tuned, "tuned", activate=False)

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
            self._keep_model(ws.models[side], side, activate=True)
            self._say_loaded(0.0)
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
            self.install_screen(TrainingScreen(self), "training")
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
        self.training_cancel = self.cancels.track(threading.Event())
        self.workspace = replace(self.workspace, training_running=True)
        self.training_idle.clear()
        self._run_training(message.config, self.training_cancel)

    def on_training_stop_requested(self) -> None:
        if self.training_cancel is not None:
            self.training_cancel.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="train")
    def _run_training(self, config: TrainConfig, cancel: threading.Event) -> None:
        try:
            ended = run_training(config, cancel, self.relay_training_event, self._loader.say_progress)
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
        self.workspace = replace(self.workspace, training_running=False)
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
        models: dict[Side, LoadedModel] = {side: loaded for side, loaded in ws.models.items() if side != "tuned"}
        self.workspace = replace(ws, run_dir=run_dir, models=models, side="base")
        if "base" not in models:
            self._load_side("base", True, run_dir, ws.model_spec)

    def on_training_failed(self, message: msg.TrainingFailed) -> None:
        self.workspace = replace(self.workspace, training_running=False)
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
