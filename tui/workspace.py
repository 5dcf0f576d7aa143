"""What the app has open, as one frozen value the App publishes: the loaded models by side, the side the chat
uses, the run, the model spec, the data and its authors, the chat's session file, whether a training runs.

The App owns it and is its only writer: on the event loop, in the handlers of the messages its workers post,
it replaces the whole value (``dataclasses.replace``) and publishes the new one through one signal,
``workspace_changed`` (elia's runtime config and its signal). A screen or widget that shows it subscribes
in ``on_mount`` and reads ``owner.workspace``, the App's current value, whenever it acts, never a copy it
kept. To change it, they post a ``...Requested`` message (``tui.messages``) that the App handles. Workers
get the values they need as arguments, read on the event loop when the work starts.

What is shared but is not state stays beside it on the App (``WorkspaceOwner``): the cancel events of
running work (``CancelEvents``, a registry every worker's event joins), the root typed paths must stay under
(``tui.root``) and the precision models load in, both fixed when the app starts.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from textual.signal import Signal

    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sides import Side

    from .root import Root


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


@dataclass(frozen=True, eq=False)
class Workspace:
    """The app's open things, one value at a time. ``side`` is the model the chat uses ("base" or "tuned")."""

    model_spec: str | None = None  # what --model or /model asked for (None: the run's, or the default)
    run_dir: Path | None = None
    data_dir: Path | None = None
    session_path: Path | None = None  # the chat's session file: --session, else beside the run or model
    models: Mapping[Side, LoadedModel] = field(default_factory=dict)  # a new mapping for every change
    side: Side = "base"
    authors: tuple[str, ...] = ()  # of the training split, most frequent first
    training_running: bool = False

    @property
    def model(self) -> LoadedModel | None:
        """The model the chat uses now (None while loading)."""
        return self.models.get(self.side)

    @property
    def has_tuned(self) -> bool:
        """A tuned model is loaded, or the run has one to load."""
        from tweetsmith.engine.runs import has_final_model

        return "tuned" in self.models or (self.run_dir is not None and has_final_model(self.run_dir))


class WorkspaceOwner(Protocol):
    """What screens and widgets read of the App, which they never import: the App is given to them as this."""

    @property
    def workspace(self) -> Workspace:
        """The current workspace (the App replaces it; read it when acting, never keep it)."""
        ...

    @property
    def workspace_changed(self) -> Signal[Workspace]:
        """Published with each new workspace: ``subscribe(node, callback)`` in ``on_mount``."""
        ...

    @property
    def cancels(self) -> CancelEvents: ...

    @property
    def root(self) -> Root: ...

    @property
    def precision(self) -> str:
        """What models load in to chat and score (``engine.precision``; ``--precision``)."""
        ...
