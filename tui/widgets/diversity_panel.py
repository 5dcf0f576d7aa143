"""Diversity of this session's samples (all, and the current author): dist-1/2, self-BLEU, overlap, length;
with the 95% bootstrap half-widths of "all" and whether each figure is within, above or below the human
band (the same figures on as many random test tweets).

The panel computes its own figures: ``measure`` starts a thread worker for the diversity (against the
test split's vocabulary, kept once read), and when that is shown a second one for the intervals and the
human band (``APP_BAND_REPEATS`` sets of test tweets, kept per count). The workers post their results;
the handlers assign them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import get_current_worker

from tweetsmith.data.split import SplitDir

from .. import messages as msg
from ..errors import error_text
from ..memo import Memo

if TYPE_CHECKING:
    from tweetsmith.engine.bootstrap import HumanBand, HumanPool, Intervals
    from tweetsmith.engine.diversity import DiversityResult, Reference

    from ..workspace import WorkspaceOwner

APP_BAND_REPEATS = 10  # fewer sets than the CLI's 20: the band is redrawn as the session grows


def _pool_for(data_dir: Path) -> HumanPool:
    from tweetsmith.engine.bootstrap import human_pool_for_split

    return human_pool_for_split(SplitDir(data_dir).test)


def _test_split(data_dir: Path | None) -> Path | None:
    return Path(data_dir) if data_dir is not None and SplitDir(data_dir).test.is_file() else None


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "–"


class DiversityPanel(Widget):
    """Two columns: every sample of the session, and the current author's samples."""

    overall: reactive[DiversityResult | None] = reactive(None, always_update=True)
    per_author: reactive[DiversityResult | None] = reactive(None, always_update=True)
    author: reactive[str] = reactive("")
    intervals: reactive[Intervals | None] = reactive(None, always_update=True)  # of "all"
    band: reactive[HumanBand | None] = reactive(None, always_update=True)  # for as many samples as "all"

    def __init__(self, owner: WorkspaceOwner, **kwargs) -> None:
        super().__init__(**kwargs)
        self.owner = owner
        self._texts: list[str] = []  # the texts "all" was measured on
        self._reference: tuple[Path, Reference] | None = None  # the test split's vocabulary, per data dir
        self._bands: dict[tuple[Path, int], HumanBand] = {}
        self._pool: Memo[Path, HumanPool] = Memo(_pool_for)

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

    # --- computing ----------------------------------------------------------------------------------

    def measure(self, texts: list[str], author: str, author_texts: list[str]) -> None:
        """The figures of ``texts`` (the session's samples) and ``author_texts`` (``author``'s among them)."""
        self.author = author
        self._texts = list(texts)
        if not texts:
            self.overall = None
            return
        test = _test_split(self.owner.workspace.data_dir)
        reference = self._reference[1] if self._reference is not None and self._reference[0] == test else None
        self._diversity(list(texts), author, list(author_texts), test, reference)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diversity")
    def _diversity(
        self, texts: list[str], author: str, author_texts: list[str], test: Path | None, reference: Reference | None
    ) -> None:
        try:
            from tweetsmith.data.records import read_split_lines
            from tweetsmith.engine.diversity import diversity, reference_from_lines

            if reference is None and test is not None:
                reference = reference_from_lines(read_split_lines(SplitDir(test).test))
            overall = diversity(texts, reference=reference)
            per_author = diversity(author_texts, reference=reference) if author_texts else None
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.DiversityFailed(error_text(err)))
            return
        self.post_message(msg.DiversityComputed(overall, author, per_author, reference))

    def on_diversity_computed(self, message: msg.DiversityComputed) -> None:
        test = _test_split(self.owner.workspace.data_dir)
        if message.reference is not None and test is not None:
            self._reference = (test, message.reference)
        self.author = message.author
        self.per_author = message.per_author
        previous = self.overall
        self.overall = message.overall
        if message.overall is None:
            return
        n = message.overall.samples
        if previous is None or previous.samples != n:  # older figures would describe another count
            self.intervals = None
            self.band = self._bands.get((test, n)) if test is not None else None
        self._intervals(self._texts, test, message.reference, self._bands.get((test, n)) if test else None)

    def on_diversity_failed(self, message: msg.DiversityFailed) -> None:
        self.notify(message.error, title="Diversity not computed", severity="warning")

    @work(thread=True, exclusive=True, exit_on_error=False, group="intervals")
    def _intervals(
        self, texts: list[str], test: Path | None, reference: Reference | None, band: HumanBand | None
    ) -> None:
        from tweetsmith.engine.bootstrap import intervals

        n = len(texts)
        try:
            found = intervals(texts, reference=reference) if n >= 2 else None
            if band is None and test is not None and not get_current_worker().is_cancelled:
                band = self._pool.get(test).band(n, repeats=APP_BAND_REPEATS)
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.InsightFailed("intervals", error_text(err)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(msg.IntervalsComputed(n, found, band))

    def on_intervals_computed(self, message: msg.IntervalsComputed) -> None:
        test = _test_split(self.owner.workspace.data_dir)
        if test is not None and message.band is not None:
            self._bands[(test, message.samples)] = message.band
        if self.overall is None or self.overall.samples != message.samples:
            return  # a newer sample arrived; its own computation follows
        self.intervals = message.intervals
        self.band = message.band

    # --- drawing ------------------------------------------------------------------------------------

    def _redraw(self) -> None:
        if not self.children:
            return
        body = self.query_one("#div-values", Static)
        if self.overall is None:
            body.update(Content("no samples yet").stylize("dim"))
            return
        a, b = self.overall, self.per_author
        who = f"@{self.author}"[:6] if self.author else "author"

        def row(name: str, key: str | None, shown: Callable[[DiversityResult], str]) -> tuple:
            return name, shown(a), shown(b) if b is not None else "–", key

        rows = [
            row("samples", None, lambda r: str(r.samples)),
            row("dist-1", "dist_1", lambda r: _num(r.dist_1)),
            row("dist-2", "dist_2", lambda r: _num(r.dist_2)),
            row(f"sBLEU-{a.self_bleu_n}", "self_bleu", _bleu),
            row("overlap", "overlap", lambda r: _num(r.overlap)),
            row("words", "mean_words", lambda r: _num(r.mean_words, 1)),
        ]
        bounds = self.intervals.bounds if self.intervals is not None else {}
        # 31 columns: name 8, all 5, ±95% 4, author 7, human 7
        parts: list = [(f"{'':<8}{'all':>5}{'±':>4}{who:>7}{'human':>7}", "dim")]
        for name, x, y, key in rows:
            said = _verdict(getattr(a, key), self.band, key) if key else ""
            spread = _half_width(bounds.get(key)) if key else ""
            parts += [
                "\n",
                (f"{name:<8}", "dim"),
                (f"{x:>5}", "bold"),
                (f"{spread:>4}", "dim"),
                (f"{y:>7}", ""),
                (f"{said:>7}", VERDICT_STYLE.get(said, "dim")),
            ]
        notes = []
        if bounds:
            notes.append("± 95%")
        if self.band is not None:
            notes.append(f"human {self.band.repeats}×{self.band.n} tweets")
        if notes:
            parts += ["\n", (" · ".join(notes), "dim")]
        body.update(Content.assemble(*parts))


def _half_width(bounds: tuple[float, float] | None) -> str:
    """Half the width of a 95% interval, short: ``.03`` or ``1.2``."""
    if not bounds:
        return ""
    half = (float(bounds[1]) - float(bounds[0])) / 2
    return f"{half:.2f}".lstrip("0") if half < 1 else f"{half:.1f}"


VERDICT_STYLE = {"within": "$success", "above": "$warning", "below": "$warning"}


def _verdict(value: float | None, band: HumanBand | None, key: str) -> str:
    """ "within", "above" or "below" the human band; blank until the band for this many samples is computed."""
    if band is None:
        return ""
    bounds = band.bounds.get(key)
    if value is None or bounds is None:
        return "–"
    from tweetsmith.engine.bootstrap import verdict

    return verdict(float(value), tuple(bounds)) or "–"


def _bleu(result: DiversityResult) -> str:
    """Self-BLEU needs two samples or more; say so instead of a made-up number."""
    if result.self_bleu is None or result.samples < 2:
        return "n<2"
    return _num(result.self_bleu)
