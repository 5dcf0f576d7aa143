"""The input line: ``paulg: The best startups`` or ``/temp 0.8``, with username completion and history.

Up/Down recall earlier lines (when the completion list is closed). Tab completes the username from
the authors in the data; the list only opens while the username is being typed (before any colon),
and never for an empty line, so Up/Down on an empty line always mean history.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input
from textual_autocomplete import AutoComplete, DropdownItem, TargetState


class PromptInput(Input):
    """An Input with a history of submitted lines."""

    BINDINGS = [
        Binding("up", "history(-1)", "Earlier prompt", show=False),
        Binding("down", "history(1)", "Later prompt", show=False),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._index = 0  # len(history) means "the line being typed"
        self._draft = ""

    def remember(self, line: str) -> None:
        line = line.strip()
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._index = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._index == len(self.history):
            self._draft = self.value
        self._index = min(max(self._index + step, 0), len(self.history))
        self.value = self._draft if self._index == len(self.history) else self.history[self._index]
        self.cursor_position = len(self.value)


class AuthorAutoComplete(AutoComplete):
    """Completes the username at the start of the line from the data's authors."""

    def __init__(self, target: Input, authors: list[str] | None = None, **kwargs):
        super().__init__(target, candidates=self._candidates, **kwargs)
        self.authors: list[str] = list(authors or [])

    def _candidates(self, state: TargetState) -> list[DropdownItem]:
        return [DropdownItem(main=a, prefix="@") for a in self.authors]

    def get_search_string(self, target_state: TargetState) -> str:
        typed = target_state.text[: target_state.cursor_position]
        if not typed or typed.startswith("/") or ":" in typed or " " in typed:
            return ""
        return typed.lstrip("@")

    def get_matches(
        self, target_state: TargetState, candidates: list[DropdownItem], search_string: str
    ) -> list[DropdownItem]:
        if not search_string:
            return []  # closed on an empty line: Up/Down stay history keys
        return super().get_matches(target_state, candidates, search_string)

    def match(self, query: str, candidate: str) -> tuple[float, tuple[int, ...]]:
        """Prefix matches first (exact best), then the fuzzy matches."""
        q, c = query.lower(), candidate.lower()
        if c == q:
            return 3.0, tuple(range(len(q)))
        if c.startswith(q):
            return 2.0 + len(q) / max(len(c), 1), tuple(range(len(q)))
        return super().match(query, candidate)

    def should_show_dropdown(self, search_string: str) -> bool:
        options = self.option_list
        if options.option_count == 1 and options.get_option_at_index(0).prompt is not None:
            item = options.get_option_at_index(0)
            if getattr(item, "value", None) == search_string:
                return False
        return super().should_show_dropdown(search_string)

    def apply_completion(self, value: str, state: TargetState) -> None:
        """Replace only the username part, keeping any ``: text`` after it."""
        target = self.target
        rest = state.text[state.cursor_position :]
        target.value = value + rest
        target.cursor_position = len(value)
        new_state = self._get_target_state()
        self._rebuild_options(new_state, self.get_search_string(new_state))
