"""Training end to end on tiny models: run directory, events, final model, resume, cancellation, QLoRA, merge."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from tweetsmith.engine import checkpoints
from tweetsmith.engine.models import load_run_model
from tweetsmith.engine.perplexity import perplexity_of_lines
from tweetsmith.engine.run_record import RunRecord
from tweetsmith.engine.train import TrainConfig, train
from tweetsmith.engine.train_events import CheckpointSaved, Evaluated, StepLogged, TrainingFinished, TrainingStarted

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(model_dir: Path, data: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(
        data=str(data),
        model=str(model_dir),
        out=str(out),
        max_steps=4,
        batch_size=4,
        block_size=32,
        eval_every=2,
        save_every=2,
        logging_steps=1,
        precision="fp32",
        lr=1e-3,
    )
    values.update(overrides)
    return TrainConfig(**values)


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def valid_lines(data: Path) -> list[str]:
    return (data / "valid.txt").read_text(encoding="utf-8").splitlines()


def test_lora_gpt2_run_dir_events_and_final_adapter(tiny_gpt2_dir, small_splits, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    events = []
    run = tmp_path / "run"
    finished = train(tiny_config(tiny_gpt2_dir, small_splits, run, lora=True, lora_r=4), on_event=events.append)

    started = [e for e in events if isinstance(e, TrainingStarted)]  # progress of loading may come first
    assert len(started) == 1 and started[0].method == "lora" and started[0].total_steps == 4
    assert started[0].trainable_parameters < started[0].total_parameters
    assert [e.step for e in events if isinstance(e, StepLogged)] == [1, 2, 3, 4]
    assert [e.step for e in events if isinstance(e, Evaluated)] == [2, 4]
    assert isinstance(finished, TrainingFinished) and finished.outcome == "completed" and finished.steps == 4

    record = RunRecord.read(run)
    assert record.model == str(tiny_gpt2_dir) and record.requested_model == str(tiny_gpt2_dir)
    assert record.method == "lora" and record.quantize is None and record.data == str(small_splits)
    assert record.target_modules == ("c_attn", "c_fc", "c_proj") and record.block_size == 32

    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    assert all({"loss", "lr", "tokens_per_s"} <= m.keys() for m in metrics)
    assert [m["step"] for m in metrics if "valid_perplexity" in m] == [2, 4]
    assert metrics[-1]["valid_perplexity"] == pytest.approx(finished.valid_perplexity)

    # final/ is a plain adapter: the standard loaders reproduce the evaluated perplexity.
    adapter_config = json.loads((run / "final" / "adapter_config.json").read_text())
    assert adapter_config["fan_in_fan_out"] is True
    base = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, run / "final")
    tokenizer = AutoTokenizer.from_pretrained(run / "final")
    loaded = load_run_model(run)
    ppl = perplexity_of_lines(
        model,
        tokenizer,
        valid_lines(small_splits),
        eot_id=loaded.eot_id,
        pad_id=loaded.pad_id,
        max_len_tokens=256,
        stride_tokens=256,
    )
    assert ppl.perplexity == pytest.approx(finished.valid_perplexity, rel=1e-4)

    # keep-checkpoints 2 + best: steps 2 and 4 remain, both complete
    assert [c.step for c in checkpoints.list_checkpoints(run / "checkpoints")] == [2, 4]
    assert not (run / "checkpoints" / checkpoints.STAGING).exists()


def test_full_llama_training_lowers_loss_and_saves_full_model(tiny_llama_dir, small_splits, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    run = tmp_path / "run"
    events = []
    finished = train(
        tiny_config(tiny_llama_dir, small_splits, run, max_steps=12, eval_every=12, save_every=0, lr=3e-3),
        on_event=events.append,
    )
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    assert losses[-1] < losses[0] - 0.5  # 12 steps at lr 3e-3 move a random 2-layer model off ln(vocab)
    assert RunRecord.read(run).method == "full"
    model = AutoModelForCausalLM.from_pretrained(run / "final", dtype=torch.float32)
    assert model.config.use_cache is True  # training turns the cache off; the saved model has it back
    loaded = load_run_model(run)
    ppl = perplexity_of_lines(
        loaded.model,
        loaded.tokenizer,
        valid_lines(small_splits),
        eot_id=loaded.eot_id,
        pad_id=loaded.pad_id,
        stride_tokens=256,
    )
    assert ppl.perplexity == pytest.approx(finished.valid_perplexity, rel=1e-4)
    assert ppl.perplexity < math.exp(losses[0])


def _losses_by_step(run: Path) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in read_metrics(run) if "loss" in m}


def test_resume_after_stop_matches_uninterrupted_run(tiny_gpt2_dir, small_splits, tmp_path):
    """Stopped mid-step (between micro-batches) at step 3, resumed to 7: same losses as one run of 7 steps.

    GPT-2 and LoRA both have dropout, so this also checks that the RNG state is restored."""
    common = dict(lora=True, lora_r=4, max_steps=7, grad_accum=2, batch_size=2, eval_every=0, save_every=0)
    straight = tmp_path / "straight"
    train(tiny_config(tiny_gpt2_dir, small_splits, straight, **common))

    run = tmp_path / "stopped"
    cancel = threading.Event()

    def stop_after_step_3(event):
        if isinstance(event, StepLogged) and event.step == 3:
            cancel.set()  # seen after the next micro-batch, in the middle of step 4

    events = []
    first = train(
        tiny_config(tiny_gpt2_dir, small_splits, run, **common),
        on_event=lambda e: (events.append(e), stop_after_step_3(e)),
        cancel=cancel,
    )
    assert first.outcome == "stopped" and first.steps == 3
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert [e.step for e in saved] == [3]
    assert (run / "final" / "adapter_config.json").is_file()

    resumed_events = []
    second = train(tiny_config(tiny_gpt2_dir, small_splits, run, resume=True, **common), on_event=resumed_events.append)
    assert second.outcome == "completed" and second.steps == 7
    assert next(e for e in resumed_events if isinstance(e, TrainingStarted)).resumed_from_step == 3

    expected, got = _losses_by_step(straight), _losses_by_step(run)
    assert sorted(got) == list(range(1, 8))  # metrics.jsonl appended on resume, one line per step
    for step in range(1, 8):
        assert got[step] == pytest.approx(expected[step], rel=1e-5, abs=1e-6), step


def test_resume_skips_incomplete_checkpoint_and_refuses_mismatch(tiny_llama_dir, small_splits, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(tiny_llama_dir, small_splits, run, max_steps=2, eval_every=0, save_every=2))
    # a checkpoint dir without the marker, as a kill during a non-atomic write would leave
    broken = run / "checkpoints" / "checkpoint-9"
    broken.mkdir()
    (broken / "trainer_state.json").write_text("{}")
    assert checkpoints.newest(run / "checkpoints").step == 2
    with open(run / "metrics.jsonl", "a") as f:  # logged after the checkpoint, then killed: will be logged again
        f.write(json.dumps({"step": 3, "loss": 99.0, "lr": 0.0, "tokens_per_s": 1.0}) + "\n")

    from tweetsmith.engine.errors import ConfigError, TrainingError

    with pytest.raises(TrainingError, match="--resume"):
        train(tiny_config(tiny_llama_dir, small_splits, run, max_steps=3))
    with pytest.raises(ConfigError, match="method"):
        train(tiny_config(tiny_llama_dir, small_splits, run, max_steps=3, resume=True, lora=True))
    finished = train(tiny_config(tiny_llama_dir, small_splits, run, max_steps=3, eval_every=0, resume=True))
    assert finished.steps == 3 and [m["step"] for m in read_metrics(run)] == [1, 2, 3]
    assert read_metrics(run)[-1]["loss"] != 99.0


def test_qlora_4bit_trains_its_adapter_on_cpu_lowers_the_loss_and_reloads(tiny_llama_dir, small_splits, tmp_path):
    """QLoRA on CPU: the adapter moved off its initial weights, and the tuned model fits the training data
    better than the 4-bit base it was trained on (perplexity of the train split, computed here)."""
    from safetensors.torch import load_file

    run = tmp_path / "run"
    events = []
    finished = train(
        tiny_config(
            tiny_llama_dir,
            small_splits,
            run,
            lora=True,
            quantize="4bit",
            lora_dropout=0.0,
            max_steps=6,
            lr=1e-2,
            eval_every=0,
            save_every=0,
        ),
        on_event=events.append,
    )
    started = next(e for e in events if isinstance(e, TrainingStarted))
    assert started.method == "qlora" and "CPU" in started.notice
    assert finished.outcome == "completed" and finished.steps == 6
    losses = [e.loss for e in events if isinstance(e, StepLogged)]
    assert len(losses) == 6 and losses[-1] < losses[0], losses

    # peft starts every lora_B at zero (so the adapter starts as a no-op): trained, each one has moved.
    weights = load_file(run / "final" / "adapter_model.safetensors")
    lora_b = {name: w for name, w in weights.items() if "lora_B" in name}
    assert lora_b and all(float(w.abs().max()) > 0 for w in lora_b.values()), sorted(lora_b)

    tuned = load_run_model(run)
    assert tuned.info.dtype == "4bit" and tuned.info.adapter is not None
    base = load_run_model(run, tuned=False, quantize="4bit")
    train_lines = (small_splits / "train.txt").read_text(encoding="utf-8").splitlines()

    def train_perplexity(loaded) -> float:
        return perplexity_of_lines(
            loaded.model, loaded.tokenizer, train_lines, eot_id=loaded.eot_id, pad_id=loaded.pad_id, stride_tokens=256
        ).perplexity

    assert train_perplexity(tuned) < 0.95 * train_perplexity(base)  # 0.89 measured (seeded: the same every run)


def test_merge_writes_a_full_model_with_the_adapters_logits(tiny_llama_dir, small_splits, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    lora_run, merged_run = tmp_path / "lora", tmp_path / "merged"
    common = dict(lora=True, lora_r=4, lora_dropout=0.0, max_steps=3, eval_every=0, save_every=0)
    train(tiny_config(tiny_llama_dir, small_splits, lora_run, **common))
    train(tiny_config(tiny_llama_dir, small_splits, merged_run, merge=True, **common))
    assert not (merged_run / "final" / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_run / "final", dtype=torch.float32)
    adapted = load_run_model(lora_run).model
    ids = torch.tensor([[5, 17, 300, 2000, 9]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)


def test_cancel_before_the_first_step_saves_nothing(tiny_llama_dir, small_splits, tmp_path):
    cancel = threading.Event()
    cancel.set()
    finished = train(tiny_config(tiny_llama_dir, small_splits, tmp_path / "run"), cancel=cancel)
    assert finished.outcome == "stopped" and finished.steps == 0 and finished.result_dir == ""
    assert not (tmp_path / "run" / "final").exists()


@pytest.mark.embedded
@pytest.mark.slow
def test_lora_on_the_embedded_model_lowers_valid_perplexity(embedded_dir, small_splits, tmp_path):
    """A few LoRA steps on 200 tweets: the valid perplexity (50 tweets) falls below the base model's."""
    from tweetsmith.engine.models import load_model

    base = load_model("smollm2-135m")
    before = perplexity_of_lines(
        base.model, base.tokenizer, valid_lines(small_splits), eot_id=base.eot_id, pad_id=base.pad_id
    ).perplexity
    del base
    run = tmp_path / "run"
    finished = train(
        TrainConfig(
            data=str(small_splits),
            model="smollm2-135m",
            out=str(run),
            lora=True,
            lora_r=8,
            max_steps=8,
            batch_size=4,
            block_size=128,
            eval_every=8,
            save_every=0,
            logging_steps=1,
        )
    )
    assert finished.outcome == "completed"
    assert finished.valid_perplexity < before * 0.97, (before, finished.valid_perplexity)


@pytest.mark.parametrize("lora", [False, True])
def test_gradient_checkpointing_gives_the_same_losses(tiny_llama_dir, small_splits, tmp_path, lora):
    common = dict(lora=lora, lora_r=4, lora_dropout=0.0, max_steps=2, eval_every=0, save_every=0)
    plain, checkpointed = tmp_path / "plain", tmp_path / "gc"
    train(tiny_config(tiny_llama_dir, small_splits, plain, **common))
    train(tiny_config(tiny_llama_dir, small_splits, checkpointed, gradient_checkpointing=True, **common))
    plain_metrics, checkpointed_metrics = read_metrics(plain), read_metrics(checkpointed)
    assert [m["step"] for m in plain_metrics] == [m["step"] for m in checkpointed_metrics] == [1, 2]
    assert all("loss" in m for m in plain_metrics + checkpointed_metrics)
    for a, b in zip(plain_metrics, checkpointed_metrics):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
