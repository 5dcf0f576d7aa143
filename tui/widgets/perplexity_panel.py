"""Perplexity of base and tuned on valid and test, with the change; a progress bar while computing.

The panel computes its own figures in a thread worker (exclusive, so a newer request replaces an older
one) and shows what the worker posts back. Two ways: the full valid and test splits (ctrl+e, /eval:
minutes on a CPU, cached in the run) and, right after a training, a quick estimate on the first N valid
records that the panel labels as such (never minutes of work the user did not ask for). ctrl+e during
the quick estimate replaces it with the full evaluation.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from tweetsmith.engine.perplexity_table import PerplexityTable, cached_table, perplexity_table, quick_table

from .. import messages as msg
from ..errors import error_text

if TYPE_CHECKING:
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.progress import Progress
    from tweetsmith.engine.sides import Side

    from ..workspace import WorkspaceOwner


def format_perplexity(value: float | None) -> str:
    """At most 8 characters: 26.4, 147.3, 49575, 1.2e+09."""
    if value is None:
        return "–"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:.0f}" if value < 1e7 else f"{value:.1e}"


def format_change(percent: float) -> str:
    return f"{percent:+.1f}%" if abs(percent) < 10 else f"{percent:+.0f}%"


class PerplexityPanel(Widget):
    table: reactive[PerplexityTable | None] = reactive(None, always_update=True)
    busy: reactive[bool] = reactive(False)
    progress_label: reactive[str] = reactive("")

    def __init__(self, owner: WorkspaceOwner, **kwargs) -> None:
        super().__init__(**kwargs)
        self.owner = owner
        self._cancel: threading.Event | None = None
        self._quick = False  # the running worker is the quick estimate
        self._run: Path | None = None  # the run the table shown (or being computed) is of

    def compose(self) -> ComposeResult:
        yield Static(Content.assemble(("Perplexity", "bold")), classes="panel-title")
        yield Static(id="ppl-table")
        yield ProgressBar(id="ppl-progress", show_eta=False)
        yield Static(id="ppl-note")

    def on_mount(self) -> None:
        self.watch_table(self.table)
        self.watch_busy(self.busy)

    def watch_table(self, table: PerplexityTable | None) -> None:
        if not self.children:
            return
        body = self.query_one("#ppl-table", Static)
        if table is None:
            body.update(
                Content.assemble(("not computed: ", "$text-muted"), ("ctrl+e", "bold"), (" or /eval", "$text-muted"))
            )
            return
        parts: list = [(f"{'':<7}{'base':>8}{'tuned':>8}{'change':>8}", "dim")]
        for split in table.splits:
            # "alone": each record after end-of-text only, as the chat writes one tweet (per-record perplexity)
            for context, label in (("windowed", split), ("record", " alone")):
                base, tuned = table.get("base", split, context), table.get("tuned", split, context)
                if context == "record" and base is None and tuned is None:
                    continue
                change = table.change(split, context)
                parts += [
                    "\n",
                    (f"{label:<7}", "dim"),
                    (f"{format_perplexity(base):>8}", "bold"),
                    (f"{format_perplexity(tuned):>8}", "bold"),
                ]
                if change is not None:
                    parts.append((f"{format_change(change):>8}", "$success" if change < 0 else "$error"))
        body.update(Content.assemble(*parts))
        note = self.query_one("#ppl-note", Static)
        if not self.busy:
            note.update(Content(table.note))

    def watch_busy(self, busy: bool) -> None:
        if not self.children:
            return
        self.query_one("#ppl-progress", ProgressBar).display = busy
        if not busy and self.table is not None:
            self.query_one("#ppl-note", Static).update(Content(self.table.note))

    def watch_progress_label(self, label: str) -> None:
        if self.children and self.busy:
            self.query_one("#ppl-note", Static).update(Content(label))

    def show_progress(self, label: str, done: int, total: int) -> None:
        self.busy = True
        self.progress_label = label
        self.query_one("#ppl-progress", ProgressBar).update(total=max(total, 1), progress=done)

    # --- computing ----------------------------------------------------------------------------------

    def show_cached(self) -> None:
        """The open run's cached figures (nothing computed); a panel without a run shows none. Figures of
        another run give way, and so does their computation (``/run`` opened another run)."""
        run_dir = self.owner.workspace.run_dir
        other_run = run_dir != self._run
        if other_run and self._cancel is not None:
            self._cancel.set()  # its worker posts nothing now
            self.busy = False
        try:
            table = cached_table(run_dir)
        except Exception as err:  # noqa: BLE001 - a broken cache is recomputed on ctrl+e
            self.notify(f"could not read the cached perplexity: {error_text(err)}", severity="warning")
            return
        if table is not None or run_dir is None or other_run:  # else this run's quick estimate stays
            self.table, self._run = table, run_dir

    def evaluate(self, records: int | None = None) -> None:
        """Base (and tuned) on valid and test; with ``records``, after a training, base vs tuned on the first
        ``records`` records of the run's valid split only."""
        ws = self.owner.workspace
        if records is not None:
            if ws.run_dir is not None:
                self._start(records)
            return
        if self.busy and not self._quick:
            self.notify("perplexity is already being computed")
            return
        if ws.run_dir is None and not ws.models:
            self.notify("no model loaded yet", severity="warning")
            return
        self._start(None)

    def _start(self, records: int | None) -> None:
        if self._cancel is not None:
            self._cancel.set()  # the quick estimate (if running) gives way
        ws = self.owner.workspace
        self._cancel = cancel = self.owner.cancels.track(threading.Event())
        self._quick = records is not None
        self._run = ws.run_dir
        self.show_progress("starting…", 0, 1)
        self._compute(ws.run_dir, dict(ws.models), ws.data_dir, cancel, records, self.owner.precision)

    @work(thread=True, exclusive=True, exit_on_error=False, group="perplexity")
    def _compute(
        self,
        run_dir: Path | None,
        models: dict[Side, LoadedModel],
        data_dir: Path | None,
        cancel: threading.Event,
        records: int | None,
        precision: str,
    ) -> None:
        """The full splits, or with ``records`` the quick estimate; a cancelled one posts nothing."""

        def progress(event: Progress) -> None:  # an unknown total shows as 1
            if not cancel.is_set():
                self.post_message(
                    msg.PerplexityProgressed(event.stage, event.done, 1 if event.total is None else event.total)
                )

        tuned = None
        try:
            if records is None:
                table = perplexity_table(
                    run_dir=run_dir,
                    models=models,
                    data_dir=data_dir,
                    cancel=cancel,
                    on_progress=progress,
                    precision=precision,
                )
            else:
                assert run_dir is not None
                quick = quick_table(
                    run_dir=run_dir,
                    models=models,
                    records=records,
                    cancel=cancel,
                    on_progress=progress,
                    precision=precision,
                )
                table, tuned = quick.table, quick.loaded_tuned
        except Exception as err:  # noqa: BLE001
            if not cancel.is_set():
                self.post_message(msg.PerplexityFailed(error_text(err)))
            return
        if not cancel.is_set():
            self.post_message(msg.PerplexityComputed(table, run_dir, tuned))

    def on_perplexity_progressed(self, message: msg.PerplexityProgressed) -> None:
        self.show_progress(f"{message.label} {message.done}/{message.total}", message.done, message.total)

    def on_perplexity_computed(self, message: msg.PerplexityComputed) -> None:
        if message.run_dir != self._run:
            return  # of a run /run has replaced since
        self.busy = False
        self.table = message.table

    def on_perplexity_failed(self, message: msg.PerplexityFailed) -> None:
        self.busy = False
        self.notify(message.error, title="Perplexity not computed", severity="error", timeout=10)
