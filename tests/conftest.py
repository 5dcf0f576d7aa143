"""Shared fixtures: tiny models built from a config in a second, the embedded model, the real data.

Tiny models use the embedded model's tokenizer (so text round-trips like the real thing) with a
2-layer Llama or GPT-2 body; they are saved as local HF directories, so they load through the same
``load_model`` path users take. Shared data is read in place from ../shared, never copied.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
VC_TWEETS = SHARED / "data" / "vc_tweets"

# No test touches the network: the hub is "offline" and any connect attempt fails at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    real_connect = socket.socket.connect

    def guarded(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"network blocked in tests: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from tweetsmith.engine.embedded import embedded_ready, ensure_embedded

    if not embedded_ready():
        pytest.skip("embedded model not prepared (run `tweetsmith setup`; `make test` does)")
    return ensure_embedded()


def _save_tiny(out: Path, kind: str, embedded: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded)
    torch.manual_seed(0)
    if kind == "llama":
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
            bos_token_id=1, eos_token_id=2, pad_token_id=2,
        )
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4, n_positions=256, bos_token_id=0, eos_token_id=0)
        model = GPT2LMHeadModel(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer Llama (hidden 64) with SmolLM2's tokenizer, as a local model directory."""
    return _save_tiny(tmp_path_factory.mktemp("tiny-llama"), "llama", embedded_dir)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer GPT-2 (Conv1D layers, as in gpt2-medium) with SmolLM2's tokenizer."""
    return _save_tiny(tmp_path_factory.mktemp("tiny-gpt2"), "gpt2", embedded_dir)


@pytest.fixture(scope="session")
def vc_tweets() -> Path:
    if not (VC_TWEETS / "train.txt").is_file():
        pytest.skip("../shared/data/vc_tweets is not beside the repo")
    return VC_TWEETS


@pytest.fixture()
def small_splits(tmp_path, vc_tweets) -> Path:
    """A small data dir (first 200/50/50 lines of the real splits) for quick training and eval tests."""
    out = tmp_path / "splits"
    out.mkdir()
    for name, count in (("train", 200), ("valid", 50), ("test", 50)):
        lines = (vc_tweets / f"{name}.txt").read_text(encoding="utf-8").splitlines()[:count]
        (out / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine two of them spin-wait
    (~10x slower); modules of tiny-model tests use this, and torch's setting is restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_tuned_run(root: Path, base_dir: Path, splits: Path, **config_extra) -> Path:
    """A run directory as training leaves it (config.json + final/), with perturbed weights standing in
    for fine-tuning, so evaluation code can be tested without training."""
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = root / "run"
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    torch.manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model.save_pretrained(run / "final")
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(run / "final")
    config = {"model": str(base_dir), "method": "full", "data": str(splits), **config_extra}
    (run / "config.json").write_text(json.dumps(config))
    return run


@pytest.fixture(scope="session")
def tuned_run_factory():
    """``make_tuned_run`` for tests that need their own data sizes."""
    return make_tuned_run


@pytest.fixture()
def tiny_run(tmp_path, tiny_llama_dir, small_splits) -> Path:
    return make_tuned_run(tmp_path, tiny_llama_dir, small_splits)
