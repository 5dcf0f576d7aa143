"""`tweetsmith train`'s progress: plain lines at most every N seconds in a log, every stage shown."""

from __future__ import annotations

import io

from tweetsmith.engine.progress import Progress
from tweetsmith.engine.train_events import Evaluated, StepHeartbeat, StepLogged, TrainingFinished, TrainingStarted
from tweetsmith.scripts.train_progress import TrainProgress, format_duration


def started(**overrides) -> TrainingStarted:
    values = dict(
        total_steps=138,
        epochs=1.0,
        train_tokens=282_000,
        block_size=256,
        batch_size=8,
        grad_accum=1,
        memory_estimate_bytes=6 * 2**30,
        device="cpu",
        dtype="float32",
        method="lora",
        trainable_parameters=4_884_480,
        total_parameters=139_000_000,
        resumed_from_step=0,
        model_description="smollm2-135m + LoRA r16",
        notice="8.0 GiB needed but 6.0 GiB available: training with --batch-size 4 --grad-accum 2 instead",
    )
    values.update(overrides)
    return TrainingStarted(**values)


def test_plain_output_in_a_log_file_is_throttled_and_shows_every_stage():
    stream = io.StringIO()
    progress = TrainProgress(stream=stream, plain_every_s=0.0)
    assert not progress.live  # a StringIO is not a terminal
    progress(Progress("loading model", 0, None))
    progress(started())
    progress(StepHeartbeat(step=0, total_steps=138, fraction=0.42, micro_batch=1, grad_accum=1, eta_s=1500.0))
    progress(
        StepLogged(
            step=10, total_steps=138, epoch=0.07, loss=3.1234, lr=3e-4, tokens_per_s=160.4, eta_s=1200.0, mfu=None
        )
    )
    progress(StepHeartbeat(step=10, total_steps=138, fraction=0.5, micro_batch=1, grad_accum=1, eta_s=1190.0))
    progress(Progress("evaluating valid", 120, 180, "windows"))
    progress(Evaluated(step=138, valid_perplexity=32.51))
    progress.finish(TrainingFinished("completed", 138, 1700.0, 32.51, "runs/x/final", "runs/x"))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "loading model"
    assert lines[1].startswith("8.0 GiB needed") and "--batch-size 4 --grad-accum 2" in lines[1]
    assert lines[2].startswith("training smollm2-135m + LoRA r16 (lora): 138 steps")
    assert "train 0.4/138 step 1/138 ETA 25m00s" in lines
    assert "train 10.5/138 step 11/138 loss 3.123 · 160 tok/s · ETA 19m50s" in lines
    assert "evaluating valid 120.0/180 120/180 windows" in lines
    assert "step 138: valid perplexity 32.51" in lines
    assert lines[-1] == "done: 138 steps in 28m20s; valid perplexity 32.51; LoRA adapter in runs/x/final"


def test_plain_output_skips_lines_within_the_interval():
    stream = io.StringIO()
    progress = TrainProgress(stream=stream, plain_every_s=3600.0)
    progress(started(notice=None))
    for i in range(50):
        progress(StepHeartbeat(step=0, total_steps=138, fraction=i / 50, micro_batch=1, grad_accum=1, eta_s=None))
    # the plan line and the first bar line (forced), then nothing for an hour
    assert len(stream.getvalue().splitlines()) == 2


def test_format_duration():
    assert [format_duration(s) for s in (None, 5, 65, 3725)] == ["?", "5s", "1m05s", "1h02m"]


def test_progress_line_in_a_log_prints_a_plain_line_every_interval(monkeypatch, capsys):
    """Evaluation and sampling progress in a log file: plain lines at the training's interval, no carriage returns."""
    from tweetsmith.scripts import common, train_progress

    monkeypatch.setattr(train_progress, "PLAIN_EVERY_S", 3600.0)
    quiet = common.ProgressLine("eval test.txt", total=4)
    quiet.update(1)
    quiet.update(2)
    assert capsys.readouterr().err == ""  # within the interval: nothing yet

    monkeypatch.setattr(train_progress, "PLAIN_EVERY_S", 0.0)
    line = common.ProgressLine("eval test.txt", total=4)
    line.update(1)
    line.update(3, "windows")
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines() == [
        "eval test.txt [#######.......................]  25%",
        "eval test.txt [######################........]  75% windows",
    ]
