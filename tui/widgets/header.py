"""The top line: which model the chat uses (model, adapter, device, dtype) and any notice about it.

It shows the App's workspace (``tui.workspace``): subscribed to the signal the App publishes it on, it
draws the model in use, its side and its run from each new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from tweetsmith.engine.paths import short_path

if TYPE_CHECKING:
    from tweetsmith.engine.models import ModelInfo
    from tweetsmith.engine.sides import Side

    from ..workspace import Workspace, WorkspaceOwner


class ModelHeader(Widget):
    """``tweetsmith · smollm2-135m + LoRA (runs/vc) · cpu float32 · tuned``, plus a notice line.

    The fields are reactive: the model's follow the workspace's model in use (a model loads, the side
    flips, ``/run``); ``status`` follows the App's reactive ``status`` (loading, training progress).
    """

    model_name: reactive[str] = reactive("loading model…")
    adapter: reactive[str] = reactive("")
    device: reactive[str] = reactive("")
    dtype: reactive[str] = reactive("")
    side: reactive[str] = reactive("base")
    status: reactive[str] = reactive("")  # e.g. "training step 12/40 (chat uses the base model)"
    notice: reactive[str] = reactive("")

    def __init__(self, owner: WorkspaceOwner, **kwargs) -> None:
        super().__init__(**kwargs)
        self.owner = owner
        self._title = Content("")  # what the title line shows

    def compose(self) -> ComposeResult:
        yield Static(id="header-title", markup=False)
        yield Static(id="header-notice", markup=False)

    def on_mount(self) -> None:
        self.watch(self.app, "status", self._app_status)
        self.owner.workspace_changed.subscribe(self, self._follow)
        self._follow(self.owner.workspace)
        self._refresh_title()

    def _follow(self, workspace: Workspace) -> None:
        """The model in use (while none is, the header keeps what it shows: "loading model…")."""
        loaded = workspace.model
        if loaded is not None:
            self.show_model(loaded.info, workspace.side, workspace.run_dir)

    def _app_status(self, status: str) -> None:
        self.status = status

    def show_model(self, info: ModelInfo, side: Side, run_dir: Path | None) -> None:
        """The model the chat uses now: ``side`` of the run ``run_dir`` (if any)."""
        self.model_name = info.name
        self.adapter = (
            f"LoRA ({short_path(run_dir if run_dir is not None else Path(info.adapter))})" if info.adapter else ""
        )
        self.device, self.dtype = info.device, info.dtype
        self.side = side
        if info.notice:
            self.notice = info.notice

    def _refresh_title(self) -> None:
        if not self.children:
            return
        parts = [("tweetsmith", "bold"), (" · ", "dim"), (self.model_name, "bold $accent")]
        if self.adapter:
            parts += [(" + ", "dim"), (self.adapter, "$accent")]
        if self.device:
            parts += [(" · ", "dim"), (f"{self.device} {self.dtype}".strip(), "")]
        parts += [(" · ", "dim"), (self.side, "reverse bold" if self.side == "tuned" else "bold")]
        if self.status:
            parts += [(" · ", "dim"), (self.status, "italic")]
        self._title = Content.assemble(*parts)
        self.query_one("#header-title", Static).update(self._title)
        notice = self.query_one("#header-notice", Static)
        notice.update(self.notice)
        notice.display = bool(self.notice)

    def watch_model_name(self) -> None:
        self._refresh_title()

    def watch_adapter(self) -> None:
        self._refresh_title()

    def watch_device(self) -> None:
        self._refresh_title()

    def watch_dtype(self) -> None:
        self._refresh_title()

    def watch_side(self) -> None:
        self._refresh_title()

    def watch_status(self) -> None:
        self._refresh_title()

    def watch_notice(self) -> None:
        self._refresh_title()

    @property
    def title_text(self) -> str:
        """The title as plain text (tests and screenshots read it)."""
        return self._title.plain
