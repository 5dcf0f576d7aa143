"""A run killed after its last step's checkpoint (during the final evaluation or save) resumes without
training past ``--max-steps``: the Trainer, resumed at global_step == max_steps, took one more step."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tweetsmith.engine.train import TrainConfig, train
from tweetsmith.engine.train_events import StepLogged, TrainingStarted

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def losses(run: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {m["step"]: m["loss"] for m in lines if "loss" in m}


def test_resume_from_the_last_steps_checkpoint_trains_nothing_more(tiny_llama_dir, startup_tweets, tmp_path):
    from safetensors.torch import load_file

    data = startup_tweets(tmp_path / "data", {"train": 120, "valid": 12, "test": 12}, ("paulg", "sama"))
    run = tmp_path / "run"
    config = TrainConfig(
        data=str(data),
        model=str(tiny_llama_dir),
        out=str(run),
        lora=True,
        lora_r=4,
        max_steps=3,
        batch_size=2,
        block_size=32,
        eval_every=0,
        save_every=1,
        logging_steps=1,
        precision="fp32",
        lr=1e-3,
    )
    first = train(config)
    assert first.outcome == "completed" and sorted(losses(run)) == [1, 2, 3]
    want = load_file(str(run / "final" / "adapter_model.safetensors"))
    assert (run / "checkpoints" / "checkpoint-3").is_dir()
    shutil.rmtree(run / "final")  # killed while saving the final model: only the checkpoint of step 3 is there

    events = []
    again = train(TrainConfig(**{**config.__dict__, "resume": True}), on_event=events.append)
    assert next(e for e in events if isinstance(e, TrainingStarted)).resumed_from_step == 3
    assert not [e for e in events if isinstance(e, StepLogged)]  # no step was trained
    assert (again.outcome, again.steps) == ("completed", 3)
    assert sorted(losses(run)) == [1, 2, 3]
    got = load_file(str(run / "final" / "adapter_model.safetensors"))
    assert got.keys() == want.keys() and all(bool((got[k] == want[k]).all()) for k in want)
