"""A small corpus gets enough training: ``--min-steps`` raises one epoch's handful of steps, capped at
``MAX_AUTO_EPOCHS`` epochs, and says so; ``--max-steps`` and a large corpus are left alone."""

from __future__ import annotations

import math

import pytest

from tweetsmith.engine.train import TrainConfig, train
from tweetsmith.engine.train_config import MAX_AUTO_EPOCHS, MIN_STEPS, step_budget
from tweetsmith.engine.train_events import TrainingStarted

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    "per_epoch, overrides, steps",
    [
        (200, {}, -1),  # a large corpus: one epoch is enough, the Trainer counts it
        (MIN_STEPS, {}, -1),  # exactly enough
        (20, {}, MIN_STEPS),  # raised to the minimum (2.5 epochs)
        (3, {}, 3 * MAX_AUTO_EPOCHS),  # capped at the most epochs
        (20, {"max_steps": 7}, 7),  # --max-steps wins
        (20, {"min_steps": 0}, -1),  # exactly --epochs
        (20, {"epochs": 3.0}, -1),  # --epochs 3 gives 60 steps: enough
        (10, {"epochs": 1.2, "min_steps": 15}, 15),  # 12 steps from --epochs, raised
    ],
)
def test_step_budget(per_epoch, overrides, steps):
    budget = step_budget(TrainConfig(**overrides), per_epoch)
    assert budget.max_steps == steps
    assert (budget.notice is not None) == (steps > 0 and "max_steps" not in overrides)


def test_a_small_corpus_trains_the_minimum_and_says_why(tiny_llama_dir, small_splits, tmp_path):
    """200 records in blocks of 32 tokens, 8 a step: the run reports its steps and epochs; both follow from the
    examples the data made (counted independently of the budget's arithmetic)."""
    events = []
    config = TrainConfig(
        data=str(small_splits),
        model=str(tiny_llama_dir),
        out=str(tmp_path / "run"),
        lora=True,
        block_size=32,
        batch_size=8,
        eval_every=0,
        save_every=0,
        precision="fp32",
        min_steps=200,
        logging_steps=50,
    )
    finished = train(config, on_event=events.append)
    started = next(e for e in events if isinstance(e, TrainingStarted))
    per_epoch = math.ceil(started.total_steps / started.epochs - 1e-6)  # steps an epoch, as the Trainer counted them
    assert started.total_steps == min(200, MAX_AUTO_EPOCHS * per_epoch) > per_epoch
    assert f"training {started.total_steps} steps" in started.notice and "--min-steps 0" in started.notice
    assert finished.steps == started.total_steps


def test_the_notice_says_when_the_epoch_cap_stopped_short_of_the_minimum():
    capped = step_budget(TrainConfig(min_steps=60), 7).notice
    assert capped == (
        f"a small corpus (7 steps an epoch): training {7 * MAX_AUTO_EPOCHS} steps ({MAX_AUTO_EPOCHS}.0 "
        f"epochs) toward --min-steps 60, at most {MAX_AUTO_EPOCHS} epochs; --min-steps 0 trains exactly --epochs"
    )
    reached = step_budget(TrainConfig(min_steps=60), 20).notice
    assert "training 60 steps (3.0 epochs) to reach --min-steps 60;" in reached
