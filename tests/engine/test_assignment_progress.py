"""The pipeline's overall ETA: later stages are estimated from what this run measured, else the ETA is a lower bound."""

from __future__ import annotations

from tweetsmith.engine.assignment import PipelineProgress, _Estimates


def test_later_stages_are_estimated_from_measured_ones():
    eta = _Estimates()
    assert eta.after("prepare") == (1.0, False)  # nothing measured yet: only the report's second is known
    eta.finished("perplexity before", 120.0, cached=False)
    assert eta.after("train") == (120.0 + 1.0, False)  # perplexity after ~ before; compare and sweeps unknown
    eta.finished("compare", 30.0, cached=False)
    assert eta.after("compare") == (3 * 5 * 30.0 + 1.0, True)  # each sweep draws 5x the comparison's samples
    assert eta.after("sweep top_k") == (5 * 30.0 + 1.0, True)


def test_a_cached_stage_teaches_nothing():
    eta = _Estimates()
    eta.finished("compare", 0.1, cached=True)
    assert eta.after("compare") == (1.0, False)


def test_summary_says_when_the_eta_is_a_lower_bound():
    event = PipelineProgress("compare", 5, 9, "tuned samples", 40, 100, "samples", 70.0, 720.0, False)
    assert event.summary() == "tuned samples · 40/100 samples · stage 1m10s · all ≥ 12m00s"
    done = PipelineProgress("report", 9, 9, "", 0, None, "", None, 1.0, True)
    assert done.summary() == "all ≈ 1s"


def test_the_stage_eta_restarts_with_each_part_of_a_stage(monkeypatch):
    """Perplexity scores valid, then test: the test split's ETA comes from its own rate, not from the time
    the stage has spent so far (which would double it)."""
    from tweetsmith.data.prepare import PrepareConfig
    from tweetsmith.engine import assignment
    from tweetsmith.engine.train_config import TrainConfig

    now = [0.0]
    monkeypatch.setattr(assignment.time, "monotonic", lambda: now[0])
    events = []
    pipeline = assignment._Pipeline(assignment.AssignmentConfig("out", PrepareConfig(), TrainConfig()), events.append, None)
    pipeline.stage, pipeline.number, pipeline.began = "perplexity before", 2, 0.0
    pipeline.part_done, pipeline.part_began, pipeline.last_sent = 0, 0.0, 0.0
    for done in range(1, 11):  # valid: 10 windows, 6 s each
        now[0] += 6.0
        pipeline.send("base · valid", done, 10, "windows")
    assert events[-1].stage_eta_s == 0.0
    now[0] += 3.0
    pipeline.send("base · test", 1, 20, "windows")  # test: the first window took 3 s of its own clock
    now[0] += 3.0
    pipeline.send("base · test", 2, 20, "windows")
    assert events[-1].stage_eta_s == 3.0 * 18  # 3 s a window since the part began, not (60 + 6) s / 2 windows
