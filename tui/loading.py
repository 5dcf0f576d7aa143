"""The App's loading work, run in its thread workers: what the app opens (``engine.start_plan``), a side's
model, the data's authors. It only posts messages (``tui.messages``); the App's handlers replace the
workspace with what they carry.

After a model loads, ``gc.collect(); gc.freeze()`` moves torch's ~500k objects out of the collector's
reach: no more 150-330 ms full collections stalling keys while streaming.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tweetsmith.data.records import authors_by_frequency
from tweetsmith.data.split import SplitDir
from tweetsmith.engine.start_plan import StartPlan, load_side_model, plan_start

from . import messages as msg
from .errors import error_text

if TYPE_CHECKING:
    from textual.message import Message

    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.sides import Side


@dataclass(frozen=True)
class Loader:
    """Loads in the calling (worker) thread and tells the App through ``post``, in ``precision``."""

    post: Callable[[Message], object]
    precision: str

    def start(
        self, spec: str | None, run_dir: Path | None, data_dir: Path | None, runs_root: Path, side: Side, given: bool
    ) -> None:
        """What ``plan_start`` picks (its model unless ``given`` models are in already), then the data's authors."""
        try:
            if given and run_dir is None:  # given a loaded model: no run to look for
                plan = StartPlan(None, None, data_dir, side)
            else:
                plan = plan_start(spec, run_dir, data_dir, runs_root)
        except Exception as err:  # noqa: BLE001 - a bad run dir is shown, not raised
            plan = StartPlan(None, spec, data_dir, "base")
            self.post(msg.ModelLoadFailed(error_text(err)))
        self.post(msg.StartPlanned(plan))
        if not given:
            self.side(plan.side, True, plan.run_dir, plan.model_spec)
        self.data(plan.data_dir)

    def side(self, side: Side, activate: bool, run_dir: Path | None, spec: str | None) -> None:
        """One side's model of ``run_dir`` (else ``spec``'s); ``activate``: the chat is to use it."""
        result = self._timed(side, run_dir, spec)
        if result is not None:
            self.post(msg.ModelLoaded(*result, activate, run_dir))

    def target(self, run_dir: Path | None, spec: str | None, data_dir: Path | None) -> None:
        """``/run RUN`` or ``/model SPEC``: it replaces the models (and the data, with a run's own)."""
        try:
            plan = plan_start(spec, run_dir, None, Path("."))
        except Exception as err:  # noqa: BLE001
            self.post(msg.ModelLoadFailed(error_text(err)))
            return
        result = self._timed(plan.side, plan.run_dir, plan.model_spec)
        if result is None:
            return
        loaded, _, seconds = result
        self.post(msg.TargetOpened(plan, loaded, seconds))
        if plan.data_dir is not None and plan.data_dir != data_dir:
            self.data(plan.data_dir)

    def data(self, data_dir: Path | None) -> None:
        """The data directory (None: the built-in corpus, prepared once) and its authors."""
        from tweetsmith.engine.data_cache import builtin_data_dir

        try:
            if data_dir is None:
                data_dir = builtin_data_dir(self.say_progress)
            self.post(msg.DataReady(Path(data_dir), authors_by_frequency(SplitDir(data_dir).train)))
        except Exception as err:  # noqa: BLE001
            self.post(msg.DataFailed(error_text(err)))

    def say_progress(self, text: str) -> None:
        self.post(msg.ModelLoadProgressed(text))

    def _timed(self, side: Side, run_dir: Path | None, spec: str | None) -> tuple[LoadedModel, Side, float] | None:
        """One side's model and the seconds it took; a failure is posted as ``ModelLoadFailed`` (None returned)."""
        began = time.perf_counter()
        try:
            loaded = load_side_model(side, run_dir, spec, self.say_progress, self.precision)
        except Exception as err:  # noqa: BLE001 - the app stays up and says what to do
            self.post(msg.ModelLoadFailed(error_text(err), side))
            return None
        gc.collect()
        gc.freeze()
        return loaded, side, time.perf_counter() - began
