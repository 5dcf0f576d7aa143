"""Chat entries that are not samples: ``/score TEXT`` results and the training tweet a sample copied from.

Built from plain strings as ``Content`` (never markup): the texts are tweets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from .card_marks import legend_runs, styled_runs

if TYPE_CHECKING:
    from tweetsmith.engine.memorisation import SpanMatch
    from tweetsmith.engine.sides import Side
    from tweetsmith.engine.surprisal import Disagreement, TextScore


class ScoreCard(Static):
    """A text scored under each loaded model: its tokens coloured by surprisal, the means, the biggest changes."""

    def __init__(
        self,
        author: str,
        text: str,
        scores: dict[str, TextScore],
        disagreements: list[Disagreement],
        missing: list[str],
        *,
        id: str | None = None,
    ):
        super().__init__(id=id, classes="card score-card", markup=False)
        self.author, self.text, self.scores = author, text, scores
        self.disagreements, self.missing = disagreements, missing
        self.update(self._content())

    def _content(self) -> Content:
        handle = f"@{self.author}" if self.author else "(no author)"
        parts: list = [
            ("score ", "bold $accent"),
            (handle, "bold $accent"),
            ("  (log-probability per token, nats)", "dim"),
        ]
        for side, score in self.scores.items():
            mean = score.mean_logprob
            summary = (
                "n/a"
                if mean is None
                else f"mean {mean:.2f} · perplexity {score.perplexity:.1f} · {len(score.scored)} tokens"
            )
            parts += ["\n", (f"{side:<6}", "bold"), (summary, "dim"), "\n"]
            parts += styled_runs(self.text, 0, tokens=score.tokens)
            end = next((t for t in score.tokens if t.end_of_text), None)
            if end is not None:
                parts.append((f"  ⏎ {end.logprob:.2f}", "dim"))
        if self.disagreements:
            most = ", ".join(f"{d.piece!r} {d.base:.2f}→{d.tuned:.2f}" for d in self.disagreements)
            parts += ["\n", ("most changed by tuning: ", "dim"), most]
        if self.missing:
            parts += ["\n", (f"({' and '.join(self.missing)} not loaded: ctrl+b loads the other side)", "dim italic")]
        return Content.assemble(*parts)

    @property
    def plain(self) -> str:
        return self._content().plain


class SourceCard(Static):
    """Where a sample's longest shared span comes from: the span and the training record holding it."""

    def __init__(self, author: str, match: SpanMatch, *, id: str | None = None):
        super().__init__(id=id, classes="card source-card", markup=False)
        self.match = match
        verdict = "copied" if match.copied else "not copied"
        parts: list = [
            ("source ", "bold $accent"),
            (f"of @{author}'s sample" if author else "of the sample", "bold $accent"),
            (f"  ({verdict}: {match.words} of its {match.sample_words} words in one training tweet)", "dim"),
            "\n",
            ("span: ", "dim"),
            (match.span, "underline"),
            "\n",
            (f"training record {match.record}: ", "dim"),
            match.record_text or "",
        ]
        self.update(Content.assemble(*parts))

    @property
    def plain(self) -> str:
        content = self.content
        return content.plain if isinstance(content, Content) else str(content)


class SurprisalLegend(Static):
    """The colour key for surprisal, shown in the side panel while the colours are on."""

    side: reactive[Side] = reactive("base")

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes, markup=False)

    def on_mount(self) -> None:
        self.display = False
        self.watch_side(self.side)

    def watch_side(self, side: Side) -> None:
        self.update(Content.assemble(*legend_runs(side)))
