"""Messages of the app, named for what happened; every field typed with the engine's own classes.

Workers run model code in threads and never touch widgets or the workspace: they post one of these to
the widget that owns the work, whose ``on_<name>`` handler assigns what it shows (and the message then
bubbles up, so the screen or the App can do their part). Every worker that can fail has a
``...Failed`` message carrying the one line ``tui.errors.error_text`` made of the error.

Three directions:
- worker -> its widget (then bubbling up): generation, metrics, insight, sweep.
- worker -> App: loading and training. These don't bubble (``bubble=False``): the App replaces the
  workspace, which it publishes (``tui.workspace``); screens learn of it from that signal, not from these.
  The training's events also go to the training screen, which draws each of them.
- screen -> App: ``...Requested``, for what only the App may change (models, run, training).

Progress messages that supersede each other allow replacement (``can_replace``), so a slow UI never
works through a backlog of stale ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from tweetsmith.engine.assignment import AssignmentResult
    from tweetsmith.engine.assignment_progress import PipelineProgress
    from tweetsmith.engine.bootstrap import HumanBand, Intervals
    from tweetsmith.engine.diversity import DiversityResult, Reference
    from tweetsmith.engine.memorisation import SpanMatch
    from tweetsmith.engine.models import LoadedModel
    from tweetsmith.engine.perplexity_table import PerplexityTable
    from tweetsmith.engine.progress import Progress
    from tweetsmith.engine.results import SweepResult
    from tweetsmith.engine.sample_record import Sample
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.engine.sides import Side
    from tweetsmith.engine.start_plan import StartPlan
    from tweetsmith.engine.surprisal import Disagreement, TextScore
    from tweetsmith.engine.train_config import TrainConfig
    from tweetsmith.engine.train_events import StepHeartbeat, TrainEvent, TrainingFinished
    from tweetsmith.engine.voice_results import ClassifierFit, VoiceFigures

    from .commands import Prompt


# --- models and data: worker -> App (which publishes the workspace) ---------------------------------


@dataclass
class ModelLoadProgressed(Message):
    text: str


@dataclass
class StartPlanned(Message, bubble=False):
    """What the app opens on (``engine.start_plan.plan_start``), decided in the loading worker."""

    plan: StartPlan


@dataclass
class ModelLoaded(Message, bubble=False):
    """A model is ready; ``side`` is "base" or "tuned"; ``activate`` makes it the one the chat uses.
    ``seconds`` is 0 for a model that was already loaded; ``run_dir`` is the run it was loaded for (None:
    none), so a model that arrives after ``/run`` opened another run is not taken for that run's."""

    loaded: LoadedModel
    side: Side
    seconds: float
    activate: bool
    run_dir: Path | None


@dataclass
class ModelLoadFailed(Message):
    error: str
    side: Side = "base"


@dataclass
class TargetOpened(Message, bubble=False):
    """``/run RUN`` or ``/model SPEC`` loaded ``loaded``: it replaces the models, the run and (the run's) data."""

    plan: StartPlan
    loaded: LoadedModel
    seconds: float


@dataclass
class DataReady(Message, bubble=False):
    data_dir: Path
    authors: list[str]


@dataclass
class DataFailed(Message):
    error: str


# --- requests: a screen asks the App ---------------------------------------------------------------


@dataclass
class ChatScreenMounted(Message):
    """The chat screen is up: the App starts loading what it opens on."""


@dataclass
class SideRequested(Message):
    """Use (``activate``) or just load the ``side`` model: ctrl+b, /base, /tuned, 'Use tuned', /ab."""

    side: Side
    activate: bool = True


@dataclass
class TargetRequested(Message):
    """``/run RUN`` (``run_dir``) or ``/model SPEC`` (``spec``)."""

    run_dir: Path | None
    spec: str | None


@dataclass
class TrainingRequested(Message):
    config: TrainConfig


@dataclass
class TrainingStopRequested(Message):
    """Stop the running training at its next micro-batch (it keeps a checkpoint)."""


# --- the App asks the chat screen --------------------------------------------------------------------


@dataclass
class PerplexityRequested(Message, bubble=False):
    """ctrl+e (``records`` None: the full valid and test splits), or after a training the quick estimate
    on the first ``records`` valid records."""

    records: int | None = None


@dataclass
class CommandChosen(Message, bubble=False):
    """A slash command picked in the command palette, run as if typed."""

    line: str


# --- generation: the chat log's worker -> the chat log -> the screen ----------------------------------


@dataclass
class SampleStarted(Message):
    card_id: str
    author: str
    prompt_text: str
    side: Side
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
    sample: Sample
    side: Side


@dataclass
class SampleFailed(Message):
    """The stream broke; ``partial`` is what had arrived, which the card keeps."""

    card_id: str
    error: str
    partial: str
    author: str
    prompt_text: str
    side: Side
    config: SamplingConfig  # what the sample was asked with, its seed included


@dataclass
class GenerationRequested(Message):
    """The chat log asks its screen for a request: ``r`` (the last request again: ``config`` holds its
    sampling with a fresh seed) or ``m`` (continue a card: ``config`` None, the screen's settings)."""

    prompt: Prompt
    sides: list[Side]
    config: SamplingConfig | None = None


@dataclass
class SessionShown(Message):
    """The chat log shows a session it opened (``samples`` entries: 0 for a new one)."""

    samples: int


@dataclass
class GenerationEnded(Message):
    """All samples of one request are done (or stopped). ``cancel`` identifies the request."""

    stopped: bool
    cancel: threading.Event


# --- evaluation and metrics: a panel's worker -> the panel ---------------------------------------------


@dataclass
class PerplexityProgressed(Message):
    label: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PerplexityProgressed)


@dataclass
class PerplexityComputed(Message):
    """The panel's table of ``run_dir`` (None: the loaded models on the data); ``tuned`` is the run's tuned
    model when the quick estimate loaded it (the App keeps it, so ctrl+b and /ab are then instant)."""

    table: PerplexityTable
    run_dir: Path | None
    tuned: LoadedModel | None = None


@dataclass
class PerplexityFailed(Message):
    error: str


@dataclass
class DiversityComputed(Message):
    """The session's diversity (``overall``) and the current author's; ``reference`` is the test split's
    vocabulary the overlap was measured against (the panel keeps it for the next time)."""

    overall: DiversityResult | None
    author: str
    per_author: DiversityResult | None
    reference: Reference | None = None


@dataclass
class DiversityFailed(Message):
    error: str


@dataclass
class VoiceComputed(Message):
    """The voice of the session's samples of ``side`` (``engine.voice``), with the author classifier's fit
    (None with one author: ``note`` says why attribution is absent) and the author shown in a column."""

    figures: VoiceFigures
    fit: ClassifierFit | None
    note: str
    author: str
    side: Side


@dataclass
class VoiceFailed(Message):
    error: str


@dataclass
class IntervalsComputed(Message):
    """Bootstrap intervals of the session's samples and the human band for as many, for ``samples`` samples."""

    samples: int
    intervals: Intervals | None
    band: HumanBand | None


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
    result: SweepResult


@dataclass
class SweepFailed(Message):
    error: str


# --- the assignment pipeline: the assignment screen's worker -> that screen ---------------------------


@dataclass
class AssignmentProgressed(Message):
    event: PipelineProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, AssignmentProgressed)


@dataclass
class AssignmentFinished(Message):
    result: AssignmentResult


@dataclass
class AssignmentFailed(Message):
    error: str
    stopped: bool = False  # cancelled by the user: the same command resumes


# --- training: the App's worker -> App -> the training screen ------------------------------------------


@dataclass
class TrainingEventArrived(Message, bubble=False):
    """An engine event every one of which is shown (TrainingStarted, StepLogged, Evaluated, CheckpointSaved)."""

    event: TrainEvent


@dataclass
class TrainingProgressed(Message, bubble=False):
    """Where the training is now: a stage's progress or a heartbeat inside a step. Only the newest matters,
    so a pending one is replaced by the next (a slow UI never works through a backlog of them)."""

    event: Progress | StepHeartbeat

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainingProgressed)


@dataclass
class TrainingEnded(Message, bubble=False):
    finished: TrainingFinished


@dataclass
class TrainingFailed(Message, bubble=False):
    error: str


# --- memorisation and surprisal: the chat log's workers -> the chat log -----------------------------------


@dataclass
class SampleMatched(Message):
    """A card's text was checked against the training split."""

    card_id: str
    text: str
    match: SpanMatch


@dataclass
class SurprisalScored(Message):
    """Cards' texts scored under ``side``: card_id -> (the text scored, its score)."""

    side: Side
    scores: dict[str, tuple[str, TextScore]]


@dataclass
class TextScored(Message):
    """``/score TEXT``: the text's score per side, the tokens that changed most, the sides not loaded."""

    author: str
    text: str
    scores: dict[str, TextScore]
    disagreements: list[Disagreement]
    missing: list[str]


@dataclass
class InsightFailed(Message):
    """Memorisation, surprisal or intervals could not be computed; one line saying why."""

    what: str
    error: str
