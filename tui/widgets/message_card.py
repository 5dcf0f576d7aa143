"""A chat message: the author's handle, the text as it streams in, and a line of parameters and costs.

Model text never goes through markup (``[/]`` in a tweet would raise, ``[red]`` would vanish): the
body is built as ``Content`` from plain strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from tweetsmith.engine.generate import clean_sample_text

from ..session import ChatEntry
from .card_marks import styled_runs

if TYPE_CHECKING:
    from tweetsmith.engine.memorisation import SpanMatch
    from tweetsmith.engine.sides import Side
    from tweetsmith.engine.surprisal import TextScore, TokenScore


class MessageCard(Vertical, can_focus=True):
    """One sample. ``append`` adds streamed text; ``finish`` adds the footer from the finished entry.
    Focusable (click, or Tab from the chat), so the card keys (c, r, m) can act on this card."""

    def __init__(
        self, author: str, prompt_text: str = "", side: Side = "base", *, id: str | None = None, show_side: bool = False
    ):
        super().__init__(id=id, classes=f"card side-{side}")
        self.author = author
        self.prompt_text = clean_sample_text(prompt_text)  # typed text: shown as the entry saves it
        self.side = side
        self.text = ""  # the continuation shown (the Sample's text once finished)
        self.streamed = ""  # every piece that streamed in, joined (tests compare it with the Sample)
        self.entry: ChatEntry | None = None
        self.streaming = True
        self.match: SpanMatch | None = None  # of the finished text, once checked
        self.surprisal: TextScore | None = None  # of the body, while colours are on
        self.most_surprising: TokenScore | None = None  # the sample's least likely token, named in the footer
        self.waiting = False  # typed before the model loaded: shown, streamed once it is in
        self._handle = Static(self._handle_content(show_side), classes="card-handle")
        self._body = Static("", classes="card-body")
        self._footer = Static(Content("streaming… (Esc stops)"), classes="card-footer")
        self._render_body()

    @classmethod
    def from_entry(cls, entry: ChatEntry, *, id: str | None = None, show_side: bool = False) -> MessageCard:
        card = cls(entry.author, entry.prompt_text, entry.side, id=id, show_side=show_side)
        card.text = entry.text
        card.finish(entry)
        return card

    def compose(self) -> ComposeResult:
        yield self._handle
        yield self._body
        yield self._footer

    def _handle_content(self, show_side: bool) -> Content:
        handle = f"@{clean_sample_text(self.author)}" if self.author else "(no author)"
        parts: list = [(handle, "bold $accent")]
        if show_side:
            parts += [("  ", ""), (self.side, "dim italic")]
        return Content.assemble(*parts)

    def _render_body(self) -> None:
        parts: list = []
        copied = self.copied_span
        if not self.streaming and (copied is not None or self.surprisal is not None):
            tokens = self.surprisal.tokens if self.surprisal is not None else ()
            parts += styled_runs(self.body_text, len(self.prompt_text), copied=copied, tokens=tokens)
        else:
            if self.prompt_text:
                parts.append((self.prompt_text, "italic $text-muted"))
            parts.append(self.text)
        if self.streaming:
            parts.append(("▌", "$accent"))
        elif not self.text.strip() and self.entry is not None:
            parts.append(("(nothing: the model ended the tweet at once)", "dim italic"))
        self._body.update(Content.assemble(*parts))

    def append(self, text: str) -> None:
        self.text += text
        self.streamed += text
        self._render_body()

    def finish(self, entry: ChatEntry) -> None:
        self.entry = entry
        self.text = entry.text
        self.streaming = False
        self.set_class(entry.stopped, "stopped")
        self.set_class(bool(entry.error), "failed")
        self._render_body()
        self._footer.update(Content(self._footer_line()))

    def wait(self) -> None:
        """The request came before its model: the card shows it now and streams once the model is in."""
        self.waiting = True
        self._footer.update(Content("waiting for the model to load… (Esc cancels)"))

    def begin(self) -> None:
        """The waiting request's stream starts."""
        self.waiting = False
        self._footer.update(Content("streaming… (Esc stops)"))

    def drop(self, why: str) -> None:
        """The waiting request will not be sent (Esc, or a newer request): the card keeps the typed text and says why."""
        self.waiting = self.streaming = False
        self.add_class("stopped")
        self._render_body()
        self._footer.update(Content(why))

    def fail(self, error: str) -> None:
        """The stream broke: keep the text that came, say why under it."""
        self.streaming = False
        self.add_class("failed")
        self._render_body()
        self._footer.update(Content(f"cut by an error: {error}"))

    @property
    def body_text(self) -> str:
        return self.prompt_text + self.text

    @property
    def copied_span(self) -> tuple[int, int] | None:
        """Characters of the body copied from a training tweet (None unless the sample counts as copied)."""
        m = self.match
        if m is None or not m.copied or m.char_start is None or m.char_end is None:
            return None
        return (m.char_start, m.char_end)

    def mark_match(self, match: SpanMatch, text: str) -> None:
        """The memorisation check of ``text``: when it is still this card's text, a copied span is
        underlined and the footer says so."""
        if text != self.body_text:
            return
        self.match = match
        self._render_body()
        if self.entry is not None:
            self._footer.update(Content(self._footer_line()))

    def show_surprisal(self, score: TextScore | None) -> None:
        """Colour the tokens by surprisal (the score of ``body_text``), or None to stop."""
        self.surprisal = score
        self._render_body()

    def show_most_surprising(self, score: TextScore) -> None:
        """Name the sample's least likely token (``engine.surprisal.most_surprising``) in the footer."""
        from tweetsmith.engine.surprisal import most_surprising

        self.most_surprising = most_surprising(score, after_char=len(self.prompt_text))
        if self.entry is not None:
            self._footer.update(Content(self._footer_line()))

    def _footer_line(self) -> str:
        assert self.entry is not None
        line = f"{self.entry.param_line()}  ·  {self.entry.stats_line()}"
        if self.match is not None and self.copied_span is not None:
            line += f"  ·  copied: {self.match.words} words of a training tweet (s shows it)"
        token = self.most_surprising
        if token is not None:
            line += f'  ·  most surprising: "{token.piece.strip() or token.piece}" (p={token.probability:.2g})'
        return line

    @property
    def footer_text(self) -> str:
        content = self._footer.content
        return content.plain if isinstance(content, Content) else str(content)


class ABPair(Horizontal):
    """Two cards side by side: the same prompt to the base and the tuned model (``/ab``)."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id, classes="ab-pair")
