"""Stopping inside an optimizer step, heartbeats between steps, and the memory plan (with a faked budget)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tweetsmith.engine import checkpoints, step_watch
from tweetsmith.engine.errors import TrainingError
from tweetsmith.engine.progress import Progress
from tweetsmith.engine.run_record import RunRecord
from tweetsmith.engine.train import TrainConfig, train
from tweetsmith.engine.train_events import StepHeartbeat, StepLogged, TrainingStarted
from tweetsmith.engine.train_plan import HEADROOM, MemoryProfile, candidates, plan_training

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def tweets(tmp_path, startup_tweets) -> Path:
    """Tweet-like records of two authors, written by the test."""
    return startup_tweets(tmp_path / "data", {"train": 240, "valid": 30, "test": 30}, ("paulg", "sama"))


def config(model_dir, data, out, **overrides) -> TrainConfig:
    values = dict(
        data=str(data),
        model=str(model_dir),
        out=str(out),
        lora=True,
        lora_r=4,
        max_steps=5,
        batch_size=2,
        grad_accum=2,
        block_size=32,
        eval_every=0,
        save_every=0,
        logging_steps=1,
        precision="fp32",
        lr=1e-3,
    )
    values.update(overrides)
    return TrainConfig(**values)


def losses(run: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {m["step"]: m["loss"] for m in lines if "loss" in m}


def adapter_tensors(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "final" / "adapter_model.safetensors"))


def test_stop_inside_a_step_keeps_the_last_completed_step_and_resumes_exactly(
    tiny_llama_dir, tweets, tmp_path, monkeypatch
):
    import torch

    monkeypatch.setattr(step_watch, "HEARTBEAT_S", 0.0)  # a heartbeat at every layer, so the test can stop mid-step
    straight = tmp_path / "straight"
    train(config(tiny_llama_dir, tweets, straight))

    stopped_run = tmp_path / "stopped"
    cancel = threading.Event()
    seen = []

    def on_event(event):
        seen.append(event)
        # Stop in the backward pass of the second micro-batch of step 3 (two steps are complete), with one
        # more layer to go, so the stop is found inside the step.
        if (
            isinstance(event, StepHeartbeat)
            and event.step == 2
            and event.micro_batch == 2
            and 0.6 < event.fraction < 0.7
        ):
            cancel.set()

    finished = train(config(tiny_llama_dir, tweets, stopped_run), on_event=on_event, cancel=cancel)
    assert cancel.is_set() and finished.outcome == "stopped" and finished.steps == 2
    # The stop came from inside step 3: it was never logged, and the checkpoint is of step 2.
    assert max(losses(stopped_run)) == 2
    assert checkpoints.newest(stopped_run / "checkpoints").step == 2

    resumed = train(config(tiny_llama_dir, tweets, stopped_run, resume=True))
    assert resumed.outcome == "completed" and resumed.steps == 5
    assert losses(stopped_run) == pytest.approx(losses(straight), rel=1e-5)
    want, got = adapter_tensors(straight), adapter_tensors(stopped_run)
    assert want.keys() == got.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6)


def test_heartbeats_arrive_between_steps_with_progress_and_eta(tiny_llama_dir, tweets, tmp_path, monkeypatch):
    monkeypatch.setattr(step_watch, "HEARTBEAT_S", 0.0)
    events = []
    train(config(tiny_llama_dir, tweets, tmp_path / "run", max_steps=3, eval_every=3), on_event=events.append)

    kinds = [type(e) for e in events]
    first_log = kinds.index(StepLogged)
    beats = [e for e in events if isinstance(e, StepHeartbeat)]
    # Heartbeats come before the first step is logged, within each step, and move forward inside a step.
    assert any(isinstance(e, StepHeartbeat) for e in events[:first_log])
    for step in (0, 1, 2):
        fractions = [b.fraction for b in beats if b.step == step]
        assert len(fractions) >= 4 and fractions == sorted(fractions) and 0 <= fractions[0] < 0.5 < fractions[-1] < 1
        assert {b.micro_batch for b in beats if b.step == step} == {1, 2}
    assert all(b.total_steps == 3 and b.grad_accum == 2 for b in beats)
    assert all(b.eta_s is not None and b.eta_s >= 0 for b in beats if b.step >= 1)
    stages = [e.stage for e in events if isinstance(e, Progress)]
    assert stages[:1] == ["loading model"] and "encoding train" in stages and "evaluating valid" in stages
    evaluating = [e for e in events if isinstance(e, Progress) and e.stage == "evaluating valid"]
    assert evaluating[-1].done == evaluating[-1].total > 0


def profile(example_mib: float, *, fixed_mib: float = 500, block: int = 256) -> MemoryProfile:
    mib = 2**20
    return MemoryProfile(
        fixed_bytes=int(fixed_mib * mib),
        state_bytes=0,
        example_bytes=int(example_mib * mib),
        checkpointed_example_bytes=int(example_mib * mib / 8),
        transient_example_bytes=0,
        block_size=block,
    )


def test_plan_keeps_the_request_when_it_fits():
    plan = plan_training(
        batch_size=8,
        grad_accum=1,
        block_size=256,
        gradient_checkpointing=False,
        profile_for=lambda block: profile(100, block=block),
        available=8 * 2**30,
        device="cpu",
    )
    assert (plan.batch_size, plan.grad_accum, plan.block_size, plan.gradient_checkpointing) == (8, 1, 256, False)
    assert plan.change is None


def test_plan_halves_the_micro_batch_first_with_the_same_effective_batch():
    # A budget where 4 examples of 1000 MiB fit and 8 do not.
    fits_four = int(profile(1000).estimate(4, False) / HEADROOM) + 2**20
    assert profile(1000).estimate(8, False) > HEADROOM * fits_four
    plan = plan_training(
        batch_size=8,
        grad_accum=1,
        block_size=256,
        gradient_checkpointing=False,
        profile_for=lambda block: profile(1000, block=block),
        available=fits_four,
        device="cpu",
    )
    assert (plan.batch_size, plan.grad_accum, plan.gradient_checkpointing) == (4, 2, False)
    assert plan.tokens_per_step == 8 * 256
    assert "--batch-size 4 --grad-accum 2" in plan.change and "same tokens per step" in plan.change


def test_plan_turns_on_checkpointing_then_shortens_the_block():
    # Even one example of 6000 MiB does not fit; with checkpointing (750 MiB each) four do.
    budget = int(profile(6000).estimate(4, True) / HEADROOM) + 2**20
    assert profile(6000).estimate(1, False) > HEADROOM * budget
    plan = plan_training(
        batch_size=4,
        grad_accum=1,
        block_size=1024,
        gradient_checkpointing=False,
        profile_for=lambda block: profile(6000 * block / 1024, block=block),
        available=budget,
        device="cpu",
    )
    assert plan.gradient_checkpointing and plan.block_size == 1024 and (plan.batch_size, plan.grad_accum) == (4, 1)
    assert "--gradient-checkpointing" in plan.change

    # A fixed cost near the budget leaves only a short block.
    plan = plan_training(
        batch_size=8,
        grad_accum=1,
        block_size=1024,
        gradient_checkpointing=False,
        profile_for=lambda block: profile(16000 * block / 1024, block=block),
        available=2**30,
        device="cpu",
    )
    assert plan.block_size < 1024 and plan.tokens_per_step == 8 * 1024 and "--block-size" in plan.change


def test_plan_refuses_with_the_flags_when_nothing_fits():
    with pytest.raises(TrainingError, match="--lora or --quantize 4bit"):
        plan_training(
            batch_size=8,
            grad_accum=1,
            block_size=256,
            gradient_checkpointing=False,
            profile_for=lambda block: profile(100, fixed_mib=4000, block=block),
            available=2**30,
            device="cpu",
        )


def test_candidates_keep_tokens_per_step():
    for batch, accum, block, _ckpt in candidates(8, 2, 512, False):
        assert batch * accum * block == 8 * 2 * 512


def test_a_small_budget_changes_the_real_run_and_says_why(tiny_llama_dir, tweets, tmp_path, monkeypatch):
    """The plan meets a real training run: with a faked budget just above the process's own size, the
    run trains with a smaller micro-batch and more accumulation, and TrainingStarted says so."""
    from tweetsmith.engine import train_plan, train_run

    real_plan = train_plan.plan_training

    def squeezed(**kwargs):
        profile_for = kwargs["profile_for"]
        need_one = profile_for(kwargs["block_size"]).estimate(1, False)
        need_all = profile_for(kwargs["block_size"]).estimate(kwargs["batch_size"], False)
        kwargs["available"] = int((need_one + need_all) / 2 / train_plan.HEADROOM)
        return real_plan(**kwargs)

    monkeypatch.setattr(train_run, "plan_training", squeezed)
    events = []
    finished = train(
        config(tiny_llama_dir, tweets, tmp_path / "run", batch_size=8, grad_accum=1, max_steps=2),
        on_event=events.append,
    )
    started = next(e for e in events if isinstance(e, TrainingStarted))
    assert finished.outcome == "completed"
    assert started.batch_size < 8 and started.batch_size * started.grad_accum >= 8
    assert "same tokens per step" in started.notice
    record = RunRecord.read(tmp_path / "run")
    assert record.batch_size == started.batch_size and record.grad_accum == started.grad_accum
