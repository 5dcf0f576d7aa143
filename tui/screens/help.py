"""F1: every key and slash command, generated from the bindings and ``COMMAND_SPECS`` (never out of date)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from ..commands import COMMAND_SPECS

FOCUS_RULE = (
    "The sampling keys t/T k/K p/P n/N act when the input line is not focused (usernames start with "
    "those letters). Esc leaves the input (while a sample streams, Esc stops it first); Enter, / or @ "
    "return to it. The sampling panel says whether the keys are on. The card keys c (copy the tweet), "
    "r (the last request again, fresh seed) and m (continue the tweet) act the same way, on the card "
    "with focus (click it) or else the latest."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close help")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Content.assemble(("tweetsmith — keys and commands", "bold")), classes="help-title")
            yield Static(self._keys(), id="help-keys")
            yield Static(Content(FOCUS_RULE), id="help-focus")
            yield Static(self._commands(), id="help-commands")
            yield Static(
                Content(
                    "Input: paulg · @paulg · paulg: text to continue · Up/Down recall earlier lines · Tab completes names"
                ),
                id="help-input",
            )
            yield Static(Content.assemble(("Esc, F1 or q closes this help.", "dim")))

    def _keys(self) -> Content:
        from ..widgets.card_keys import CardKeys
        from .main import MainScreen

        rows: list[tuple[str, str]] = []
        for binding in [*self.app.BINDINGS, *MainScreen.BINDINGS, *CardKeys.BINDINGS]:
            if isinstance(binding, Binding) and binding.description:
                rows.append((binding.key.split(",")[0], binding.description))
        rows += [("ctrl+p", "command palette"), ("tab", "complete the username"), ("up/down", "earlier / later input")]
        parts: list = [("Keys", "bold underline")]
        for key, description in rows:
            parts += ["\n", (f"  {key:<10}", "bold $accent"), description]
        return Content.assemble(*parts)

    def _commands(self) -> Content:
        parts: list = [("Commands", "bold underline")]
        for spec in COMMAND_SPECS:
            parts += ["\n", (f"  {spec.usage:<26}", "bold $accent"), spec.help]
        return Content.assemble(*parts)
