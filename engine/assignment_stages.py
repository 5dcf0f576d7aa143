"""The assignment's stages, declared once: ``STAGE_TABLE``, from which everything else about them is derived.

Each ``Stage`` says what the pipeline (``engine.assignment``) and its ETA (``engine.assignment_progress``)
need to know: its name, the pipeline method that runs it, how many parts its progress goes through, whether
retraining the main run makes it stale, whether it runs only with ``--ablation``, and how long it should
take before it has run. Adding a stage is one row here and the method it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from .experiments import DEFAULT_SWEEP_VALUES

SWEEPS = ("temperature", "top_k", "top_p")


@dataclass(frozen=True)
class Stage:
    name: str
    method: str  # the pipeline's method that runs it: returns (its key, whether it was cached)
    argument: str | None = None  # passed to ``method`` (a sweep's parameter)
    # Parts its progress goes through (its count restarts with each): the stage's ETA adds the parts still to
    # come at the running part's pace
    parts: int = 1
    after_training: bool = False  # computed from the main run: forgotten, so computed again, when it retrains
    ablation_only: bool = False  # runs only with ``--ablation``
    # How long it should take before it has run: ``known_s`` seconds, else ``times`` x what stage ``like`` took
    # in this invocation (neither: no estimate until it runs; the ablation's comes from its own work)
    known_s: float | None = None
    like: str | None = None
    times: float = 1.0


STAGE_TABLE: tuple[Stage, ...] = (
    Stage("prepare", "prepare", known_s=0.0),
    # valid and test, each windowed and per record
    Stage("perplexity before", "perplexity_before", parts=4),
    Stage("train", "train"),
    # the tuned model on the same splits (the base's figures are cached)
    Stage("perplexity after", "perplexity_after", parts=4, after_training=True, like="perplexity before"),
    Stage("compare", "compare", parts=2, after_training=True),  # base, then tuned
    # base and tuned at each value; each draws 5x the comparison's samples
    *(
        Stage(
            f"sweep {p}",
            "sweep",
            argument=p,
            parts=2 * len(DEFAULT_SWEEP_VALUES[p]),
            after_training=True,
            like="compare",
            times=5.0,
        )
        for p in SWEEPS
    ),
    Stage("ablation", "ablation", ablation_only=True),  # its short runs are keyed by their own settings
    Stage("report", "report", after_training=True, known_s=1.0),
)


def stages_of(ablation: bool, table: tuple[Stage, ...] = STAGE_TABLE) -> tuple[str, ...]:
    """The stages a run goes through, in order: ``--ablation`` adds its short runs (before the report)."""
    return tuple(s.name for s in table if ablation or not s.ablation_only)


def after_training(table: tuple[Stage, ...] = STAGE_TABLE) -> tuple[str, ...]:
    """The stages a retrained main run makes stale (their record entries are forgotten)."""
    return tuple(s.name for s in table if s.after_training)


def stage_named(name: str, table: tuple[Stage, ...] = STAGE_TABLE) -> Stage:
    return next(s for s in table if s.name == name)


STAGES = stages_of(False)
AFTER_TRAINING = after_training()
