"""What the app has open, in one typed object the screens read: the loaded models, the run, the data and
its authors, whether a training runs, the cancel events of running work, and the root that every path a
user types must stay under (``tui.root``; none in the terminal app unless ``--root`` is given).

The App owns it and is the only writer, always on the event loop, in the handlers of the messages its
workers post (a worker never assigns it from its thread). Screens and widgets get it when they are built
and read it; to change it they post a ``...Requested`` message (``tui.messages``) that the App handles.
Workers get the values they need as arguments, read on the event loop when the work starts.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .root import Root

if TYPE_CHECKING:
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sides import Side


class CancelEvents:
    """The cancel events of running work (generation, evaluations, sweeps, the training): leaving the
    app sets them all, so no worker thread goes on without a UI. Thread-safe: signal handlers call ``set_all``."""

    def __init__(self) -> None:
        self._events: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        # Reentrant: a signal handler runs in the main thread, possibly while that thread is in track().
        self._lock = threading.RLock()

    def track(self, cancel: threading.Event) -> threading.Event:
        """Register ``cancel`` (kept only as long as its owner keeps it); returns it."""
        with self._lock:
            self._events.add(cancel)
        return cancel

    def set_all(self) -> None:
        with self._lock:
            events = list(self._events)
        for cancel in events:
            cancel.set()


@dataclass(eq=False)
class Workspace:
    """The app's open things. ``side`` is the model the chat uses ("base" or "tuned")."""

    model_spec: str | None = None  # what --model or /model asked for (None: the run's, or the default)
    run_dir: Path | None = None
    data_dir: Path | None = None
    session_path: Path | None = None  # --session: where the chat is saved (None: beside the run or model)
    models: dict[str, LoadedModel] = field(default_factory=dict)
    side: Side = "base"
    authors: list[str] = field(default_factory=list)  # of the training split, most frequent first
    training_running: bool = False
    cancels: CancelEvents = field(default_factory=CancelEvents)
    root: Root = field(default_factory=Root)  # where typed paths may lead (confined in a served app)
    precision: str = "auto"  # --precision: what models load in to chat and score (``engine.precision``)

    @property
    def model(self) -> LoadedModel | None:
        """The model the chat uses now (None while loading)."""
        return self.models.get(self.side)

    @property
    def has_tuned(self) -> bool:
        """A tuned model is loaded, or the run has one to load."""
        from tweetsmith.engine.runs import has_final_model

        return "tuned" in self.models or (self.run_dir is not None and has_final_model(self.run_dir))

    def track(self, cancel: threading.Event) -> threading.Event:
        """Register a cancel event the engine watches, so leaving the app sets it; returns it."""
        return self.cancels.track(cancel)
