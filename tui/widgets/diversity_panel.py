"""Diversity of this session's samples (all, and the current author): dist-1/2, self-BLEU, overlap, length;
with the 95% bootstrap half-widths of "all" and whether each figure is within, above or below the human
band (the same figures on as many random test tweets)."""

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
    intervals: reactive[Any] = reactive(None, always_update=True)  # engine.bootstrap.Intervals of "all"
    band: reactive[Any] = reactive(None, always_update=True)  # engine.bootstrap.HumanBand for as many samples

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

    def watch_intervals(self) -> None:
        self._redraw()

    def watch_band(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if not self.children:
            return
        body = self.query_one("#div-values", Static)
        if self.overall is None:
            body.update(Content("no samples yet", ).stylize("dim"))
            return
        a, b = self.overall, self.per_author
        who = f"@{self.author}"[:6] if self.author else "author"
        bleu_key = f"self_bleu_{getattr(a, 'self_bleu_n', 4)}"
        rows = [
            ("samples", str(getattr(a, "samples", 0)), str(getattr(b, "samples", "–")) if b else "–", None),
            ("dist-1", _num(getattr(a, "dist_1", None)), _num(getattr(b, "dist_1", None)) if b else "–", "dist_1"),
            ("dist-2", _num(getattr(a, "dist_2", None)), _num(getattr(b, "dist_2", None)) if b else "–", "dist_2"),
            (f"sBLEU-{getattr(a, 'self_bleu_n', 4)}", _bleu(a), _bleu(b), bleu_key),
            ("overlap", _num(getattr(a, "overlap", None)), _num(getattr(b, "overlap", None)) if b else "–", "overlap"),
            ("words", _num(getattr(a, "mean_words", None), 1), _num(getattr(b, "mean_words", None), 1) if b else "–", "mean_words"),
        ]
        point = a.to_dict() if hasattr(a, "to_dict") else {}
        bounds = getattr(self.intervals, "bounds", None) or {}
        # 31 columns: name 8, all 5, ±95% 4, author 7, human 7
        parts: list = [(f"{'':<8}{'all':>5}{'±':>4}{who:>7}{'human':>7}", "dim")]
        for name, x, y, key in rows:
            said = _verdict(point.get(key), self.band, key) if key else ""
            spread = _half_width(bounds.get(key)) if key else ""
            parts += ["\n", (f"{name:<8}", "dim"), (f"{x:>5}", "bold"), (f"{spread:>4}", "dim"), (f"{y:>7}", ""),
                      (f"{said:>7}", VERDICT_STYLE.get(said, "dim"))]
        notes = []
        if bounds:
            notes.append("± 95%")
        if self.band is not None:
            notes.append(f"human {self.band.repeats}×{self.band.n} tweets")
        if notes:
            parts += ["\n", (" · ".join(notes), "dim")]
        body.update(Content.assemble(*parts))


def _half_width(bounds: Any) -> str:
    """Half the width of a 95% interval, short: ``.03`` or ``1.2``."""
    if not bounds:
        return ""
    half = (float(bounds[1]) - float(bounds[0])) / 2
    return f"{half:.2f}".lstrip("0") if half < 1 else f"{half:.1f}"


VERDICT_STYLE = {"within": "$success", "above": "$warning", "below": "$warning"}


def _verdict(value: Any, band: Any, key: str) -> str:
    """"within", "above" or "below" the human band; blank until the band for this many samples is computed."""
    if band is None:
        return ""
    bounds = band.bounds.get(key)
    if value is None or bounds is None:
        return "–"
    from tweetsmith.engine.bootstrap import verdict

    return verdict(float(value), tuple(bounds)) or "–"


def _bleu(result: Any) -> str:
    """Self-BLEU needs two samples or more; say so instead of a made-up number."""
    if result is None:
        return "–"
    value = getattr(result, "self_bleu", None)
    if value is None or getattr(result, "samples", 0) < 2:
        return "n<2"
    return _num(value)
