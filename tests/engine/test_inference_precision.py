"""Scoring and sampling in the precision measured faster here (``--precision auto``): the probe's decision is
honoured (faked here), ``fp32`` gives exactly the figures and samples of before, and results of different
precisions never share a cache key (bf16's error against fp32: test_perplexity_bf16)."""

from __future__ import annotations

import json

import pytest

from tweetsmith.engine import precision
from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.models import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fake_probe(monkeypatch, **bf16_faster: bool) -> list[tuple[int, int]]:
    """The inference probe answers ``bf16_faster[use]`` for each use (sampling, scoring); returns the shapes asked."""
    asked: list[tuple[int, int]] = []

    def timings(shape, cache_dir=None):
        asked.append(tuple(shape))
        return {
            use: {"bf16_faster": bf16_faster[use], "fp32_s": 2.0, "bf16_s": 1.0 if bf16_faster[use] else 2.5}
            for use in precision.INFERENCE_PROBE_TOKENS
        }

    monkeypatch.setattr(precision, "inference_timings", timings)
    return asked


# --- the decision -----------------------------------------------------------------------------------


def test_auto_on_a_cpu_follows_the_probe_at_both_shapes(monkeypatch):
    fake_probe(monkeypatch, sampling=True, scoring=True)
    chosen = precision.choose_inference_precision("auto", "cpu", shape=(576, 1536))
    assert chosen.precision == "bf16" and chosen.dtype_name == "bfloat16"
    assert chosen.notice.startswith(
        "precision: bf16 (measured on this CPU: bf16 matmuls 2.0x for sampling, 2.0x for scoring"
    )
    # slower at one shape: nothing may get slower, so fp32
    fake_probe(monkeypatch, sampling=False, scoring=True)
    chosen = precision.choose_inference_precision("auto", "cpu", shape=(576, 1536))
    assert chosen.precision == "fp32" and "0.8x for sampling" in chosen.notice and "not clearly faster" in chosen.notice


def test_explicit_precisions_are_checked_not_measured(monkeypatch):
    asked = fake_probe(monkeypatch, sampling=True, scoring=True)
    assert precision.choose_inference_precision("fp32", "cpu").precision == "fp32"
    assert precision.choose_inference_precision("bf16", "cpu").precision == "bf16"
    assert precision.choose_inference_precision("auto", "mps").precision == "fp32"
    assert asked == []
    with pytest.raises(ConfigError, match="--precision fp16 needs a GPU"):
        precision.choose_inference_precision("fp16", "cpu")
    with pytest.raises(ConfigError, match="unknown; choose one of auto, bf16, fp16, fp32"):
        precision.choose_inference_precision("fp8", "cpu")


def test_the_probe_is_remembered_under_its_own_key(monkeypatch, tmp_path):
    """Inference's entries (bf16 weights, its token counts) sit beside training's, whose key is unchanged."""
    import torch

    calls = []
    monkeypatch.setattr(
        precision,
        "interleaved_timings",
        lambda h, i, rounds=5, tokens=256, stored=False: calls.append((tokens, stored)) or (2.0, 1.0),
    )
    first = precision.cpu_matmul_timings(64, 128, tokens=1024, stored=True, cache_dir=tmp_path)
    again = precision.cpu_matmul_timings(64, 128, tokens=1024, stored=True, cache_dir=tmp_path)
    assert precision.cpu_bf16_is_faster(64, 128, cache_dir=tmp_path)
    assert calls == [(1024, True), (256, False)] and first == again == {
        "bf16_faster": True,
        "fp32_s": 2.0,
        "bf16_s": 1.0,
    }
    keys = sorted(json.loads((tmp_path / "cpu_precision.json").read_text()))
    base = f"{precision._cpu_name()}|torch {torch.__version__}|{torch.get_num_threads()} threads|64x128"
    assert keys == sorted([base, base + "|1024 tokens|bf16 weights"])


# --- loading ----------------------------------------------------------------------------------------


def test_load_honours_the_probe(monkeypatch, tiny_llama_dir):
    import torch

    said: list[str] = []
    asked = fake_probe(monkeypatch, sampling=True, scoring=True)
    fast = load_model(str(tiny_llama_dir), precision="auto", progress=said.append)
    assert asked == [(64, 128)]  # the tiny model's own hidden x intermediate
    assert fast.info.precision == "bf16" and fast.info.dtype == "bfloat16"
    matmuls = [m for m in fast.model.modules() if isinstance(m, torch.nn.Linear)]
    assert {m.weight.dtype for m in matmuls} == {torch.bfloat16}  # stored for bf16 (test_perplexity_bf16)
    assert fast.model.model.norm.weight.dtype == torch.float32
    rotary = fast.model.model.rotary_emb.inv_freq  # RoPE's angles stay fp32, as from_pretrained(dtype=bf16) keeps them
    assert rotary.dtype == torch.float32
    assert fast.info.precision_notice in said and fast.info.precision_notice.startswith("precision: bf16")

    fake_probe(monkeypatch, sampling=True, scoring=False)
    kept = load_model(str(tiny_llama_dir), precision="auto")
    assert kept.info.precision == "fp32" and {p.dtype for p in kept.model.parameters()} == {torch.float32}
    assert kept.info.precision_notice.startswith("precision: fp32")
    plain = load_model(str(tiny_llama_dir))  # no precision asked: as before, and no notice
    assert plain.info.precision == "fp32" and plain.info.precision_notice is None


# --- fp32 is today's; keys and metadata carry the precision ---------------------------------------


def test_fp32_gives_exactly_the_figures_and_samples_of_before(tiny_llama_dir, small_splits):
    from tweetsmith.engine.generate import generate_samples
    from tweetsmith.engine.perplexity import perplexity_of_file
    from tweetsmith.engine.sampling import SamplingConfig

    before, asked = load_model(str(tiny_llama_dir)), load_model(str(tiny_llama_dir), precision="fp32")
    valid = small_splits / "valid.txt"
    for context in ("windowed", "record"):
        assert perplexity_of_file(asked, valid, context=context) == perplexity_of_file(before, valid, context=context)
    config = SamplingConfig(max_new_tokens=8, seed=3)
    old = generate_samples(before, ["paulg", "sama"] * 2, config)
    new = generate_samples(asked, ["paulg", "sama"] * 2, config)
    assert [s.text for s in new] == [s.text for s in old] and {s.precision for s in new} == {"fp32"}


def test_cache_keys_and_cached_figures_differ_by_precision(monkeypatch, tiny_llama_dir, small_splits):
    from tweetsmith.engine.perplexity_cache import cache_key, cached_perplexity_of_file, model_fingerprint
    from tweetsmith.engine.sample_cache import batch_key
    from tweetsmith.engine.sampling import SamplingConfig

    fp32, bf16 = load_model(str(tiny_llama_dir), precision="fp32"), load_model(str(tiny_llama_dir), precision="bf16")
    assert model_fingerprint(fp32) == model_fingerprint(load_model(str(tiny_llama_dir)))  # fp32 keys of before hold
    assert model_fingerprint(bf16) != model_fingerprint(fp32)
    valid = small_splits / "valid.txt"
    assert cache_key(bf16, valid, 512, 256) != cache_key(fp32, valid, 512, 256)
    args = (SamplingConfig(), ["\\paulg- "], [0])
    assert batch_key(model_fingerprint(bf16), *args) != batch_key(model_fingerprint(fp32), *args)

    full, hit = cached_perplexity_of_file(fp32, valid)
    assert not hit
    half, hit = cached_perplexity_of_file(bf16, valid)
    assert not hit and half.perplexity != full.perplexity  # computed in bf16, not served fp32's figure
    assert half.perplexity == pytest.approx(full.perplexity, rel=0.05)
    assert cached_perplexity_of_file(fp32, valid) == (full, True)


def test_samples_record_their_precision(tiny_llama_dir):
    from tweetsmith.engine.generate import generate_samples
    from tweetsmith.engine.sample_cache import cached_generate_samples
    from tweetsmith.engine.sample_record import Sample
    from tweetsmith.engine.sampling import SamplingConfig

    bf16 = load_model(str(tiny_llama_dir), precision="bf16")
    config = SamplingConfig(max_new_tokens=6, seed=1)
    samples = generate_samples(bf16, ["paulg", "sama"], config)
    assert {s.precision for s in samples} == {"bf16"}
    assert Sample.from_dict(samples[0].to_dict()) == samples[0]
    older = {k: v for k, v in samples[0].to_dict().items() if k != "precision"}
    assert Sample.from_dict(older).precision is None  # a file from before says nothing, and is not taken for fp32
    stored = cached_generate_samples(bf16, ["paulg", "sama"], config)
    again = cached_generate_samples(bf16, ["paulg", "sama"], config)
    assert [s.text for s in stored] == [s.text for s in again] == [s.text for s in samples]
    assert {s.precision for s in again} == {"bf16"}


# --- the command line -------------------------------------------------------------------------------


def test_eval_says_the_decision_and_fp32_restores_the_old_figures(monkeypatch, tiny_llama_dir, small_splits, capsys):
    from tweetsmith.engine.perplexity import perplexity_of_file
    from tweetsmith.scripts.cli import main

    fake_probe(monkeypatch, sampling=True, scoring=True)
    valid = str(small_splits / "valid.txt")
    assert main(["eval", "--model", str(tiny_llama_dir), valid, "--json"]) == 0
    captured = capsys.readouterr()
    assert "precision: bf16 (measured on this CPU: bf16 matmuls 2.0x for sampling, 2.0x for scoring" in captured.err
    auto = json.loads(captured.out)["results"][0]["perplexity"]
    assert main(["eval", "--model", str(tiny_llama_dir), valid, "--json", "--precision", "fp32"]) == 0
    captured = capsys.readouterr()
    assert "precision: fp32 (--precision fp32)" in captured.err
    full = json.loads(captured.out)["results"][0]["perplexity"]
    assert full == perplexity_of_file(load_model(str(tiny_llama_dir)), valid).perplexity != auto


def test_every_model_command_takes_the_one_precision_flag():
    import argparse

    from tweetsmith.scripts import compare_cmd, eval_cmd, sample_cmd, sweep_cmd, tui_cmd

    for command in (eval_cmd, sample_cmd, compare_cmd, sweep_cmd, tui_cmd):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        flag = next(a for a in parser._actions if a.dest == "precision")
        # The choices are checked by the field's reader (engine.config, as in the training form), not argparse.
        assert flag.default == "auto" and flag.metavar == "{" + ",".join(precision.PRECISION_CHOICES) + "}"
        assert [flag.type(choice) for choice in precision.PRECISION_CHOICES] == list(precision.PRECISION_CHOICES)
        with pytest.raises(argparse.ArgumentTypeError, match="bf8"):
            flag.type("bf8")
        assert flag.help.startswith(precision.InferenceSettings.__dataclass_fields__["precision"].metadata["help"][:40])
