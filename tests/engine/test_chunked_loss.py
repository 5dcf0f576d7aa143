"""The chunked loss equals the model's own loss, in value and in gradients, and trains the same."""

from __future__ import annotations

import pytest

from tweetsmith.engine.chunked_loss import chunked_causal_lm_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("kind", ["tiny_llama_dir", "tiny_gpt2_dir"])
@pytest.mark.parametrize("lora", [False, True])
def test_value_and_gradients_equal_the_models_loss(kind, lora, request):
    import torch
    from transformers import AutoModelForCausalLM

    from tweetsmith.engine.lora import apply_lora

    model = AutoModelForCausalLM.from_pretrained(request.getfixturevalue(kind), dtype=torch.float32)
    if lora:
        model = apply_lora(model, r=4, alpha=8, dropout=0.0, quantized=False)
        with torch.no_grad():  # B starts at zero; make the adapters matter for the gradient check
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.02)
    model.eval()  # no dropout (GPT-2 has some): both losses must see the same network; gradients still flow
    torch.manual_seed(0)
    ids = torch.randint(3, 1000, (3, 40))
    labels = ids.clone()
    labels[0, :7] = -100  # padding masked out of the loss, as the collator does
    mask = torch.ones_like(ids)
    mask[0, :7] = 0

    reference = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    reference.backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()

    ours = chunked_causal_lm_loss(model, ids, labels, mask, chunk_tokens=16)  # several chunks, a ragged last one
    ours.backward()
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    for name, grad in want.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-4, atol=1e-6)


def test_training_with_the_chunked_loss_gives_the_same_losses(tiny_llama_dir, tmp_path):
    import json
    import random

    from tweetsmith.engine.train import TrainConfig, train

    rnd = random.Random(1)
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "valid", "test"):
        lines = [
            f"\\a{rnd.randint(0, 3)}- "
            + " ".join(rnd.choice(["one", "two", "three", "four"]) for _ in range(rnd.randint(4, 20)))
            for _ in range(120)
        ]
        (data / f"{split}.txt").write_text("\n".join(lines) + "\n")
    losses = {}
    for loss in ("full", "chunked"):
        out = tmp_path / loss
        train(
            TrainConfig(
                data=str(data),
                model=str(tiny_llama_dir),
                out=str(out),
                lora=True,
                lora_r=4,
                max_steps=3,
                batch_size=2,
                grad_accum=2,
                block_size=32,
                eval_every=0,
                save_every=0,
                logging_steps=1,
                precision="fp32",
                loss=loss,
            )
        )
        losses[loss] = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert losses["chunked"] == pytest.approx(losses["full"], rel=1e-4)
