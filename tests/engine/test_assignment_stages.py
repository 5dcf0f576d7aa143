"""The assignment's stages are declared once (``STAGE_TABLE``): their order, parts, staleness and estimates are
derived from it, and a new stage is one row and the method it names."""

from __future__ import annotations

import dataclasses

from tweetsmith.engine.assignment_stages import (
    AFTER_TRAINING,
    STAGE_TABLE,
    STAGES,
    Stage,
    after_training,
    stage_named,
    stages_of,
)

SWEEP_STAGES = ("sweep temperature", "sweep top_k", "sweep top_p")


def test_everything_about_the_stages_comes_from_the_table():
    assert (
        STAGES
        == stages_of(False)
        == ("prepare", "perplexity before", "train", "perplexity after", "compare", *SWEEP_STAGES, "report")
    )
    assert stages_of(True) == (
        "prepare",
        "perplexity before",
        "train",
        "perplexity after",
        "compare",
        *SWEEP_STAGES,
        "ablation",
        "report",
    )
    assert AFTER_TRAINING == ("perplexity after", "compare", *SWEEP_STAGES, "report")
    # valid and test, each windowed and per record; base and tuned; base and tuned at each of five values
    assert {s.name: s.parts for s in STAGE_TABLE} == {
        "prepare": 1,
        "perplexity before": 4,
        "train": 1,
        "perplexity after": 4,
        "compare": 2,
        "sweep temperature": 10,
        "sweep top_k": 10,
        "sweep top_p": 10,
        "ablation": 1,
        "report": 1,
    }
    assert [(s.method, s.argument) for s in STAGE_TABLE if s.name.startswith("sweep")] == [
        ("sweep", "temperature"),
        ("sweep", "top_k"),
        ("sweep", "top_p"),
    ]


def test_each_stage_names_a_method_of_the_pipeline():
    from tweetsmith.engine.assignment import _Pipeline

    assert all(callable(getattr(_Pipeline, s.method, None)) for s in STAGE_TABLE)


def _with_a_poem_stage() -> tuple[Stage, ...]:
    """The table with one more row: a stage after the sweeps, in three parts, made stale by retraining,
    known to take 7 s."""
    poem = Stage("poem", "poem", argument="haiku", parts=3, after_training=True, known_s=7.0)
    return (*STAGE_TABLE[:-2], poem, *STAGE_TABLE[-2:])


def test_a_new_row_is_all_a_new_stage_takes(monkeypatch):
    """With the row and its method, the pipeline runs the stage in its place, counts its parts, forgets it on
    retraining and adds its estimate to the ETA: nothing else about stages is written anywhere."""
    from tweetsmith.data.prepare import PrepareConfig
    from tweetsmith.engine import assignment
    from tweetsmith.engine.train_config import TrainConfig

    table = _with_a_poem_stage()
    assert stages_of(False, table) == (*STAGES[:-1], "poem", "report")
    assert stages_of(True, table) == (*STAGES[:-1], "poem", "ablation", "report")
    assert after_training(table) == (*AFTER_TRAINING[:-1], "poem", "report")

    class WithPoem(assignment._Pipeline):
        table = _with_a_poem_stage()

        def poem(self, form: str):
            return f"form={form}", False

    events = []
    pipeline = WithPoem(assignment.AssignmentConfig("out", PrepareConfig(), TrainConfig()), events.append, None)
    assert pipeline.stages == (*STAGES[:-1], "poem", "report")
    assert pipeline.run_stage(stage_named("poem", table)) == ("form=haiku", False)
    assert pipeline.eta.after("sweep top_p") == (7.0 + 1.0, True)  # the poem's 7 s and the report's 1 s
    now = [0.0]
    monkeypatch.setattr(assignment.time, "monotonic", lambda: now[0])
    pipeline.progress.begin("poem", 9, 0.0)
    now[0] = 10.0
    pipeline.progress.send("line 1", 5, 10, "words")  # half the first of three parts in 10 s
    assert events[-1].stage_eta_s == 10.0 + 2 * 20.0 and events[-1].stages == 10


def test_a_stage_row_is_frozen():
    stage = stage_named("compare")
    assert dataclasses.is_dataclass(stage) and stage.__dataclass_params__.frozen
    assert (stage.after_training, stage.ablation_only, stage.known_s, stage.like) == (True, False, None, None)
    assert stage_named("perplexity after").like == "perplexity before"
    assert (stage_named("sweep top_k").like, stage_named("sweep top_k").times) == ("compare", 5.0)
