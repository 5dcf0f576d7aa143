"""`tweetsmith compare`, `sweep` and `report` on a fake run (tiny base, perturbed final/)."""

from __future__ import annotations

import json

import pytest

from tweetsmith.scripts.cli import main



@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_run(root, tiny_llama_dir, splits):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = root / "run"
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    torch.manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model.save_pretrained(run / "final")
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(run / "final")
    (run / "config.json").write_text(json.dumps({"model": str(tiny_llama_dir), "method": "full", "data": str(splits)}))
    return run


@pytest.fixture()
def run(tmp_path, tiny_llama_dir, small_splits):
    return make_run(tmp_path, tiny_llama_dir, small_splits)


def test_compare_side_by_side(run, capsys):
    assert main(["compare", str(run), "-n", "6", "--max-new-tokens", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["sides"]) == {"base", "tuned"} and out["n"] == 6
    for side in out["sides"].values():
        assert side["samples"] == 6 and 0 <= side["overlap"] <= 1
    assert main(["compare", str(run), "-n", "4", "--max-new-tokens", "6"]) == 0
    table = capsys.readouterr().out
    assert "overlap (word tokens in test vocab)" in table and "base" in table and "tuned" in table


def test_sweep_table_png_and_json(run, capsys):
    assert main(["sweep", str(run), "--param", "temperature", "--values", "0.5,1.5", "-n", "4", "--max-new-tokens", "8"]) == 0
    out = capsys.readouterr().out
    assert "0.5   base" in out and "1.5  tuned" in out and "dist-1 vs temperature" in out
    assert (run / "plots" / "sweep-temperature.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((run / "sweep-temperature.json").read_text())
    assert saved["values"] == [0.5, 1.5] and len(list((run / "samples").glob("sweep-temperature-*.jsonl"))) == 4


@pytest.mark.parametrize("flags,message", [
    (["--param", "temp", "--values", "1"], "can't sweep 'temp'"),
    (["--param", "top_p", "--values", "0.5,2"], "top_p must be in (0, 1], got 2"),
    (["--values", "a,b"], "must be numbers"),
])
def test_sweep_bad_values(run, flags, message, capsys):
    assert main(["sweep", str(run), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_report_writes_markdown(run, capsys):
    assert main(["report", str(run), "-n", "3", "--sweeps", "top_p"]) == 0
    path = capsys.readouterr().out.strip()
    text = open(path).read()
    assert "## 2. Perplexity before and after fine-tuning" in text and "![top_p sweep](plots/sweep-top_p.png)" in text
    assert main(["report", str(run), "--sweeps", "bogus"]) == 2
