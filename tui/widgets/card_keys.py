"""What the chat's card keys make of a request and a card, as elia and oterm users expect them: ``r`` sends
the last request again with a fresh seed, ``m`` continues a card's text, ``c`` copies a card's tweet.

The card they act on is the focused one (click it, or Tab to it from the chat), else the latest finished
one. ``CardKeys`` (a base of the chat log) binds the keys; the chat log's screen starts the requests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.widget import Widget

from tweetsmith.engine.sampling import fresh_seed

from .. import messages as msg
from ..commands import Prompt
from .message_card import MessageCard

if TYPE_CHECKING:
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.sides import Side


@dataclass(frozen=True)
class ChatRequest:
    """One request as the chat log ran it: the prompt, the sides it went to, the sampling with its seed."""

    prompt: Prompt
    sides: tuple[Side, ...]
    config: SamplingConfig

    def again(self) -> ChatRequest:
        """The same prompt, sides and sampling with a fresh seed, never the one it had (``r`` is for a new
        tweet, also while ``/seed N`` pins the seed of typed requests)."""
        seed = fresh_seed()
        while seed == self.config.seed:
            seed = fresh_seed()
        return replace(self, config=self.config.with_changes(seed=seed))


def continuing(card: MessageCard) -> Prompt:
    """The request that continues ``card``: its author, and its whole text (typed part and sample) as the prompt."""
    return Prompt(card.author, card.body_text)


def target_card(chat: Widget) -> MessageCard | None:
    """The finished card the keys act on: the focused one, else the latest in ``chat``."""
    focused = chat.screen.focused
    if isinstance(focused, MessageCard) and focused.entry is not None:
        return focused
    finished = [card for card in chat.query(MessageCard) if card.entry is not None]
    return finished[-1] if finished else None


class CardKeys(Widget):
    """The card keys, a base of ``ChatLog``: they act while the chat log or one of its cards has focus,
    which is when the input line does not (Esc leaves it), as the sampling keys do."""

    BINDINGS = [
        Binding("c", "copy_card", "copy"),
        Binding("r", "regenerate", "regenerate"),
        Binding("m", "continue_card", "continue"),
    ]

    last_request: ChatRequest | None = None  # set by the chat log for every request it runs

    def action_copy_card(self) -> None:
        card = target_card(self)
        if card is None:
            self.notify("no finished tweet to copy yet", severity="warning")
            return
        self.app.copy_to_clipboard(card.body_text)  # OSC 52: the terminal's clipboard, through ssh too
        self.notify(f"copied @{card.author}'s tweet ({len(card.body_text)} characters)", timeout=3)

    def action_regenerate(self) -> None:
        if self.last_request is None:
            self.notify("nothing to regenerate yet: send a request first", severity="warning")
            return
        again = self.last_request.again()
        self.post_message(msg.GenerationRequested(again.prompt, list(again.sides), again.config))

    def action_continue_card(self) -> None:
        card = target_card(self)
        if card is None:
            self.notify("no finished tweet to continue yet", severity="warning")
            return
        self.post_message(msg.GenerationRequested(continuing(card), [card.side]))
