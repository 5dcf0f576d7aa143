"""The perplexity cache: a figure is reused only for the same text bytes, weights and scoring settings."""

from __future__ import annotations

import shutil
import threading

import pytest

from tweetsmith.engine.models import load_model
from tweetsmith.engine.perplexity import perplexity_of_file
from tweetsmith.engine.perplexity_cache import cache_dir, cached_perplexity_of_file

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _save_adapter(base_dir, out, scale: float, seed: int):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    torch.manual_seed(seed)  # before peft draws lora_A: the adapter is the same whatever ran earlier in the session
    peft_model = get_peft_model(
        model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"])
    )
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(scale * torch.randn_like(p))
    peft_model.save_pretrained(out)
    return out


def test_same_bytes_and_weights_reuse_the_figure_anything_else_recomputes(tmp_path, tiny_llama_dir, tweets_factory):
    text = write_lines(tmp_path / "valid.txt", tweets_factory(40, seed=3))
    base = load_model(str(tiny_llama_dir))
    expected = perplexity_of_file(base, text)

    first, hit = cached_perplexity_of_file(base, text)
    assert not hit and first == expected
    again, hit = cached_perplexity_of_file(base, text)
    assert hit and again == expected
    assert len(list(cache_dir().glob("*.json"))) == 1 and str(tmp_path) in str(cache_dir())  # the test's own

    # A token cap the file fits under asks for the same figure; one it does not is another figure.
    whole_tokens = expected.tokens + 1  # every token but the first is predicted
    capped, hit = cached_perplexity_of_file(base, text, max_tokens=whole_tokens)
    assert hit and capped == expected
    capped, hit = cached_perplexity_of_file(base, text, max_tokens=whole_tokens - 1)
    assert not hit and capped.records == 39 and capped == perplexity_of_file(base, text, max_tokens=whole_tokens - 1)
    assert len(list(cache_dir().glob("*.json"))) == 2

    copy = shutil.copy(text, tmp_path / "elsewhere.txt")  # same bytes at another path: reused, named as asked
    moved, hit = cached_perplexity_of_file(base, copy)
    assert hit and moved.perplexity == expected.perplexity and moved.file == str(copy)

    other = write_lines(tmp_path / "test.txt", tweets_factory(40, seed=4))
    changed, hit = cached_perplexity_of_file(base, other)
    assert not hit and changed == perplexity_of_file(base, other)

    # An adapter is part of the model: a new one (retrained: other weights) is never served an old figure.
    first_adapter = _save_adapter(tiny_llama_dir, tmp_path / "adapter", scale=3.0, seed=1)
    tuned = load_model(str(tiny_llama_dir), adapter=first_adapter)
    tuned_figure, hit = cached_perplexity_of_file(tuned, text)
    assert not hit and tuned_figure.perplexity == pytest.approx(perplexity_of_file(tuned, text).perplexity, rel=1e-6)
    assert tuned_figure.perplexity != pytest.approx(expected.perplexity, rel=1e-3)
    _save_adapter(tiny_llama_dir, first_adapter, scale=3.0, seed=2)  # retrained in place
    retrained = load_model(str(tiny_llama_dir), adapter=first_adapter)
    retrained_figure, hit = cached_perplexity_of_file(retrained, text)
    assert not hit and retrained_figure.perplexity != pytest.approx(tuned_figure.perplexity, rel=1e-3)


def test_a_cancelled_pass_is_not_stored(tmp_path, tiny_llama_dir, tweets_factory):
    text = write_lines(tmp_path / "valid.txt", tweets_factory(40, seed=3))
    base = load_model(str(tiny_llama_dir))
    cancel = threading.Event()
    cancel.set()
    _, hit = cached_perplexity_of_file(base, text, cancel=cancel)
    assert not hit and not list(cache_dir().glob("*.json"))
    full, hit = cached_perplexity_of_file(base, text)
    assert not hit and full == perplexity_of_file(base, text)


def test_a_missing_file_is_the_readers_error_not_a_traceback_from_the_cache(tmp_path, tiny_llama_dir):
    from tweetsmith.data.errors import TweetsmithError

    base = load_model(str(tiny_llama_dir))
    with pytest.raises(TweetsmithError, match="nothere.txt"):
        cached_perplexity_of_file(base, tmp_path / "nothere.txt")
