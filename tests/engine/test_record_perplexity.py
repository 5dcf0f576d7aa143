"""Per-record ("cold") perplexity against a plain loop that scores one record at a time."""

from __future__ import annotations

import math

import pytest

from tweetsmith.engine.models import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def one_at_a_time(loaded, lines: list[str]) -> tuple[float, int]:
    """Each record alone: [eot] + its tokens + [eot], one forward pass each, log-softmax by hand."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for line in lines:
            ids = [loaded.eot_id] + loaded.tokenizer(line, add_special_tokens=False)["input_ids"] + [loaded.eot_id]
            logits = loaded.model(input_ids=torch.tensor([ids])).logits[0].double()
            logprobs = torch.log_softmax(logits, dim=-1)
            total -= sum(float(logprobs[k - 1, ids[k]]) for k in range(1, len(ids)))
            count += len(ids) - 1
    return total, count


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_record_perplexity_equals_one_record_at_a_time(kind, tiny_llama_dir, tiny_gpt2_dir, tweets_factory, tmp_path):
    from tweetsmith.engine.perplexity import perplexity_of_file

    loaded = load_model(str(tiny_llama_dir if kind == "llama" else tiny_gpt2_dir))
    lines = tweets_factory(40, seed=5)
    path = tmp_path / "valid.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    nll, count = one_at_a_time(loaded, lines)
    # batches small enough that records of different lengths share a padded batch, and one batch each
    for batch_tokens in (64, 100_000):
        result = perplexity_of_file(loaded, path, context="record", batch_tokens=batch_tokens)
        assert result.context == "record" and result.records == len(lines) and result.tokens == count
        assert result.perplexity == pytest.approx(math.exp(nll / count), rel=1e-4)
        assert result.bits_per_byte == pytest.approx(
            nll / math.log(2) / sum(len(x.encode()) + 1 for x in lines), rel=1e-4
        )
    windowed = perplexity_of_file(loaded, path)
    assert windowed.context == "windowed" and windowed.perplexity != pytest.approx(result.perplexity, rel=1e-3)


def test_max_tokens_scores_the_same_leading_records_as_the_windowed_figure(tiny_llama_dir, tweets_factory, tmp_path):
    from tweetsmith.engine.perplexity import perplexity_of_file

    loaded = load_model(str(tiny_llama_dir))
    lines = tweets_factory(60, seed=6)
    path = tmp_path / "valid.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    windowed = perplexity_of_file(loaded, path, max_tokens=400)
    cold = perplexity_of_file(loaded, path, context="record", max_tokens=400)
    assert 1 < cold.records == windowed.records < len(lines)
    nll, count = one_at_a_time(loaded, lines[: cold.records])
    assert cold.tokens == count and cold.perplexity == pytest.approx(math.exp(nll / count), rel=1e-4)


def test_length_batches_cover_every_record_once_within_the_budget():
    from tweetsmith.engine.perplexity import length_batches

    lengths = [5, 40, 3, 12, 12, 90, 7, 33]
    batches = length_batches(lengths, 64)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 64


def test_the_cache_keeps_windowed_and_record_figures_apart(tiny_llama_dir, tweets_factory, tmp_path):
    from tweetsmith.engine.perplexity_cache import cached_perplexity_of_file

    loaded = load_model(str(tiny_llama_dir))
    path = tmp_path / "valid.txt"
    path.write_text("".join(line + "\n" for line in tweets_factory(20, seed=7)), encoding="utf-8")
    windowed, hit_w = cached_perplexity_of_file(loaded, path)
    cold, hit_c = cached_perplexity_of_file(loaded, path, context="record")
    assert (hit_w, hit_c) == (False, False) and (windowed.context, cold.context) == ("windowed", "record")
    again, hit = cached_perplexity_of_file(loaded, path, context="record")
    assert hit and again == cold
