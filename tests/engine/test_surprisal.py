"""Surprisal: per-token log-probabilities against a hand forward pass, files against eval's perplexity,
base vs tuned through a LoRA adapter switched off."""

from __future__ import annotations

import math

import pytest
import torch

from tweetsmith.data.records import Record, format_line
from tweetsmith.engine.models import load_model
from tweetsmith.engine.perplexity import perplexity_of_lines, sum_nll
from tweetsmith.engine.surprisal import disagreements, score_base_and_tuned, score_lines, score_texts

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RECORDS = [
    Record("paulg", "The best startups begin as side projects 🚀 that nobody takes seriously."),
    Record("sama", "café & co: [red] tags and \\backslashes/ stay plain"),
    Record("", "no author here"),
    Record("naval", ""),
]


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    return load_model(str(tiny_llama_dir))


def hand_logprobs(loaded, ids: list[int]) -> list[float]:
    """log p(ids[k] | ids[:k]) for k >= 1, one unbatched forward pass."""
    with torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([ids])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    return [float(logprobs[k - 1, ids[k]]) for k in range(1, len(ids))]


def test_text_scores_equal_a_hand_forward_pass(tiny):
    scores = score_texts(tiny, RECORDS)
    assert len(scores) == len(RECORDS) > 0
    for record, score in zip(RECORDS, scores):
        line = format_line(record)
        ids = [tiny.eot_id] + tiny.tokenizer(line, add_special_tokens=False)["input_ids"] + [tiny.eot_id]
        expected = hand_logprobs(tiny, ids)
        assert [t.logprob for t in score.tokens] == pytest.approx(expected, abs=1e-4)
        assert "".join(t.piece for t in score.tokens) == line  # every character once, in order
        assert score.tokens[-1].end_of_text and not score.tokens[-1].context
        prefix = len(line) - len(record.text)
        offsets = tiny.tokenizer(line, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        context = [end <= prefix for _, end in offsets] + [False]
        assert [t.context for t in score.tokens] == context
        text_lps = [lp for lp, c in zip(expected, context) if not c]
        assert score.mean_logprob == pytest.approx(sum(text_lps) / len(text_lps), abs=1e-5)
        assert score.perplexity == pytest.approx(math.exp(-score.mean_logprob))
        for t in score.tokens:  # offsets index the text
            if not t.context and not t.end_of_text:
                inside = record.text[t.start : t.end]  # the piece minus any part of it in the prefix (its space)
                assert t.piece.endswith(inside) and len(t.piece) - len(inside) <= 1
    assert not any(t.context for t in scores[2].tokens)  # no author: nothing is context


def test_a_file_scores_as_eval_scores_it(tiny):
    lines = [format_line(r) for r in RECORDS] * 12  # ~400 tokens: several windows of the 256-token model
    for stride in (256, 100):
        result = score_lines(tiny, lines, stride_tokens=stride)
        ppl = perplexity_of_lines(
            tiny.model, tiny.tokenizer, lines, eot_id=tiny.eot_id, pad_id=tiny.pad_id, stride_tokens=stride
        )
        assert result.tokens == ppl.tokens
        assert result.nll == pytest.approx(ppl.nll, rel=1e-5)
        assert result.perplexity == pytest.approx(ppl.perplexity, rel=1e-5)
    assert len(result.records) == len(lines)
    assert result.records[0].tokens[0].piece != "\\"  # the file's first token is not predicted
    scored = [t for r in result.records for t in r.scored]
    assert result.text_nll == pytest.approx(-sum(t.logprob for t in scored) / len(scored))


def test_a_text_longer_than_the_context_is_scored_by_windows(tiny):
    record = Record("paulg", " ".join(["startups"] * 300))
    score = score_texts(tiny, [record])[0]
    ids = [tiny.eot_id] + tiny.tokenizer(format_line(record), add_special_tokens=False)["input_ids"] + [tiny.eot_id]
    assert len(ids) > 256
    total, count = sum_nll(tiny.model, ids, stride_tokens=256, max_len_tokens=256, pad_id=tiny.pad_id)
    assert count == len(score.tokens)
    assert -sum(t.logprob for t in score.tokens) == pytest.approx(total, rel=1e-5)


def test_base_and_tuned_through_an_adapter(tmp_path, tiny_llama_dir, tiny):
    from peft import LoraConfig, get_peft_model

    base = load_model(str(tiny_llama_dir))
    torch.manual_seed(0)
    peft_model = get_peft_model(
        base.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    tuned = load_model(str(tiny_llama_dir), adapter=tmp_path / "adapter")
    both = score_base_and_tuned(RECORDS, tuned=tuned)
    plain = score_texts(tiny, RECORDS)
    assert len(both["base"]) == len(both["tuned"]) == len(plain) == len(RECORDS)
    for got, expected in zip(both["base"], plain):  # the adapter switched off is the base model
        assert [t.logprob for t in got.tokens] == pytest.approx([t.logprob for t in expected.tokens], abs=1e-5)
    assert both["tuned"][0].mean_logprob != pytest.approx(both["base"][0].mean_logprob, abs=1e-4)
    top = disagreements(both["base"][0], both["tuned"][0], top=3)
    changes = sorted(
        (t.logprob - b.logprob for b, t in zip(both["base"][0].scored, both["tuned"][0].scored)), key=abs, reverse=True
    )
    assert [d.change for d in top] == pytest.approx(changes[:3])
