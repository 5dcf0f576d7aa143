"""The precisions a user's machine may pick, exercised on the CPU: bf16 autocast training (loss finite and
close to fp32's) and 8-bit loading through bitsandbytes (its CPU kernels)."""

from __future__ import annotations

import math

import pytest

from tweetsmith.engine.models import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_bf16_autocast_training_on_cpu_tracks_fp32(tiny_llama_dir, small_splits, tmp_path):
    from tweetsmith.engine.run_record import RunRecord
    from tweetsmith.engine.runs import read_metrics
    from tweetsmith.engine.train import TrainConfig, train

    losses = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        train(
            TrainConfig(
                data=str(small_splits),
                model=str(tiny_llama_dir),
                out=str(out),
                lora=True,
                lora_r=4,
                max_steps=3,
                batch_size=2,
                block_size=32,
                eval_every=0,
                save_every=0,
                logging_steps=1,
                precision=precision,
            )
        )
        assert RunRecord.read(out).precision == precision
        losses[precision] = [m["loss"] for m in read_metrics(out)]
    assert len(losses["bf16"]) == len(losses["fp32"]) == 3
    assert all(math.isfinite(x) for x in losses["bf16"])
    # bf16 keeps 8 bits of mantissa: the same data and seed give the same losses to within ~1%
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=2e-2)
    assert losses["bf16"] != losses["fp32"]  # and autocast really ran in bf16


def test_8bit_loading_works_on_the_cpu(tiny_llama_dir):
    import torch

    plain = load_model(str(tiny_llama_dir))
    quantized = load_model(str(tiny_llama_dir), quantize="8bit")
    kinds = {m.__class__.__name__ for m in quantized.model.modules()}
    assert "Linear8bitLt" in kinds
    ids = torch.tensor([[plain.eot_id] + plain.tokenizer("the best startups", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        a = plain.model(input_ids=ids, labels=ids).loss
        b = quantized.model(input_ids=ids, labels=ids).loss
    assert math.isfinite(float(b)) and float(b) == pytest.approx(float(a), rel=5e-2)
