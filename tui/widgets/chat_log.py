"""The scrolling log of message cards; it follows new text unless the user has scrolled up."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static


class ChatLog(VerticalScroll, can_focus=True):
    """Cards in order. Focusable, so arrows scroll it and the sampling keys act while it has focus."""

    HINT = (
        "Type a username and press Enter to stream a tweet in their voice (Tab completes names);\n"
        "add text after a colon to continue it: paulg: The best startups\n"
        "Esc leaves the input; then t/T k/K p/P n/N change the sampling at once. F1 lists everything."
    )

    def on_mount(self) -> None:
        self.show_hint()

    def show_hint(self) -> None:
        if not self.query(".chat-hint"):
            self.mount(Static(self.HINT, classes="chat-hint", markup=False))

    async def add(self, widget: Widget) -> None:
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        for hint in self.query(".chat-hint"):
            await hint.remove()
        await self.mount(widget)
        if follow:
            self.scroll_end(animate=False, immediate=False)

    def follow(self) -> None:
        """Keep the newest text in view while streaming (only if the user hasn't scrolled up)."""
        if self.max_scroll_y - self.scroll_y <= 3:
            self.scroll_end(animate=False, immediate=False)

    async def clear(self) -> None:
        await self.remove_children()
        self.show_hint()
