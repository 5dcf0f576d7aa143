"""The training screen (ctrl+t): a form built from ``TrainConfig``'s fields, then live progress.

The form's labels are the fields' help strings, so the CLI's ``--help`` and this form never disagree.
Start and Stop ask the App (``TrainingRequested``, ``TrainingStopRequested``), whose worker runs the
training: leaving this screen (Esc or ctrl+t) keeps it running, and the chat goes on with the model it
had (the header shows the training's progress meanwhile). The App passes the training's messages on here, and
the note on the chat's model follows the workspace the App publishes (``tui.workspace``).

Progress: the bar counts optimizer steps and moves inside a step with the engine's heartbeats (step +
fraction), and a status line under it says what runs now: a stage before or between steps ("evaluating
valid 120/180 windows") or the running step ("step 13/138 · micro-batch 1/1 · 63% · ETA 24m00s"), so a
CPU run whose steps take 10 s or more is visibly alive.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Static, Switch

from tweetsmith.data.split import SplitDir
from tweetsmith.engine.paths import short_path
from tweetsmith.engine.train_config import EVAL_TOKENS_CPU

from .. import messages as msg
from ..widgets.loss_plot import LossPlot
from ..widgets.training_samples import TrainingSamplesView

if TYPE_CHECKING:
    from tweetsmith.engine.progress import Progress
    from tweetsmith.engine.train_config import TrainConfig
    from tweetsmith.engine.train_events import StepHeartbeat

    from ..workspace import Workspace, WorkspaceOwner

# The fields the form shows, in order; the rest keep TrainConfig's defaults.
FORM_FIELDS = (
    "data",
    "model",
    "out",
    "lora",
    "lora_r",
    "lora_alpha",
    "lr",
    "epochs",
    "max_steps",
    "batch_size",
    "block_size",
    "eval_every",
    "eval_tokens",
    "early_stopping",
    "report_to",
    "resume",
)
LABELS = {
    "data": "Data (directory with train/valid/test.txt, or a file to prepare)",
    "lora": "LoRA (off: full fine-tune)",
    "lr": "Learning rate (empty: 3e-4 LoRA, 5e-5 full)",
    "eval_tokens": f"Valid tokens each evaluation scores (empty: all on a GPU, {EVAL_TOKENS_CPU:,} on a CPU; 0: all)",
}


def _train_config_cls() -> type[TrainConfig]:
    from tweetsmith.engine.train_config import TrainConfig

    return TrainConfig


def _field_info(name: str) -> tuple[type, Any, str]:
    """(base type, default, help) of a TrainConfig field."""
    cls = _train_config_cls()
    hints = typing.get_type_hints(cls)
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    args = [a for a in typing.get_args(hints[name]) if a is not type(None)]
    kind = args[0] if args else hints[name]
    return kind, field.default, field.metadata.get("help", "")


def _one_line(text: str) -> str:
    """Text echoed in the form's one-line error: any line break in it becomes a space."""
    return " ".join(text.splitlines())


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _duration(seconds: float | None) -> str:
    from tweetsmith.engine.progress import format_duration

    return format_duration(seconds, unknown="–")


class TrainingScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "back to chat (training goes on)"),
        Binding("ctrl+s", "start", "start"),
        Binding("ctrl+x", "stop", "stop (keeps a checkpoint)"),
    ]

    def __init__(self, owner: WorkspaceOwner) -> None:
        super().__init__()
        self.owner = owner

    def compose(self) -> ComposeResult:
        yield Static(id="train-title", markup=False)
        with Horizontal():
            with Vertical(id="train-left"):
                with VerticalScroll(id="train-form"):
                    for name in FORM_FIELDS:
                        yield from self._field_row(name)
                yield Static(id="form-error", classes="form-error", markup=False)
                with Horizontal(id="train-buttons"):
                    yield Button("Start", id="start", variant="primary", compact=True)
                    yield Button("Stop", id="stop", variant="error", disabled=True, compact=True)
                    yield Button("Use tuned", id="use-tuned", variant="success", disabled=True, compact=True)
            with Vertical(id="train-status"):
                yield Static(id="train-note", markup=False)
                yield ProgressBar(id="train-progress", show_eta=False)
                yield Static(id="train-activity", markup=False)
                yield Static(id="train-stats")
                yield LossPlot(id="loss-plot")
                yield TrainingSamplesView(id="train-samples")
                yield Static(id="train-result", markup=False)
        yield Footer()

    def _field_row(self, name: str) -> ComposeResult:
        kind, default, help_text = _field_info(name)
        label = LABELS.get(name, help_text[:1].upper() + help_text[1:])
        with Vertical(classes="form-row", id=f"row-{name}"):
            yield Label(label, classes="form-label")
            if kind is bool:
                yield Switch(value=bool(default), id=f"f-{name}")
            else:
                input_type: Literal["integer", "number", "text"] = (
                    "integer" if kind is int else "number" if kind is float else "text"
                )
                yield Input(
                    value="" if default is None else str(default), type=input_type, id=f"f-{name}", compact=True
                )

    def on_mount(self) -> None:
        self._title("")
        self._set_defaults()
        self.query_one("#train-progress", ProgressBar).display = False
        self._activity("")
        self._say_chat_note(self.owner.workspace)
        self.owner.workspace_changed.subscribe(self, self._say_chat_note)
        self.query_one("#f-data", Input).focus()

    def _set_defaults(self) -> None:
        """Fill the form from what the app has open: its data, its base model, a fresh run dir, LoRA on."""
        ws = self.owner.workspace
        if ws.data_dir is not None:
            self._set("data", short_path(ws.data_dir))
        base = ws.models.get("base") or ws.model
        if base is not None:
            self._set("model", base.info.spec if base.info.source != "local" else short_path(Path(base.info.location)))
        self.query_one("#f-lora", Switch).value = True
        self._set("out", _fresh_run_dir(ws.data_dir))

    def _set(self, name: str, value: str) -> None:
        self.query_one(f"#f-{name}", Input).value = value

    def _say_chat_note(self, ws: Workspace) -> None:
        loaded = ws.model
        model = loaded.info.name if loaded is not None else "the loaded model"
        self.query_one("#train-note", Static).update(
            f"Training runs in the background: Esc returns to the chat, which keeps using {model} ({ws.side}) "
            "meanwhile."
        )

    # --- the form -----------------------------------------------------------------------------------

    def read_form(self) -> TrainConfig:
        """The TrainConfig the form describes, read by the engine's ``config_from_strings`` (``ConfigError``
        naming the field and the fix, the same as ``/assignment`` gives), else ValueError for unusable data,
        or PathRefused for a path that leaves the app's root."""
        from tweetsmith.engine.config import config_from_strings

        texts = {name: self._field_text(name) for name in FORM_FIELDS}
        config = config_from_strings(_train_config_cls(), texts)
        root = self.owner.root
        if root.confined:  # a served app: the paths must stay inside its root (and become absolute)
            config = dataclasses.replace(
                config,
                data=str(root.path(config.data, "data")),
                out=str(root.path(config.out, "out")),
                model=root.model_spec(config.model, "model"),
            )
        try:  # "~nosuser" (RuntimeError), a NUL (ValueError), a name too long (OSError): all the user's to fix
            data = Path(config.data).expanduser()
            exists, is_dir = data.exists(), data.is_dir()
            has_train = is_dir and SplitDir(data).train.is_file()
        except (OSError, RuntimeError, ValueError) as err:
            raise ValueError(
                f"data: {_one_line(config.data)!r} is not a usable path ({_one_line(str(err))}); "
                "give a directory from `tweetsmith prepare` or a file to prepare"
            ) from None
        shown = _one_line(str(data))
        if not exists:
            raise ValueError(
                f"data: {shown} does not exist; give a directory from `tweetsmith prepare` or a file to prepare"
            )
        if is_dir and not has_train:
            raise ValueError(
                f"data: {shown} has no train.txt; prepare it first (`tweetsmith prepare FILE --out {shown}`)"
            )
        return config

    def _field_text(self, name: str) -> str:
        """What a form field holds, as text: an input's value, a switch's true or false."""
        widget = self.query_one(f"#f-{name}")
        if isinstance(widget, Switch):
            return "true" if widget.value else "false"
        assert isinstance(widget, Input)
        return widget.value

    def action_start(self) -> None:
        from tweetsmith.engine.errors import EngineError

        from ..root import PathRefused

        if self.owner.workspace.training_running:
            self._form_error("training is already running; stop it first")
            return
        try:
            config = self.read_form()
        except (ValueError, EngineError, PathRefused) as err:
            self._form_error(str(err))
            return
        self._form_error("")
        self.start(config)

    def start(self, config: TrainConfig) -> None:
        self.query_one(LossPlot).reset()
        self.query_one("#train-result", Static).update("")
        self.query_one("#train-stats", Static).update(Content("starting… (loading the model and the data)"))
        self._activity("")
        progress = self.query_one("#train-progress", ProgressBar)
        progress.display = True
        progress.update(total=None, progress=0)
        self._set_running(True)
        self.post_message(msg.TrainingRequested(config))

    def action_stop(self) -> None:
        if self.owner.workspace.training_running:
            self.post_message(msg.TrainingStopRequested())
            self.query_one("#train-stats", Static).update(
                Content("stopping at the next micro-batch (a checkpoint is kept)…")
            )

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.action_stop()

    @on(Button.Pressed, "#use-tuned")
    def _use_tuned(self) -> None:
        self.post_message(msg.SideRequested("tuned"))
        self.app.pop_screen()

    @on(Switch.Changed, "#f-lora")
    def _lora_changed(self, event: Switch.Changed) -> None:
        for name in ("lora_r", "lora_alpha"):
            self.query_one(f"#row-{name}").display = event.value

    def _form_error(self, text: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(text)
        error.display = bool(text)

    def _set_running(self, running: bool) -> None:
        self.query_one("#start", Button).disabled = running
        self.query_one("#stop", Button).disabled = not running
        if not running:
            self._title("")

    def _title(self, status: str) -> None:
        self.query_one("#train-title", Static).update(f"tweetsmith · training{' · ' + status if status else ''}")

    # --- the training's messages (forwarded by the App) ----------------------------------------------

    def _activity(self, text: str) -> None:
        line = self.query_one("#train-activity", Static)
        line.update(text)
        line.display = bool(text)  # no blank line while nothing runs

    @property
    def activity_text(self) -> str:
        """The status line as plain text (what runs now)."""
        content = self.query_one("#train-activity", Static).content
        return content.plain if isinstance(content, Content) else str(content)

    def on_training_progressed(self, message: msg.TrainingProgressed) -> None:
        """A stage's progress or a heartbeat inside a step: the status line, and the bar for a step."""
        from tweetsmith.engine.train_events import StepHeartbeat

        event = message.event
        if isinstance(event, StepHeartbeat):
            fraction = min(max(event.fraction, 0.0), 1.0)
            total = max(event.total_steps, 1)
            self.query_one("#train-progress", ProgressBar).update(
                total=total, progress=min(event.step + fraction, total)
            )
            self._activity(heartbeat_line(event))
        else:
            self._activity(stage_line(event))

    def on_training_event_arrived(self, message: msg.TrainingEventArrived) -> None:
        from tweetsmith.engine import train_events as ev
        from tweetsmith.engine.training_samples import SamplesGenerated

        event = message.event
        stats = self.query_one("#train-stats", Static)
        progress = self.query_one("#train-progress", ProgressBar)
        if isinstance(event, ev.TrainingStarted):
            self._started = event
            progress.update(total=max(event.total_steps, 1), progress=event.resumed_from_step)
            self._title(f"running · {event.model_description} · {event.device} {event.dtype}")
            stats.update(
                Content(
                    f"{event.method} · {event.trainable_parameters / 1e6:.2f}M of {event.total_parameters / 1e6:.0f}M params trained · "
                    f"{event.total_steps} steps · {event.train_tokens} tokens/epoch · block {event.block_size} · batch {event.batch_size}"
                )
            )
            if event.notice:
                self.notify(event.notice, severity="warning")
        elif isinstance(event, ev.StepLogged):
            progress.update(total=max(event.total_steps, 1), progress=event.step)
            self.query_one(LossPlot).add_loss(event.step, event.loss)
            self._activity(f"step {event.step}/{event.total_steps} done · ETA {_duration(event.eta_s)}")
            stats.update(
                Content(
                    f"step {event.step}/{event.total_steps} · epoch {event.epoch:.2f} · loss {event.loss:.3f} · lr {event.lr:.2e} · "
                    f"{event.tokens_per_s:.0f} tokens/s · ETA {_duration(event.eta_s)}"
                    + (f" · MFU {100 * event.mfu:.0f}%" if event.mfu else "")
                )
            )
        elif isinstance(event, SamplesGenerated):  # fixed prompts and seeds
            self.query_one(TrainingSamplesView).show(event)
        elif isinstance(event, ev.Evaluated):
            self.query_one(LossPlot).add_perplexity(event.step, event.valid_perplexity)
        elif isinstance(event, ev.CheckpointSaved):
            self.query_one("#train-result", Static).update(
                f"checkpoint at step {event.step}{' (best so far)' if event.best else ''}"
            )

    def on_training_ended(self, message: msg.TrainingEnded) -> None:
        finished = message.finished
        self._set_running(False)
        self._activity("")
        self.query_one("#train-progress", ProgressBar).display = finished.outcome == "completed"
        ppl = f" · valid perplexity {finished.valid_perplexity:.1f}" if finished.valid_perplexity else ""
        verb = "Done" if finished.outcome == "completed" else "Stopped (checkpoint kept; tick resume to continue)"
        tuned = bool(finished.result_dir)
        text = f"{verb}: {finished.steps} steps in {_duration(finished.seconds)}{ppl} → {finished.run_dir}"
        if finished.stopped_early:
            text += f"\n{finished.stopped_early[:1].upper()}{finished.stopped_early[1:]}."
        if tuned:
            text += "\nctrl+b or 'Use tuned' switches the chat to the tuned model."
        self.query_one("#train-result", Static).update(text)
        self.query_one("#use-tuned", Button).disabled = not tuned
        self._set("out", _fresh_run_dir(self.owner.workspace.data_dir))

    def on_training_failed(self, message: msg.TrainingFailed) -> None:
        self._set_running(False)
        self._activity("")
        self.query_one("#train-progress", ProgressBar).display = False
        self._form_error(message.error)


def stage_line(event: Progress) -> str:
    """``evaluating valid 120/180 windows``; ``loading model`` while the total is unknown and nothing is done."""
    unit = f" {event.unit}" if event.unit else ""
    if event.total:
        return f"{event.stage} {event.done}/{event.total}{unit}"
    return f"{event.stage} {event.done}{unit}" if event.done else f"{event.stage}…"


def heartbeat_line(event: StepHeartbeat) -> str:
    """``step 13/138 · micro-batch 1/1 · 63% · ETA 24m00s``: the running step (``event.step`` are done)."""
    running = min(event.step + 1, event.total_steps)
    percent = int(100 * min(max(event.fraction, 0.0), 1.0) + 1e-9)  # floor: 100% only when done
    return (
        f"step {running}/{event.total_steps} · micro-batch {event.micro_batch}/{event.grad_accum} · "
        f"{percent}% · ETA {_duration(event.eta_s)}"
    )


def _fresh_run_dir(data_dir: Path | None) -> str:
    """``runs/<data>-lora``, numbered so an existing run is never the default target."""
    from tweetsmith.engine.paths import runs_root

    stem = Path(data_dir).name if data_dir else "run"
    root = runs_root()
    candidate, i = root / f"{stem}-lora", 2
    while candidate.exists():
        candidate, i = root / f"{stem}-lora-{i}", i + 1
    return str(candidate)
