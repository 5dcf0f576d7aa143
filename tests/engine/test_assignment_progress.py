"""The pipeline's overall ETA: later stages are estimated from what this run measured, else the ETA is a lower bound."""

from __future__ import annotations

from tweetsmith.engine.assignment_progress import PipelineProgress, StageEstimates


def test_later_stages_are_estimated_from_measured_ones():
    eta = StageEstimates()
    assert eta.after("prepare") == (1.0, False)  # nothing measured yet: only the report's second is known
    eta.finished("perplexity before", 120.0, cached=False)
    assert eta.after("train") == (120.0 + 1.0, False)  # perplexity after ~ before; compare and sweeps unknown
    eta.finished("compare", 30.0, cached=False)
    assert eta.after("compare") == (3 * 5 * 30.0 + 1.0, True)  # each sweep draws 5x the comparison's samples
    assert eta.after("sweep top_k") == (5 * 30.0 + 1.0, True)


def test_a_cached_stage_teaches_nothing():
    eta = StageEstimates()
    eta.finished("compare", 0.1, cached=True)
    assert eta.after("compare") == (1.0, False)


def test_summary_says_when_the_eta_is_a_lower_bound():
    event = PipelineProgress("compare", 5, 9, "tuned samples", 40, 100, "samples", 70.0, 720.0, False)
    assert event.summary() == "tuned samples · 40/100 samples · stage 1m10s · all ≥ 12m00s"
    done = PipelineProgress("report", 9, 9, "", 0, None, "", None, 1.0, True)
    assert done.summary() == "all ≈ 1s"


def _pipeline(monkeypatch, stage: str, ablation_steps: int = 0, on_notice=None, **train):
    """A pipeline placed at the start of ``stage``, its clock stubbed: returns (pipeline, clock, events)."""
    from tweetsmith.data.prepare import PrepareConfig
    from tweetsmith.engine import assignment
    from tweetsmith.engine.train_config import TrainConfig

    now = [0.0]
    monkeypatch.setattr(assignment.time, "monotonic", lambda: now[0])
    events = []
    config = assignment.AssignmentConfig("out", PrepareConfig(), TrainConfig(**train), ablation_steps=ablation_steps)
    pipeline = assignment._Pipeline(config, events.append, None, on_notice)
    pipeline.progress.begin(stage, 2, 0.0)
    return pipeline, now, events


def test_the_stage_eta_restarts_with_each_part_of_a_stage(monkeypatch):
    """Perplexity scores four parts (valid and test, each windowed and per record): while the first runs, the
    stage's ETA adds three more at its pace; a later part's ETA comes from its own rate, not from the time
    the stage has spent so far (which would double it)."""
    pipeline, now, events = _pipeline(monkeypatch, "perplexity before")
    for done in range(1, 11):  # valid, windowed: 10 windows, 6 s each
        now[0] += 6.0
        pipeline.progress.send("base · valid", done, 10, "windows")
        if done == 5:
            assert events[-1].stage_eta_s == 5 * 6.0 + 3 * 10 * 6.0  # its other half, then three parts as long
            assert events[-1].eta_complete is False  # nothing measured for the stages after this one
    assert events[-1].stage_eta_s == 3 * 10 * 6.0
    now[0] += 3.0
    pipeline.progress.send("base · valid · per record", 1, 20, "batches")  # the first batch took 3 s of its own clock
    now[0] += 3.0
    pipeline.progress.send("base · valid · per record", 2, 20, "batches")
    # 3 s a batch since the part began (not (60 + 6) s / 2), for its 18 batches and two more parts like it
    assert events[-1].stage_eta_s == 3.0 * 18 + 2 * 3.0 * 20


def test_a_sweep_counts_its_ten_parts(monkeypatch):
    """A sweep draws base then tuned at each of its five values: ten parts of the same size."""
    pipeline, now, events = _pipeline(monkeypatch, "sweep top_k")
    for part in range(3):
        for done in (50, 100):
            now[0] += 10.0
            pipeline.progress.send(f"part {part}", done, 100, "samples")
    assert events[-1].stage_eta_s == 7 * 20.0  # three parts done at 20 s each, seven to come


def test_the_ablation_is_estimated_from_this_runs_step_and_scoring_times():
    from tweetsmith.engine.ablation import ABLATION_EVAL_TOKENS
    from tweetsmith.engine.assignment import stages_of

    eta = StageEstimates(stages_of(True), ablation_work=(80, 6))
    eta.finished("compare", 30.0, cached=False)
    assert eta.after("compare") == (3 * 5 * 30.0 + 1.0, False)  # the ablation has no estimate yet
    eta.trained(130, 130 * 18.0)
    eta.scored(100_000, 1_000.0)
    ablation = 80 * 18.0 + 6 * 2 * ABLATION_EVAL_TOKENS * 0.01  # each row scored twice: windowed and per record
    assert eta.after("compare") == (3 * 5 * 30.0 + ablation + 1.0, True)
    assert eta.after("sweep top_p") == (ablation + 1.0, True)
    assert eta.ablation(20, 2) == 20 * 18.0 + 2 * 2 * ABLATION_EVAL_TOKENS * 0.01


def test_the_ablation_trains_every_variant_but_the_main_run(monkeypatch):
    """Six rows (baseline, concat packing, no packing, full or LoRA, lr x0.5, lr x2) and the untuned model are
    scored; the baseline is trained only when the main run is not it."""
    from tweetsmith.engine.ablation import variants
    from tweetsmith.engine.assignment_ablation import ablation_work
    from tweetsmith.engine.train_config import TrainConfig

    other = TrainConfig(max_steps=130)
    assert ablation_work(other, 20) == (6 * 20, 6 + 1)
    main = variants(other, 20)[0].config  # the baseline's own settings as the main run's
    assert ablation_work(main, 20) == (5 * 20, 6 + 1)
    assert ablation_work(other, 0) == (0, 0)


def test_the_ablation_stage_adds_its_parts_to_come(monkeypatch):
    """While a variant trains, the stage's ETA is its own plus what the pipeline says the rest will take."""
    pipeline, now, events = _pipeline(monkeypatch, "ablation", ablation_steps=20)
    pipeline.progress.send("no-pack · step 5/20", 5, 20, "steps", 150.0)
    assert (events[-1].stage_eta_s, events[-1].eta_complete) == (150.0, False)  # the rest is not known yet
    pipeline.progress.ablation_rest_s = 900.0
    pipeline.progress.send("no-pack · step 6/20", 6, 20, "steps", 140.0)
    assert (events[-1].stage_eta_s, events[-1].overall_eta_s, events[-1].eta_complete) == (1040.0, 1041.0, True)


def test_each_notice_reaches_the_user_once(monkeypatch):
    """The base model's fallback notice is said when perplexity loads it; training's notice repeats it
    joined to its own ("; "), and only the new part is said again."""
    from tweetsmith.engine.train_events import TrainingStarted

    said = []
    pipeline, _, _ = _pipeline(monkeypatch, "train", on_notice=said.append)
    fallback = (
        "gpt2-medium is not cached and HF_HUB_OFFLINE is set: using the embedded offline model smollm2-135m instead"
    )
    plan = "batch 8 does not fit in memory: batch 4 x 2 accumulation"
    pipeline.progress.say(fallback)

    def started(notice):
        return TrainingStarted(
            total_steps=10,
            epochs=1.0,
            train_tokens=100,
            block_size=32,
            batch_size=4,
            grad_accum=2,
            memory_estimate_bytes=1,
            device="cpu",
            dtype="float32",
            method="lora",
            trainable_parameters=1,
            total_parameters=2,
            resumed_from_step=0,
            model_description="m",
            notice=notice,
        )

    pipeline.training_event(started(f"{fallback}; {plan}"))
    pipeline.training_event(started(fallback))  # a resumed training: nothing new
    pipeline.training_event(started(None))
    assert said == [fallback, plan]
