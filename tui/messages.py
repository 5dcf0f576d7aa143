"""Messages the app's workers post back to the UI, named for what happened.

Workers run model code in threads and never touch widgets: they post one of these, and the screen
reacts in ``on_<name>``. Every worker that can fail has a ``...Failed`` message carrying a one-line
error that says what to do. Progress messages that supersede each other allow replacement
(``can_replace``), so a slow UI never works through a backlog of stale ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.train_events import StageProgress, StepHeartbeat, TrainEvent, TrainingFinished

    from .evaluation import PerplexityTable


# --- models ---------------------------------------------------------------------------------------


@dataclass
class ModelLoadProgressed(Message):
    text: str


@dataclass
class ModelLoaded(Message):
    """A model is ready; ``side`` is "base" or "tuned"; ``activate`` makes it the one the chat uses."""

    loaded: Any  # engine.models.LoadedModel
    side: str
    seconds: float
    activate: bool = True


@dataclass
class ModelLoadFailed(Message):
    error: str
    side: str = "base"


@dataclass
class DataReady(Message):
    data_dir: Any  # Path
    authors: list[str]


@dataclass
class DataFailed(Message):
    error: str


# --- generation -----------------------------------------------------------------------------------


@dataclass
class SampleStarted(Message):
    card_id: str
    author: str
    prompt_text: str
    side: str
    column: int = 0  # 0, or 0/1 for the two sides of an /ab pair
    pair_id: str | None = None


@dataclass
class TokensArrived(Message):
    """Text pieces since the last flush (~50 ms of them), not one message per token."""

    card_id: str
    text: str


@dataclass
class SampleFinished(Message):
    card_id: str
    sample: Any  # engine.generate.Sample
    side: str


@dataclass
class SampleFailed(Message):
    """The stream broke; ``partial`` is what had arrived, which the card keeps."""

    card_id: str
    error: str
    partial: str
    author: str
    prompt_text: str
    side: str
    config: SamplingConfig  # what the sample was asked with, its seed included


@dataclass
class GenerationEnded(Message):
    """All samples of one request are done (or stopped). ``cancel`` identifies the request."""

    stopped: bool
    cancel: Any = None  # the request's threading.Event


# --- evaluation and metrics -----------------------------------------------------------------------


@dataclass
class PerplexityProgressed(Message):
    label: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PerplexityProgressed)


@dataclass
class PerplexityComputed(Message):
    table: PerplexityTable
    cached: bool = False


@dataclass
class PerplexityFailed(Message):
    error: str


@dataclass
class DiversityComputed(Message):
    overall: Any  # engine.diversity.DiversityResult | None
    author: str
    per_author: Any  # DiversityResult | None


@dataclass
class DiversityFailed(Message):
    error: str


@dataclass
class SweepProgressed(Message):
    done: int
    total: int
    label: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SweepProgressed)


@dataclass
class SweepFinished(Message):
    field: str
    result: dict  # the engine's sweep shape: {"param", "values", "n", "curves": {side: [metrics per value]}}


@dataclass
class SweepFailed(Message):
    error: str


# --- training -------------------------------------------------------------------------------------


@dataclass
class TrainingEventArrived(Message):
    """An engine event every one of which is shown (TrainingStarted, StepLogged, Evaluated, CheckpointSaved)."""

    event: TrainEvent


@dataclass
class TrainingProgressed(Message):
    """Where the training is now: a stage's progress or a heartbeat inside a step. Only the newest matters,
    so a pending one is replaced by the next (a slow UI never works through a backlog of them)."""

    event: StageProgress | StepHeartbeat

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainingProgressed)


@dataclass
class TrainingEnded(Message):
    finished: TrainingFinished


@dataclass
class TrainingFailed(Message):
    error: str


# --- memorisation and surprisal -------------------------------------------------------------------


@dataclass
class SampleMatched(Message):
    """A card's text was checked against the training split (``match``: engine.memorisation.SpanMatch)."""

    card_id: str
    text: str
    match: Any


@dataclass
class SurprisalScored(Message):
    """Cards' texts scored under ``side``: card_id -> (the text scored, engine.surprisal.TextScore)."""

    side: str
    scores: dict


@dataclass
class TextScored(Message):
    """``/score TEXT``: the text's TextScore per side, the tokens that changed most, the sides not loaded."""

    author: str
    text: str
    scores: dict
    disagreements: list
    missing: list


@dataclass
class IntervalsComputed(Message):
    """Bootstrap intervals of the session's samples and the human band for as many, for ``samples`` samples."""

    samples: int
    intervals: Any  # engine.bootstrap.Intervals | None
    band: Any  # engine.bootstrap.HumanBand | None


@dataclass
class InsightFailed(Message):
    """Memorisation, surprisal or intervals could not be computed; one line saying why."""

    what: str
    error: str
