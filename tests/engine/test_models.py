"""Model resolution: offline fallback without waiting on the hub, local dirs, GGUF, the embedded model."""

from __future__ import annotations

import pytest

from tweetsmith.engine import models
from tweetsmith.engine.errors import ModelError
from tweetsmith.engine.models import load_model, resolve_spec
from tweetsmith.scripts.cli import main


@pytest.fixture()
def hub_unreachable(monkeypatch):
    """Hub not offline by env, but not reachable either (the network is blocked in tests)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    models.hub_reachable.cache_clear()
    yield
    models.hub_reachable.cache_clear()


def test_blocked_hub_falls_back_fast(hub_unreachable, embedded_dir, monkeypatch):
    """Fast by construction, not by a stopwatch: one bounded connection attempt and no ``from_pretrained``
    (whose retries take ~50 s on an unreachable hub)."""
    import socket

    attempts, loads = [], []
    real_connect = socket.create_connection

    def connect(address, timeout=None, *args, **kwargs):
        attempts.append((address, timeout))
        return real_connect(address, timeout, *args, **kwargs)

    monkeypatch.setattr(models.socket, "create_connection", connect)
    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", lambda *a, **k: loads.append(a))
    resolved = resolve_spec("gpt2-medium")
    assert attempts == [(("huggingface.co", 443), models.HUB_PROBE_TIMEOUT_S)] and models.HUB_PROBE_TIMEOUT_S <= 5
    assert loads == []
    assert resolved.source == "embedded" and resolved.spec == "smollm2-135m"
    assert "gpt2-medium" in resolved.notice and "smollm2-135m" in resolved.notice
    assert "\n" not in resolved.notice


def test_probe_runs_once_per_process(hub_unreachable, monkeypatch, embedded_dir):
    calls = []
    real = models.socket.create_connection
    monkeypatch.setattr(models.socket, "create_connection", lambda *a, **k: calls.append(a) or real(*a, **k))
    resolve_spec("gpt2-medium")
    resolve_spec("gpt2")
    assert len(calls) == 1


def test_no_fallback_is_an_error(embedded_dir):
    with pytest.raises(ModelError, match="not in the HF cache"):
        resolve_spec("gpt2-medium", allow_fallback=False)


def test_offline_env_skips_the_probe(monkeypatch, embedded_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models.socket, "create_connection", lambda *a, **k: pytest.fail("probed while offline"))
    models.hub_reachable.cache_clear()
    assert resolve_spec("gpt2-medium").source == "embedded"


def test_local_directory_and_special_tokens(tiny_gpt2_dir):
    loaded = load_model(str(tiny_gpt2_dir))
    assert loaded.info.source == "local" and loaded.info.device == "cpu" and loaded.info.dtype == "float32"
    assert loaded.info.parameters == sum(p.numel() for p in loaded.model.parameters())
    tok = loaded.tokenizer
    assert tok.convert_ids_to_tokens(loaded.eot_id) == "<|endoftext|>"
    assert loaded.pad_id != loaded.eot_id and tok.pad_token_id == loaded.pad_id
    assert loaded.model.generation_config.eos_token_id == loaded.eot_id


@pytest.mark.parametrize(
    "spec,message", [("./nope", "no such file"), ("model.bin.gguf", "no such file"), ("tests", "no config.json")]
)
def test_bad_specs(spec, message):
    with pytest.raises(ModelError, match=message):
        resolve_spec(spec)


def test_adapter_dir_as_model_is_explained(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ModelError, match="--adapter"):
        resolve_spec(str(tmp_path))


@pytest.mark.embedded
def test_embedded_model_loads_and_writes(embedded_dir):
    import torch

    loaded = load_model("smollm2-135m")
    assert loaded.info.source == "embedded" and 130e6 < loaded.info.parameters < 140e6
    assert loaded.eot_id == 0 and loaded.pad_id == 2  # <|endoftext|>, <|im_end|>
    prompt = loaded.tokenizer("\\paulg- The best startups", return_tensors="pt")
    torch.manual_seed(0)
    out = loaded.model.generate(**prompt, max_new_tokens=12, do_sample=False)
    text = loaded.tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert len(text.split()) >= 3  # real words, not nothing


def test_gguf_spec_resolves_to_its_folder(tmp_path):
    """A .gguf file spec loads from its folder with gguf_file= (the real load runs in `tweetsmith setup`)."""
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    resolved = resolve_spec(str(f))
    assert resolved.source == "gguf" and resolved.gguf_file == "m.gguf" and resolved.location == str(tmp_path)


def test_models_command_lists_offline(capsys, embedded_dir):
    assert main(["models", "--json"]) == 0
    import json

    rows = {r["spec"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows["smollm2-135m"]["offline"] is True
    assert rows["gpt2-medium"]["offline"] is False


@pytest.mark.parametrize(
    ("config", "tokens"),
    [
        ({"n_positions": 512, "max_position_embeddings": 2048}, 512),
        ({"max_position_embeddings": 2048}, 2048),
        ({}, 1024),
        ({"n_positions": None, "max_position_embeddings": None}, 1024),  # int(None) raised TypeError here
    ],
)
def test_context_tokens_falls_back_to_1024_when_the_config_names_none(config, tokens):
    from types import SimpleNamespace

    from tweetsmith.engine.models import LoadedModel

    loaded = LoadedModel(SimpleNamespace(config=SimpleNamespace(**config)), None, None, None)  # only .model is read
    assert loaded.context_tokens == tokens
