"""Bad input fails with one clear error before the run directory is touched; OOM retries; a full disk."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest

from tweetsmith.data.errors import DataError
from tweetsmith.engine import checkpoints
from tweetsmith.engine.errors import ConfigError, EngineError, ModelError, TrainingError
from tweetsmith.engine.run_record import RunRecord
from tweetsmith.engine.train import TrainConfig, train
from tweetsmith.engine.train_events import TrainingStarted

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(model_dir, data, out, **overrides) -> TrainConfig:
    values = dict(
        data=str(data),
        model=str(model_dir),
        out=str(out),
        max_steps=2,
        batch_size=4,
        block_size=32,
        eval_every=0,
        save_every=1,
        logging_steps=1,
        precision="fp32",
    )
    values.update(overrides)
    return TrainConfig(**values)


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def trained_run(tiny_llama_dir, small_splits, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_llama_dir, small_splits, run))
    return run


BAD_PARAMETERS = [
    (dict(lr=0.0), ConfigError, "--lr must be positive"),
    (dict(lr=-1e-4), ConfigError, "--lr must be positive"),
    (dict(lora=True, lora_r=0), ConfigError, "--lora-r must be a positive rank"),
    (dict(batch_size=0), ConfigError, "--batch-size must be at least 1"),
    (dict(grad_accum=0), ConfigError, "--grad-accum"),
    (dict(max_steps=0, epochs=0.0), ConfigError, "--epochs must be positive"),
    (dict(merge=True), ConfigError, "--merge applies to LoRA"),
    (dict(block_size=100_000), ConfigError, "exceeds .* context of 256 tokens"),
    (dict(lora=True), ConfigError, "trained with method='full'"),
]


def test_bad_parameters_fail_before_touching_the_run(trained_run, tiny_llama_dir, small_splits):
    before = snapshot(trained_run)
    for overrides, error, match in BAD_PARAMETERS:
        with pytest.raises(error, match=match):
            train(tiny_config(tiny_llama_dir, small_splits, trained_run, resume=True, **overrides))
        assert snapshot(trained_run) == before, overrides


@pytest.mark.parametrize(
    "model,fallback,match",
    [("/no/such/model", True, "no such file or directory"), ("gpt2-medium", False, "not in the HF cache")],
)
def test_unloadable_model_is_a_model_error(small_splits, tmp_path, model, fallback, match):
    with pytest.raises(ModelError, match=match):
        train(tiny_config(model, small_splits, tmp_path / "run", allow_fallback=fallback))
    assert not (tmp_path / "run").exists()


def test_data_dir_problems(tiny_llama_dir, small_splits, tmp_path):
    empty_dir = tmp_path / "nodata"
    empty_dir.mkdir()
    with pytest.raises(TrainingError, match="no train.txt"):
        train(tiny_config(tiny_llama_dir, empty_dir, tmp_path / "r1"))
    (empty_dir / "train.txt").write_text("\n\n")
    (empty_dir / "valid.txt").write_text("\\a- hi\n")
    with pytest.raises(TrainingError, match="train.txt is empty"):
        train(tiny_config(tiny_llama_dir, empty_dir, tmp_path / "r2"))
    (empty_dir / "train.txt").write_text("\\a- just a few tokens\n")
    with pytest.raises(TrainingError, match="fewer than one block of 32"):
        train(tiny_config(tiny_llama_dir, empty_dir, tmp_path / "r3"))
    (empty_dir / "train.txt").write_bytes(b"\\a- caf\xe9\n")
    with pytest.raises(DataError, match="not valid UTF-8"):
        train(tiny_config(tiny_llama_dir, empty_dir, tmp_path / "r4"))
    for run in ("r1", "r2", "r3", "r4"):
        assert not (tmp_path / run / "checkpoints").exists() and not (tmp_path / run / "final").exists()


def test_existing_run_is_not_overwritten_without_resume(trained_run, tiny_llama_dir, small_splits):
    before = snapshot(trained_run)
    with pytest.raises(TrainingError, match="already holds a trained run"):
        train(tiny_config(tiny_llama_dir, small_splits, trained_run))
    assert snapshot(trained_run) == before


def test_full_disk_is_a_training_error_and_keeps_the_last_checkpoint(
    tiny_llama_dir, small_splits, tmp_path, monkeypatch
):
    from tweetsmith.engine.train_loop import TweetTrainer

    real = TweetTrainer._save_optimizer_and_scheduler
    calls = []

    def failing(self, output_dir):
        calls.append(output_dir)
        if len(calls) == 2:  # the second checkpoint hits a full disk halfway through
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, output_dir)

    monkeypatch.setattr(TweetTrainer, "_save_optimizer_and_scheduler", failing)
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="disk .* is full"):
        train(tiny_config(tiny_llama_dir, small_splits, run, max_steps=3))
    assert [c.step for c in checkpoints.list_checkpoints(run / "checkpoints")] == [1]
    assert not (run / "checkpoints" / checkpoints.STAGING).exists()
    monkeypatch.undo()
    finished = train(tiny_config(tiny_llama_dir, small_splits, run, max_steps=3, resume=True))
    assert finished.steps == 3


class OutOfMemoryInSteps:
    """Makes the tiny Llama run out of "GPU memory" inside real training steps: its forward raises
    ``torch.cuda.OutOfMemoryError`` (as CUDA's allocator does) on the first ``times`` forward passes made
    from ``Trainer.training_step``, and every training forward's micro-batch rows are recorded."""

    def __init__(self, monkeypatch, times: int):
        import torch
        from transformers import LlamaForCausalLM

        from tweetsmith.engine.train_loop import TweetTrainer

        self.times, self.raised, self.rows, self.in_step = times, 0, [], False
        real_forward, real_step = LlamaForCausalLM.forward, TweetTrainer.training_step

        def forward(model, *args, **kwargs):
            if self.in_step and model.training:
                ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
                self.rows.append(int(ids.shape[0]))
                if self.raised < self.times:
                    self.raised += 1
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real_forward(model, *args, **kwargs)

        def training_step(trainer, *args, **kwargs):
            self.in_step = True
            try:
                return real_step(trainer, *args, **kwargs)
            finally:
                self.in_step = False

        monkeypatch.setattr(LlamaForCausalLM, "forward", forward)
        monkeypatch.setattr(TweetTrainer, "training_step", training_step)


def test_out_of_memory_in_a_step_retries_with_half_the_micro_batch_and_the_same_effective_batch(
    tiny_llama_dir, small_splits, tmp_path, monkeypatch
):
    oom = OutOfMemoryInSteps(monkeypatch, times=1)
    events = []
    run = tmp_path / "run"
    finished = train(
        tiny_config(tiny_llama_dir, small_splits, run, batch_size=4, max_steps=3, save_every=0), on_event=events.append
    )
    assert oom.raised == 1 and finished.outcome == "completed" and finished.steps == 3
    # The failed micro-batch had 4 rows; then every micro-batch has 2, two of them per optimizer step:
    # 4 rows a step before and after, so the run optimizes what was asked.
    assert oom.rows == [4] + [2] * (3 * 2), oom.rows
    started = [e for e in events if isinstance(e, TrainingStarted)][-1]
    assert (started.batch_size, started.grad_accum) == (2, 2) and "out of GPU memory" in started.notice
    record = RunRecord.read(run)
    assert (record.batch_size, record.grad_accum) == (2, 2)
    assert (run / "final" / "model.safetensors").is_file()


def test_out_of_memory_at_batch_one_says_what_to_change(tiny_llama_dir, small_splits, tmp_path, monkeypatch):
    oom = OutOfMemoryInSteps(monkeypatch, times=10**9)
    with pytest.raises(TrainingError, match="--gradient-checkpointing"):
        train(tiny_config(tiny_llama_dir, small_splits, tmp_path / "run", batch_size=1))
    assert oom.rows == [1]  # one try at batch 1, in a real step, then the advice
    assert not (tmp_path / "run" / "final").exists()


def test_errors_are_engine_or_data_errors():
    assert issubclass(TrainingError, EngineError) and issubclass(ConfigError, EngineError)
