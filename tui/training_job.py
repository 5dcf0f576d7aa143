"""The thread side of a training started from the app: prepare its data if it is a file
(``engine.data_cache``), train, and say how it ended; and the message each engine event travels in to the UI.

Progress that the next event supersedes (a stage's progress, the heartbeats inside a step) goes as a
replaceable message, so a busy UI never works through a backlog of them; every other engine event as
one message each. No Textual widget is touched here.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import messages as msg
from .errors import error_text

if TYPE_CHECKING:
    from tweetsmith.engine.train_config import TrainConfig
    from tweetsmith.engine.train_events import TrainEvent


def run_training(
    config: TrainConfig,
    cancel: threading.Event,
    on_event: Callable[[TrainEvent], None],
    progress: Callable[[str], None],
) -> msg.TrainingEnded | msg.TrainingFailed:
    """Train ``config`` until it ends or ``cancel`` is set, passing each engine event to ``on_event`` (and
    data preparation notes to ``progress``); returns how it ended, for the caller to post once it has
    marked the training thread idle."""
    from tweetsmith.engine.data_cache import prepared_config
    from tweetsmith.engine.train import train

    try:
        config = prepared_config(config, cancel, progress)
        finished = train(config, on_event=on_event, cancel=cancel)
    except Exception as err:  # noqa: BLE001 - shown on the training screen, the app goes on
        return msg.TrainingFailed(error_text(err))
    gc.collect()
    return msg.TrainingEnded(finished)


def message_for(event: TrainEvent) -> msg.TrainingProgressed | msg.TrainingEventArrived:
    """The message an engine event travels in: replaceable for progress, one each for the rest."""
    from tweetsmith.engine.progress import Progress
    from tweetsmith.engine.train_events import StepHeartbeat

    if isinstance(event, (Progress, StepHeartbeat)):
        return msg.TrainingProgressed(event)
    return msg.TrainingEventArrived(event)
