"""The run card (start, finish, listing) and the fixed-prompt training samples, each on its own."""

from __future__ import annotations

import hashlib
import json
import shlex

import pytest
import torch

from tweetsmith.engine.card import data_summary, file_sha256, finish_card, list_runs, reproduce_command, start_card
from tweetsmith.engine.card_record import Card, SplitSize
from tweetsmith.engine.run_record import RunRecord
from tweetsmith.engine.train import TrainConfig


@pytest.fixture()
def data_dir(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("\\a- one\n\\b- two\n\n\\a- three\n", encoding="utf-8")
    (data / "valid.txt").write_text("\\a- four\n", encoding="utf-8")
    (data / "test.txt").write_text("\\b- five\n\\b- six\n", encoding="utf-8")
    return data


def test_data_summary_hashes_the_splits(data_dir):
    summary = data_summary(data_dir)
    expected = hashlib.sha256()
    for name in ("train", "valid", "test"):
        raw = (data_dir / f"{name}.txt").read_bytes()
        expected.update(f"{name}.txt\0{len(raw)}\0".encode() + raw)
    assert summary.sha256 == expected.hexdigest()
    size = {name: (data_dir / f"{name}.txt").stat().st_size for name in ("train", "valid", "test")}
    assert summary.splits == {
        "train": SplitSize(3, size["train"]),
        "valid": SplitSize(1, size["valid"]),
        "test": SplitSize(2, size["test"]),
    }
    (data_dir / "test.txt").write_text("\\b- five\n\\b- sixx\n", encoding="utf-8")
    assert data_summary(data_dir).sha256 != summary.sha256


def test_reproduce_command_parses_back_to_the_same_config(tmp_path):
    import argparse

    from tweetsmith.scripts.common import add_config_arguments, config_from_args

    config = TrainConfig(
        data="my data",
        model="smollm2-135m",
        out="runs/x",
        lora=True,
        lora_r=16,
        lr=2e-4,
        max_steps=50,
        pack="off",
        resume=True,
        allow_fallback=False,
        quantize="4bit",
    )
    command = reproduce_command(config)
    words = shlex.split(command)
    assert (
        words[:2] == ["tweetsmith", "train"] and "--resume" not in words and words[words.index("--pack") + 1] == "off"
    )
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, TrainConfig)
    again = config_from_args(TrainConfig, parser.parse_args(words[2:]))
    assert again == TrainConfig(**{**config.__dict__, "resume": False})


def test_start_then_finish(tmp_path, data_dir, tiny_llama_dir, run_record_writer):
    run = tmp_path / "run"
    config = TrainConfig(data=str(data_dir), model=str(tiny_llama_dir), out=str(run), lora=True, max_steps=4)
    resolved = run_record_writer(
        run,
        model=str(tiny_llama_dir),
        data=str(data_dir),
        method="lora",
        batch_size=2,
        block_size=64,
        grad_accum=1,
        world_size=1,
    )
    memo = tmp_path / "hashes.json"
    card = start_card(
        run,
        config,
        resolved=resolved,
        model_spec=str(tiny_llama_dir),
        model_source="local",
        model_location=str(tiny_llama_dir),
        device="cpu",
        precision="fp32",
        memo=memo,
    )
    assert card.status == "running" and card.results is None and card.resolved == resolved and card.flags == config
    weights = tiny_llama_dir / "model.safetensors"
    assert card.model.weights_sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert json.loads(memo.read_text())  # remembered: a second card does not re-read the weights
    assert file_sha256(weights, memo) == card.model.weights_sha256
    assert card.libraries["torch"] == torch.__version__.split("+")[0] or card.libraries["torch"] == torch.__version__
    assert card.data == data_summary(data_dir)
    assert card.reproduce == reproduce_command(config)
    assert Card.read(run) == card
    assert "Status: **running**" in (run / "card.md").read_text()

    (run / "metrics.jsonl").write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"step": 2, "loss": 3.0},
                {"step": 2, "valid_perplexity": 20.0},
                {"step": 4, "loss": 2.5, "valid_perplexity": 22.0},
            ]
        )
    )
    card = finish_card(run, outcome="completed", steps=4, seconds=12.3, result_dir=str(run / "final"))
    results = card.results
    assert card.status == "completed" and card.ended
    assert results.tokens_seen == 4 * 2 * 1 * 1 * 64 and results.tokens_seen_estimated
    assert (results.final_loss, results.final_valid_perplexity) == (2.5, 22.0)
    assert (results.best_valid_perplexity, results.best_step, results.stopped_early) == (20.0, 2, None)
    assert Card.read(run) == card
    text = (run / "card.md").read_text()
    assert "best valid perplexity: 20 (step 2)" in text and card.reproduce in text
    assert "| batch_size | `8` (used: `2`) |" in text  # asked 8, the memory plan's 2 used
    assert finish_card(run, outcome="stopped", steps=4, seconds=1, tokens_seen=77).results.tokens_seen == 77

    rows = list_runs(tmp_path)
    assert [(r.run, r.method, r.steps, r.best_valid_perplexity) for r in rows] == [(str(run), "lora", 4, 20.0)]


def test_list_runs_reads_runs_without_a_card(tmp_path, first_record):
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps(first_record(model="gpt2", data="d")))
    (old / "metrics.jsonl").write_text(json.dumps({"step": 7, "loss": 1.0, "valid_perplexity": 9.5}) + "\n")
    (tmp_path / "not-a-run").mkdir()
    rows = list_runs(tmp_path)
    assert len(rows) == 1 and rows[0].status == "no card"
    assert (rows[0].model, rows[0].steps, rows[0].best_valid_perplexity) == ("gpt2", 7, 9.5)


def test_training_samples_are_the_same_each_time(tiny_llama_dir, one_torch_thread):
    from tweetsmith.engine.generate import generate_samples
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.training_samples import SAMPLING, fixed_authors, training_samples

    assert fixed_authors(["\\b- x", "\\a- y", "\\b- z", "\\c- w", "\\a- v", "no author"], n=2) == ["a", "b"]
    assert fixed_authors(["no author"]) == [""]
    loaded = load_model(str(tiny_llama_dir))
    model = loaded.model
    model.train()
    torch.manual_seed(99)
    before = torch.random.get_rng_state()
    first = training_samples(model, loaded.tokenizer, ["a", "b"], eot_id=loaded.eot_id, pad_id=loaded.pad_id)
    assert torch.equal(torch.random.get_rng_state(), before)  # training's randomness is untouched
    assert model.training
    second = training_samples(model, loaded.tokenizer, ["a", "b"], eot_id=loaded.eot_id, pad_id=loaded.pad_id)
    assert first == second and [s.seed for s in first] == [SAMPLING.seed, SAMPLING.seed + 1]
    model.eval()
    direct = generate_samples(loaded, ["a", "b"], SAMPLING, batch_size=2)
    assert [s.text for s in first] == [s.text for s in direct]


def test_training_writes_the_card_and_samples_each_evaluation(tiny_llama_dir, small_splits, tmp_path, one_torch_thread):
    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.train import train
    from tweetsmith.engine.training_samples import SAMPLING, SamplesGenerated, fixed_authors

    run = tmp_path / "run"
    config = TrainConfig(
        data=str(small_splits),
        model=str(tiny_llama_dir),
        out=str(run),
        lora=True,
        lora_r=4,
        max_steps=4,
        batch_size=4,
        block_size=32,
        eval_every=2,
        save_every=2,
        logging_steps=1,
        precision="fp32",
        lr=1e-3,
    )
    events = []
    finished = train(config, on_event=events.append)
    card = Card.read(run)
    assert card.status == "completed" and card.started and card.ended
    assert card.reproduce == reproduce_command(config) and card.flags.max_steps == 4
    assert card.data.sha256 == data_summary(small_splits).sha256 and card.model.weights_sha256
    assert card.resolved == RunRecord.read(run)  # the run record as training wrote it
    results = card.results
    assert results.steps == 4 and not results.tokens_seen_estimated
    assert results.tokens_seen == 4 * 4 * 32  # packed blocks: every token useful
    assert results.final_valid_perplexity == pytest.approx(finished.valid_perplexity)
    authors = fixed_authors(read_split_lines(small_splits / "train.txt"))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    sampled = [r for r in rows if "samples" in r]
    assert [r["step"] for r in sampled] == [2, 4] and all("valid_perplexity" in r for r in sampled)
    for row in sampled:
        assert [(s["author"], s["seed"]) for s in row["samples"]] == [
            (a, SAMPLING.seed + i) for i, a in enumerate(authors)
        ]
    generated = [e for e in events if isinstance(e, SamplesGenerated)]
    assert [[s.to_dict() for s in e.samples] for e in generated] == [r["samples"] for r in sampled]
