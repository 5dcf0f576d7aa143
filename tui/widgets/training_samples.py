"""The latest fixed-prompt samples of a training run, beside its loss curve: the same authors and seeds
at every evaluation, so what changes from one to the next is the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from tweetsmith.engine.training_samples import SamplesGenerated


class TrainingSamplesView(Static):
    """Shows an ``engine.training_samples.SamplesGenerated`` event (nothing until the first evaluation)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes, markup=False)
        self.event: SamplesGenerated | None = None

    def on_mount(self) -> None:
        self.display = False

    def show(self, event: SamplesGenerated) -> None:
        self.event = event
        parts: list = [(f"samples at step {event.step}", "bold"), (" (same prompts and seeds each evaluation)", "dim")]
        for sample in event.samples:
            handle = f"@{sample.author}" if sample.author else "(no author)"
            parts += ["\n", (handle, "bold $accent"), (f" seed {sample.seed}: ", "dim"), sample.text or "(empty)"]
        self.update(Content.assemble(*parts))
        self.display = True

    @property
    def plain(self) -> str:
        content = self.content
        return content.plain if isinstance(content, Content) else str(content)
