"""Is it their voice? The session's samples of the model in use, measured as ``tweetsmith voice`` measures them:
the share attributed to the prompted author ("voice"), the classifier on real test tweets ("real": the
ceiling), and how well a classifier tells the samples from the authors' test tweets ("tell-apart", 0.5: it
cannot). Two columns: all the session's samples of the model in use, and the current author's.

The figures are the engine's (``engine.voice.VoiceJudge.measure``, seed 0), computed in a thread worker as
samples come in; the judge of a data directory (its author classifier, fitted once per split and kept on
disk, and its test tweets) is built once. The worker posts ``VoiceComputed``; the handler assigns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from tweetsmith.data.split import SplitDir

from .. import messages as msg
from ..errors import error_text
from ..memo import Memo

if TYPE_CHECKING:
    from tweetsmith.engine.sides import Side
    from tweetsmith.engine.voice import VoiceJudge

    from ..session import ChatEntry
    from ..workspace import WorkspaceOwner

VOICE_SEED = 0  # the seed of the two-sample test's draws and folds (``tweetsmith voice`` uses the sampling seed)


def _judge_for(data_dir: Path) -> VoiceJudge:
    from tweetsmith.engine.voice import voice_judge

    return voice_judge(data_dir)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


class VoicePanel(Widget):
    """Voice, real, tell-apart: all samples of the model in use, and the current author's."""

    result: reactive[msg.VoiceComputed | None] = reactive(None, always_update=True)
    status: reactive[str] = reactive("")

    def __init__(self, owner: WorkspaceOwner, **kwargs) -> None:
        super().__init__(**kwargs)
        self.owner = owner
        self._judges: Memo[Path, VoiceJudge] = Memo(_judge_for)
        self._asked = 0  # samples in the newest request: an older answer is not shown over a newer one

    def compose(self) -> ComposeResult:
        yield Static(
            Content.assemble(("Voice", "bold"), (" (this session)", "dim")), id="voice-title", classes="panel-title"
        )
        yield Static(id="voice-values")

    def on_mount(self) -> None:
        self._redraw()

    def watch_result(self) -> None:
        self._redraw()

    def watch_status(self) -> None:
        self._redraw()

    def measure(self, entries: Sequence[ChatEntry], author: str) -> None:
        """Measure the entries of the model in use (``workspace.side``) in a worker; ``author`` gets a column."""
        side = self.owner.workspace.side
        kept = [e for e in entries if e.side == side and e.text.strip()]
        data = self.owner.workspace.data_dir
        if data is None or not SplitDir(data).test.is_file():
            self.status = "no data: open a run or /data to measure"
            return
        if not kept:
            self.result, self.status = None, "no samples of this model yet"
            return
        self._asked = len(kept)
        if self.result is None:
            self.status = "measuring… (the first time fits the author classifier)"
        self._measure(Path(data), [e.author for e in kept], [e.text for e in kept], author, side)

    @work(thread=True, exclusive=True, exit_on_error=False, group="voice")
    def _measure(self, data: Path, authors: list[str], texts: list[str], author: str, side: Side) -> None:
        try:
            judge = self._judges.get(data)
            figures = judge.measure(authors, texts, seed=VOICE_SEED, per_author_test={author})
        except Exception as err:  # noqa: BLE001
            self.post_message(msg.VoiceFailed(error_text(err)))
            return
        fit = judge.classifier.fit if judge.classifier is not None else None
        self.post_message(msg.VoiceComputed(figures, fit, judge.note, author, side))

    def on_voice_computed(self, message: msg.VoiceComputed) -> None:
        if message.figures.samples != self._asked:
            return  # a newer sample arrived; its own measurement follows
        self.status = ""
        self.result = message

    def on_voice_failed(self, message: msg.VoiceFailed) -> None:
        self.status = "not measured"
        self.notify(message.error, title="Voice not measured", severity="warning", markup=False)

    # --- drawing ------------------------------------------------------------------------------------

    def _redraw(self) -> None:
        if not self.children:
            return
        title, body = self.query_one("#voice-title", Static), self.query_one("#voice-values", Static)
        if self.result is None:
            title.update(Content.assemble(("Voice", "bold"), (" (this session)", "dim")))
            body.update(Content(self.status or "no samples yet").stylize("dim"))
            return
        heading, rows = voice_lines(self.result)
        title.update(heading)
        body.update(rows)


def voice_lines(result: msg.VoiceComputed) -> tuple[Content, Content]:
    """The panel's title (the model, the columns) and rows for a ``VoiceComputed``: name 10, all 6,
    author 8 columns; compact, as the side column is shared with four panels."""
    figures, fit = result.figures, result.fit
    mine = figures.per_author.get(result.author)
    who = f"@{result.author}"[:8] if result.author else "author"

    def value(estimate) -> float | None:
        return estimate.value if estimate is not None else None

    rows = []
    if fit is not None:
        rows.append(("voice", _num(value(figures.attribution)), _num(value(mine.attribution) if mine else None)))
        rows.append(("real", _num(fit.test_accuracy.value), _num(fit.test_recall.get(result.author))))
    rows.append(("tell-apart", _num(value(figures.authenticity)), _num(value(mine.authenticity) if mine else None)))
    heading = Content.assemble(("Voice", "bold"), (f" {result.side:<4}{'all':>6}{who:>8}", "dim"))
    parts: list = []
    for name, everyone, author in rows:
        parts += [(f"{name:<10}", "dim"), (f"{everyone:>6}", "bold"), (f"{author:>8}", ""), "\n"]
    note = f"chance {fit.chance:.2f} · {figures.samples} samples" if fit is not None else "one author: no attribution"
    parts.append((note, "dim"))
    return heading, Content.assemble(*parts)
