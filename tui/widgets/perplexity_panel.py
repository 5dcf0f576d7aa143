"""Perplexity of base and tuned on valid and test, with the change; a progress bar while computing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from ..evaluation import PerplexityTable


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
            body.update(Content.assemble(("not computed: ", "$text-muted"), ("ctrl+e", "bold"), (" or /eval", "$text-muted")))
            return
        parts: list = [(f"{'':<5}{'base':>9}{'tuned':>9}{'change':>8}", "dim")]
        for split in table.splits:
            base, tuned = table.get("base", split), table.get("tuned", split)
            change = table.change(split)
            parts += ["\n", (f"{split:<5}", "dim"), (f"{format_perplexity(base):>9}", "bold"),
                      (f"{format_perplexity(tuned):>9}", "bold")]
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
