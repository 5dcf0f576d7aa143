"""The assignment screen (/assignment): the whole pipeline of ``tweetsmith assignment``, with its progress.

The engine's ``run_assignment`` runs in a thread worker of this screen; each stage's progress (stage,
detail, ETAs) comes back as a message, and each finished stage's wall time is listed. Esc cancels (a
training keeps its checkpoint) and closes; the same command, here or in the terminal, resumes.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static

from .. import messages as msg
from ..errors import error_text

if TYPE_CHECKING:
    from tweetsmith.engine.assignment import AssignmentConfig, AssignmentResult
    from tweetsmith.engine.assignment_progress import PipelineProgress
    from tweetsmith.engine.sampling import SamplingConfig

    from ..commands import AssignmentRequest
    from ..root import Root
    from ..workspace import WorkspaceOwner


def assignment_config(request: AssignmentRequest, model_spec: str, sampling: SamplingConfig) -> AssignmentConfig:
    """The engine's config for a request from the chat: LoRA on the chat's base model unless told otherwise,
    the chat's sampling settings, into ``out`` (default: ``<runs>/assignment-<first source's name>``)."""
    from tweetsmith.data.prepare import PrepareConfig
    from tweetsmith.engine.assignment import AssignmentConfig

    from ..commands import assignment_training

    out = request.out or default_out(request)
    # Values of TrainConfig's fields, each read by its field's type and checked when the command was parsed;
    # a model= setting wins over the chat's model.
    settings: dict[str, Any] = {"model": model_spec, **dict(request.train)}
    train = dataclasses.replace(assignment_training(), **settings)
    prepare = PrepareConfig(inputs=request.sources, builtin=request.builtin, out=out)
    return AssignmentConfig(
        out=out,
        prepare=prepare,
        train=train,
        samples=request.samples,
        sampling=dataclasses.replace(sampling, seed=0),
        ablation_steps=request.ablation_steps,
    )


def default_out(request: AssignmentRequest) -> str:
    """``<runs>/assignment-<first source's name>``."""
    from tweetsmith.engine.paths import runs_root

    name = Path(request.sources[0]).stem if request.sources else request.builtin
    return str(runs_root() / f"assignment-{name}")


def confined_request(request: AssignmentRequest, root: Root) -> AssignmentRequest:
    """``request`` with its sources, its out directory (the default one too) and a ``model=`` setting
    checked against the app's root and made absolute; ``PathRefused`` for one that leaves it."""
    if not root.confined:
        return request
    sources = tuple(str(root.path(source, "/assignment")) for source in request.sources)
    out = str(root.path(request.out or default_out(request), "/assignment out="))
    train = tuple(
        (name, root.model_spec(str(value), "/assignment model=") if name == "model" else value)
        for name, value in request.train
    )
    return dataclasses.replace(request, sources=sources, out=out, train=train)


class AssignmentScreen(Screen):
    BINDINGS = [Binding("escape", "close", "close (stops the pipeline; the same command resumes)")]

    def __init__(self, owner: WorkspaceOwner, request: AssignmentRequest, sampling: SamplingConfig):
        super().__init__()
        self.owner = owner
        self.request = request
        self.sampling = sampling
        self.result: AssignmentResult | None = None
        self._stages: list[str] = []
        self._stage: str | None = None
        self._cancel = owner.cancels.track(threading.Event())  # leaving the app stops the pipeline too

    def compose(self) -> ComposeResult:
        sources = " ".join([*self.request.sources, *([self.request.builtin] if self.request.builtin else [])])
        yield Static(
            Content.assemble(
                ("Assignment: ", "bold"),
                (sources, "bold $accent"),
                (f" · {self.request.samples} samples per model and sweep point", "dim"),
            ),
            id="assignment-title",
        )
        yield ProgressBar(id="assignment-progress", show_eta=False)
        yield Static(id="assignment-status", markup=False)
        yield Static(id="assignment-stages", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        model = self.owner.workspace.models[
            "base"
        ].info.spec  # the chat's base model (main screen checked it is loaded)
        self.query_one("#assignment-status", Static).update("starting…")
        self.run_pipeline(assignment_config(self.request, model, self.sampling))

    @work(thread=True, exclusive=True, exit_on_error=False, group="assignment")
    def run_pipeline(self, config: AssignmentConfig) -> None:
        from tweetsmith.engine.assignment import TrainingStopped, run_assignment
        from tweetsmith.engine.experiments import Cancelled

        try:
            result = run_assignment(
                config, on_progress=self._progressed, cancel=self._cancel, on_notice=self.notice_from_thread
            )
        except (Cancelled, TrainingStopped) as err:
            self.post_message(
                msg.AssignmentFailed(f"stopped ({err}); /assignment with the same source resumes", stopped=True)
            )
            return
        except Exception as err:  # noqa: BLE001 - shown on the screen, never a crash
            self.post_message(msg.AssignmentFailed(error_text(err)))
            return
        self.post_message(msg.AssignmentFinished(result))

    def _progressed(self, event: PipelineProgress) -> None:
        """The pipeline's ``on_progress`` (called in its thread)."""
        self.post_message(msg.AssignmentProgressed(event))

    def notice_from_thread(self, text: str) -> None:
        """The pipeline's one-line notices (a memory plan that changed the batch, say) as a warning toast."""
        self.app.call_from_thread(self.notify, text, title="Assignment", severity="warning", timeout=10)

    def on_assignment_progressed(self, message: msg.AssignmentProgressed) -> None:
        event = message.event
        if event.stage != self._stage:
            if self._stage is not None:
                self._stages.append(self._stage)
            self._stage = event.stage
            self.query_one("#assignment-stages", Static).update(
                "done: " + ", ".join(self._stages) if self._stages else ""
            )
        self.query_one("#assignment-progress", ProgressBar).update(total=event.total or None, progress=event.done)
        self.query_one("#assignment-status", Static).update(
            f"[{event.number}/{event.stages}] {event.stage} · {event.summary()}"
        )

    def on_assignment_finished(self, message: msg.AssignmentFinished) -> None:
        from tweetsmith.engine.assignment_progress import stage_table

        self.result = message.result
        self.query_one("#assignment-progress", ProgressBar).display = False
        self.query_one("#assignment-status", Static).update(f"done: {message.result.report}")
        self.query_one("#assignment-stages", Static).update(stage_table(message.result.stages))

    def on_assignment_failed(self, message: msg.AssignmentFailed) -> None:
        self.query_one("#assignment-progress", ProgressBar).display = False
        self.query_one("#assignment-status", Static).update(message.error)
        if not message.stopped:
            self.notify(message.error, title="Assignment failed", severity="error", timeout=10)

    def action_close(self) -> None:
        self._cancel.set()
        self.app.pop_screen()
