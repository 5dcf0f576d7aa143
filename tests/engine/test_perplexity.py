"""Perplexity against a plain, unbatched loop written here from the definition in docs/definitions.md."""

from __future__ import annotations

import math

import pytest

from tweetsmith.engine.models import load_model
from tweetsmith.engine.perplexity import perplexity_of_lines, sliding_windows

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def reference_perplexity(model, tokenizer, lines, eot_id, max_len, stride):
    """(exp(mean NLL per predicted token), predicted tokens, total NLL in nats); each token after the first
    predicted once, one window at a time."""
    import torch

    ids = []
    for line in lines:
        ids += tokenizer(line, add_special_tokens=False)["input_ids"] + [eot_id]
    total, count, predicted = 0.0, 0, set()
    with torch.no_grad():
        for begin in range(0, len(ids), stride):
            end = min(begin + max_len, len(ids))
            logits = model(torch.tensor([ids[begin:end]])).logits[0]
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            for pos in range(begin + 1, end):
                if pos in predicted:
                    continue
                predicted.add(pos)
                total -= float(logprobs[pos - begin - 1, ids[pos]])
                count += 1
            if end == len(ids):
                break
    assert predicted == set(range(1, len(ids)))
    return math.exp(total / count), count, total


@pytest.mark.parametrize(
    "n_tokens,max_len,stride", [(10, 4, 2), (1000, 256, 100), (7, 16, 8), (513, 512, 512), (2000, 512, 512), (1, 8, 4)]
)
def test_windows_predict_each_token_once(n_tokens, max_len, stride):
    seen = []
    for w in sliding_windows(n_tokens, max_len, stride):
        assert w.end - w.begin <= max_len and w.begin < w.target_begin
        seen.extend(range(w.target_begin, w.end))
    assert seen == list(range(1, n_tokens))


@pytest.mark.parametrize("chunk_head", [True, False])
@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_gpt2_dir"])
def test_batched_perplexity_equals_plain_loop(fixture, chunk_head, request, tweets_factory, monkeypatch):
    from tweetsmith.engine import perplexity

    loaded = load_model(str(request.getfixturevalue(fixture)))
    lines = tweets_factory(60, seed=5)
    rows_per_head_call = []
    head = loaded.model.get_output_embeddings()
    hook = head.register_forward_hook(lambda module, args, out: rows_per_head_call.append(out.shape[:-1].numel()))
    monkeypatch.setattr(perplexity, "HEAD_CHUNK_TOKENS", 100)
    real_sum_nll = perplexity.sum_nll
    monkeypatch.setattr(perplexity, "sum_nll", lambda *a, **k: real_sum_nll(*a, **k, chunk_head=chunk_head))
    try:
        result = perplexity_of_lines(
            loaded.model,
            loaded.tokenizer,
            lines,
            eot_id=loaded.eot_id,
            pad_id=loaded.pad_id,
            max_len_tokens=128,
            stride_tokens=48,
            batch_windows=3,
        )
    finally:
        hook.remove()
    # In chunks the head sees at most 100 target positions a call; the model's own forward, whole windows.
    assert (max(rows_per_head_call) <= 100) == chunk_head
    expected, count, total_nll = reference_perplexity(loaded.model, loaded.tokenizer, lines, loaded.eot_id, 128, 48)
    assert result.tokens == count
    assert result.perplexity == pytest.approx(expected, rel=1e-4)
    # Bits per byte by its definition: total NLL in bits over the text's UTF-8 bytes, each record's end of
    # text counting one byte, i.e. the size of the split file (one line per record) on disk.
    n_bytes = len("".join(line + "\n" for line in lines).encode("utf-8"))
    assert n_bytes > sum(len(line) + 1 for line in lines)  # emoji and dashes: bytes are not characters
    assert result.bytes == n_bytes
    assert result.bits_per_byte == pytest.approx(total_nll / math.log(2) / n_bytes, rel=1e-4)


def test_a_lora_adapter_is_scored_merged_on_a_copy_and_the_model_never_changes(
    tiny_llama_dir, tweets_factory, tmp_path, monkeypatch
):
    """Scored on a merged copy (one matmul a layer), the figure equals the unmerged model's, and the model
    the chat streams from is never touched: its weights are the same *while* scoring runs, not only after."""
    import torch
    from peft import LoraConfig, get_peft_model

    from tweetsmith.engine import perplexity
    from tweetsmith.engine.lora import adapters_merged

    loaded = load_model(str(tiny_llama_dir))
    torch.manual_seed(0)  # before peft draws lora_A: the same adapter whatever ran earlier in the session
    model = get_peft_model(loaded.model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.5 * torch.randn_like(p))
    loaded.model = model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lines = tweets_factory(30, seed=9)
    path = tmp_path / "valid.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    expected, count, _ = reference_perplexity(model, loaded.tokenizer, lines, loaded.eot_id, 128, 48)

    during = []
    real = perplexity.perplexity_of_lines

    def scoring(scored_model, *args, **kwargs):
        now = model.state_dict()  # what a sample streamed at this moment would read
        during.append(
            (
                scored_model is not model,
                all(torch.equal(before[k], now[k]) for k in before),
                any(getattr(m, "merged", False) for m in model.modules()),
                any("lora_" in n for n, _ in scored_model.named_parameters()),
            )
        )
        return real(scored_model, *args, **kwargs)

    monkeypatch.setattr(perplexity, "perplexity_of_lines", scoring)
    result = perplexity.perplexity_of_file(loaded, path, max_len_tokens=128, stride_tokens=48)
    # a copy was scored, the chat's model was bit-identical and unmerged meanwhile, and the copy had no LoRA layers
    assert during == [(True, True, False, False)]
    assert result.tokens == count and result.perplexity == pytest.approx(expected, rel=1e-4)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    plain = torch.nn.Linear(2, 2)
    with adapters_merged(plain) as same:  # a model without adapters passes through untouched
        assert same is plain


def test_max_tokens_scores_exactly_the_leading_records_that_fit(tiny_llama_dir, tweets_factory):
    from tweetsmith.engine.perplexity import leading_records

    loaded = load_model(str(tiny_llama_dir))
    lines = tweets_factory(40, seed=8)
    lengths = [len(loaded.tokenizer(line, add_special_tokens=False)["input_ids"]) + 1 for line in lines]
    budget = sum(lengths[:13]) + lengths[13] - 1  # the 14th record does not quite fit
    kwargs = dict(eot_id=loaded.eot_id, pad_id=loaded.pad_id, max_len_tokens=64, stride_tokens=32)
    capped = perplexity_of_lines(loaded.model, loaded.tokenizer, lines, max_tokens=budget, **kwargs)
    head = perplexity_of_lines(loaded.model, loaded.tokenizer, lines[:13], **kwargs)
    assert capped.records == 13 and capped.tokens == sum(lengths[:13]) - 1
    assert capped.perplexity == head.perplexity and capped.bytes == head.bytes and capped.words == head.words
    assert perplexity_of_lines(loaded.model, loaded.tokenizer, lines, max_tokens=10**9, **kwargs).records == 40
    # A first record longer than the budget is still scored: a figure is never made of nothing.
    assert leading_records([[1] * 50, [2] * 5], 10) == 1 and leading_records([], 10) == 0
    assert leading_records([[1] * 5, [2] * 5], 10) == 2 and leading_records([[1] * 5, [2] * 6], 10) == 1
