"""The assignment's own model family, proven: full fine-tuning of a tiny random GPT-2 (Conv1D layers), LoRA
targets by architecture read back from the saved adapter, and SDPA attention asked for by name."""

from __future__ import annotations

import json
import math

import pytest

from tweetsmith.engine.models import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_models_load_with_sdpa_attention(kind, tiny_llama_dir, tiny_gpt2_dir):
    loaded = load_model(str(tiny_llama_dir if kind == "llama" else tiny_gpt2_dir))
    assert loaded.model.config._attn_implementation == "sdpa"


def test_a_full_fine_tune_of_gpt2_lowers_its_loss_and_loads_back_as_gpt2(tiny_gpt2_dir, small_splits, tmp_path):
    from transformers import GPT2LMHeadModel

    from tweetsmith.engine.runs import read_metrics
    from tweetsmith.engine.train import TrainConfig, train

    out = tmp_path / "gpt2-full"
    finished = train(
        TrainConfig(
            data=str(small_splits),
            model=str(tiny_gpt2_dir),
            out=str(out),
            max_steps=12,
            batch_size=4,
            block_size=64,
            lr=3e-3,
            eval_every=0,
            save_every=0,
            logging_steps=1,
            precision="fp32",
        )
    )
    assert finished.outcome == "completed"
    losses = [m["loss"] for m in read_metrics(out) if "loss" in m]
    assert len(losses) == 12 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5, losses  # it learned: half a nat in 12 steps (seeded)
    assert json.loads((out / "final" / "config.json").read_text())["model_type"] == "gpt2"
    reloaded = load_model(str(out / "final"))
    assert isinstance(reloaded.model, GPT2LMHeadModel)
    assert reloaded.model.transformer.h[0].attn.c_attn.__class__.__name__ == "Conv1D"


@pytest.mark.parametrize(
    "kind,targets",
    [
        ("gpt2", {"c_attn", "c_proj", "c_fc"}),
        ("llama", {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}),
    ],
)
def test_lora_targets_rank_and_alpha_read_back_from_the_saved_adapter(
    kind, targets, tiny_gpt2_dir, tiny_llama_dir, small_splits, tmp_path
):
    from tweetsmith.engine.train import TrainConfig, train

    out = tmp_path / f"{kind}-lora"
    train(
        TrainConfig(
            data=str(small_splits),
            model=str(tiny_gpt2_dir if kind == "gpt2" else tiny_llama_dir),
            out=str(out),
            lora=True,
            lora_r=4,
            lora_alpha=12,
            max_steps=1,
            batch_size=2,
            block_size=32,
            eval_every=0,
            save_every=0,
            precision="fp32",
        )
    )
    adapter = json.loads((out / "final" / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == targets
    assert (adapter["r"], adapter["lora_alpha"]) == (4, 12)
    assert adapter["fan_in_fan_out"] is (kind == "gpt2")  # GPT-2's Conv1D stores its weight transposed
