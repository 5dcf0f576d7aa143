"""Training data: packing, padding and labels, the token cache; checkpoint rotation; FLOPs and memory helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tweetsmith.engine import checkpoints
from tweetsmith.engine.errors import TrainingError
from tweetsmith.engine.train_data import Collator, build_train_data, encode_cached, read_splits


@pytest.fixture(scope="module")
def tokenizer(embedded_dir):
    from transformers import AutoTokenizer

    from tweetsmith.engine.tokens import configure_tokenizer

    tok = AutoTokenizer.from_pretrained(embedded_dir)
    special = configure_tokenizer(tok)
    return tok, special


def test_packed_blocks_are_the_record_stream_cut_into_blocks(tokenizer, small_splits):
    tok, special = tokenizer
    lines = read_splits(small_splits).train
    encoded = encode_cached(tok, lines, special.eot_id, cache_dir=None, name="train")
    stream = []
    for line in lines:  # independent: one record at a time, end-of-text appended by hand
        stream += tok(line, add_special_tokens=False)["input_ids"] + [special.eot_id]
    data = build_train_data(encoded, block_size=64, pack=True, pad_id=special.pad_id)
    n = len(stream) // 64
    assert data.examples == n and data.useful_tokens == n * 64
    blocks = [data.dataset[i]["input_ids"].tolist() for i in range(n)]
    assert sum(blocks, []) == stream[: n * 64]
    batch = data.collator([data.dataset[0], data.dataset[1]])
    assert "attention_mask" not in batch and batch["labels"].tolist() == batch["input_ids"].tolist()


def test_unpacked_records_pad_with_ignored_labels_but_keep_end_of_text(tokenizer):
    tok, special = tokenizer
    assert special.pad_id != special.eot_id
    lines = ["\\paulg- short", "\\sama- a somewhat longer line of text here"]
    encoded = encode_cached(tok, lines, special.eot_id, cache_dir=None, name="t")
    data = build_train_data(encoded, block_size=64, pack=False, pad_id=special.pad_id)
    batch = Collator(special.pad_id)([data.dataset[0], data.dataset[1]])
    short = tok(lines[0], add_special_tokens=False)["input_ids"] + [special.eot_id]
    width = batch["input_ids"].shape[1]
    assert batch["input_ids"][0].tolist() == short + [special.pad_id] * (width - len(short))
    assert batch["attention_mask"][0].tolist() == [1] * len(short) + [0] * (width - len(short))
    assert batch["labels"][0].tolist() == short + [-100] * (width - len(short))
    assert batch["labels"][1].tolist()[-1] == special.eot_id  # the longest row ends with its end-of-text target
    assert data.useful_tokens == int(batch["attention_mask"].sum())


def test_unpacked_record_longer_than_block_is_cut(tokenizer):
    tok, special = tokenizer
    encoded = encode_cached(tok, ["word " * 50], special.eot_id, cache_dir=None, name="t")
    data = build_train_data(encoded, block_size=16, pack=False, pad_id=special.pad_id)
    assert len(data.dataset[0]["input_ids"]) == 16 and data.useful_tokens == 16


def test_split_shorter_than_a_block_is_an_error(tokenizer):
    tok, special = tokenizer
    encoded = encode_cached(tok, ["one tiny line"], special.eot_id, cache_dir=None, name="t")
    with pytest.raises(TrainingError, match="fewer than one block of 1024"):
        build_train_data(encoded, block_size=1024, pack=True, pad_id=special.pad_id)


def test_token_cache_is_written_once_and_read_back(tokenizer, tmp_path, monkeypatch):
    tok, special = tokenizer
    lines = ["\\a- hello there", "\\b- another record"]
    first = encode_cached(tok, lines, special.eot_id, cache_dir=tmp_path, name="train")
    assert len(list(tmp_path.glob("train-*.npz"))) == 1
    from tweetsmith.engine import train_data

    monkeypatch.setattr(train_data, "encode_records", lambda *a, **k: pytest.fail("tokenized again"))
    second = encode_cached(tok, lines, special.eot_id, cache_dir=tmp_path, name="train")
    assert np.array_equal(first.ids, second.ids) and np.array_equal(first.offsets, second.offsets)
    # a changed split is a different cache entry, never stale ids
    monkeypatch.undo()
    encode_cached(tok, lines + ["\\c- new"], special.eot_id, cache_dir=tmp_path, name="train")
    assert len(list(tmp_path.glob("train-*.npz"))) == 2


def _fake_checkpoint(directory, step, ppl=None, complete=True):
    path = directory / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text("{}")
    (path / "model.safetensors").write_text("x")
    if complete:
        (path / "tweetsmith.json").write_text(json.dumps({"step": step, "valid_perplexity": ppl}))
    return path


def test_rotation_keeps_newest_k_plus_best_and_ignores_incomplete(tmp_path):
    for step, ppl in ((10, 50.0), (20, 30.0), (30, 40.0), (40, None), (50, None)):
        _fake_checkpoint(tmp_path, step, ppl)
    _fake_checkpoint(tmp_path, 60, complete=False)
    assert checkpoints.best(tmp_path).step == 20
    assert checkpoints.newest(tmp_path).step == 50
    checkpoints.rotate(tmp_path, keep=2, best_step=20)
    assert [c.step for c in checkpoints.list_checkpoints(tmp_path)] == [20, 40, 50]
    assert (tmp_path / "checkpoint-60").exists()  # incomplete ones are not ours to judge; resume skips them


def test_publish_is_a_rename_and_replaces_the_same_step(tmp_path):
    staged = checkpoints.staging_root(tmp_path) / "checkpoint-5"
    staged.mkdir(parents=True)
    (staged / "trainer_state.json").write_text("{}")
    (staged / "model.safetensors").write_text("new")
    _fake_checkpoint(tmp_path, 5, 9.0)
    target = checkpoints.publish(staged, tmp_path, step=5, valid_perplexity=7.0)
    assert (target / "model.safetensors").read_text() == "new" and checkpoints.best(tmp_path).valid_perplexity == 7.0
    assert not staged.exists()


def test_flops_per_token_matches_the_gpt2_formula():
    from transformers import GPT2Config, GPT2LMHeadModel

    from tweetsmith.engine.memory import flops_per_token, matmul_parameters, mfu, peak_flops

    config = GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=128, vocab_size=1000)
    model = GPT2LMHeadModel(config)
    d, layers, vocab = 64, 2, 1000
    # per layer: c_attn d x 3d, attn c_proj d x d, c_fc d x 4d, mlp c_proj 4d x d; plus the tied head d x vocab
    matmul = layers * (3 * d * d + d * d + 4 * d * d + 4 * d * d) + d * vocab
    assert matmul_parameters(model) == (matmul, matmul)
    assert flops_per_token(model, 128) == 6 * matmul + 12 * layers * d * 128
    assert peak_flops("cpu") is None and mfu(1000.0, 1e9, None) is None
    assert mfu(100_000.0, 2.4e9, 989e12) == pytest.approx(100_000 * 2.4e9 / 989e12)


def test_lora_counts_frozen_weights_at_four_flops(tiny_gpt2_dir):
    from transformers import AutoModelForCausalLM

    from tweetsmith.engine.lora import apply_lora
    from tweetsmith.engine.memory import flops_per_token, matmul_parameters

    base = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    total_before, _ = matmul_parameters(base)
    model = apply_lora(base, r=4, alpha=8, dropout=0.0, quantized=False)
    total, trainable = matmul_parameters(model)
    d, layers = 64, 2
    # adapters: r x in + out x r for each of c_attn (64->192), attn c_proj (64->64), c_fc (64->256), mlp c_proj (256->64)
    lora = layers * 4 * ((64 + 192) + (64 + 64) + (64 + 256) + (256 + 64))
    assert trainable == lora and total == total_before + lora
    assert flops_per_token(model, 32) == 6 * lora + 4 * total_before + 12 * layers * d * 32
