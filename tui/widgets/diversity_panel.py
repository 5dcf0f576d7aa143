"""Diversity of this session's samples (all, and the current author): dist-1/2, self-BLEU, overlap, length."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "–"


class DiversityPanel(Widget):
    """Two columns: every sample of the session, and the current author's samples."""

    overall: reactive[Any] = reactive(None, always_update=True)  # engine.diversity.DiversityResult
    per_author: reactive[Any] = reactive(None, always_update=True)
    author: reactive[str] = reactive("")

    def compose(self) -> ComposeResult:
        yield Static(Content.assemble(("Diversity", "bold"), (" (this session)", "dim")), classes="panel-title")
        yield Static(id="div-values")

    def on_mount(self) -> None:
        self._redraw()

    def watch_overall(self) -> None:
        self._redraw()

    def watch_per_author(self) -> None:
        self._redraw()

    def watch_author(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if not self.children:
            return
        body = self.query_one("#div-values", Static)
        if self.overall is None:
            body.update(Content("no samples yet", ).stylize("dim"))
            return
        a, b = self.overall, self.per_author
        who = f"@{self.author}"[:8] if self.author else "author"
        rows = [
            ("samples", str(getattr(a, "samples", 0)), str(getattr(b, "samples", "–")) if b else "–"),
            ("dist-1", _num(getattr(a, "dist_1", None)), _num(getattr(b, "dist_1", None)) if b else "–"),
            ("dist-2", _num(getattr(a, "dist_2", None)), _num(getattr(b, "dist_2", None)) if b else "–"),
            (f"sBLEU-{getattr(a, 'self_bleu_n', 4)}", _bleu(a), _bleu(b)),
            ("overlap", _num(getattr(a, "overlap", None)), _num(getattr(b, "overlap", None)) if b else "–"),
            ("words", _num(getattr(a, "mean_words", None), 1), _num(getattr(b, "mean_words", None), 1) if b else "–"),
        ]
        parts: list = [(f"{'':<9}{'all':>7}{who:>9}", "dim")]
        for name, x, y in rows:
            parts += ["\n", (f"{name:<9}", "dim"), (f"{x:>7}", "bold"), (f"{y:>9}", "")]
        body.update(Content.assemble(*parts))


def _bleu(result: Any) -> str:
    """Self-BLEU needs two samples or more; say so instead of a made-up number."""
    if result is None:
        return "–"
    value = getattr(result, "self_bleu", None)
    if value is None or getattr(result, "samples", 0) < 2:
        return "n<2"
    return _num(value)
