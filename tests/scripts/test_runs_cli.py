"""``tweetsmith runs``: the runs of a folder, from their cards (and from config.json for older runs)."""

from __future__ import annotations

import json

from tweetsmith.engine.card import finish_card, start_card
from tweetsmith.engine.train import TrainConfig
from tweetsmith.scripts.cli import main


def make_run(root, name, data, model_dir, best, steps):
    run = root / name
    config = TrainConfig(data=str(data), model=str(model_dir), out=str(run), lora=True, max_steps=steps)
    start_card(
        run,
        config,
        model_spec=str(model_dir),
        model_source="local",
        model_location=str(model_dir),
        device="cpu",
        precision="fp32",
        memo=root / "hashes.json",
    )
    (run / "metrics.jsonl").write_text(json.dumps({"step": steps, "loss": 2.0, "valid_perplexity": best}) + "\n")
    finish_card(run, outcome="completed", steps=steps, seconds=3.0)
    return run


def test_runs_lists_the_cards(tmp_path, small_splits, tiny_llama_dir, capsys, first_record):
    root = tmp_path / "runs"
    make_run(root, "first", small_splits, tiny_llama_dir, 40.5, 10)
    make_run(root, "second", small_splits, tiny_llama_dir, 31.25, 20)
    old = root / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps(first_record(model="gpt2", data="d")))
    assert main(["runs", str(root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert {r["run"].rsplit("/", 1)[1]: (r["method"], r["steps"], r["best_valid_perplexity"]) for r in rows} == {
        "first": ("lora", 10, 40.5),
        "second": ("lora", 20, 31.25),
        "old": ("full", None, None),
    }
    assert main(["runs", str(root)]) == 0
    text = capsys.readouterr().out
    second = next(line for line in text.splitlines() if line.startswith("second"))
    assert "lora" in second and "31.25" in second and "completed" in second
    assert main(["runs", str(tmp_path / "none")]) == 2
