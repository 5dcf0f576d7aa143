"""`tweetsmith eval`: --json output against the engine, --compare table and cache, one-line errors."""

from __future__ import annotations

import json

import pytest

from tweetsmith.engine.models import load_model
from tweetsmith.engine.perplexity import perplexity_of_file
from tweetsmith.scripts.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_eval_json_matches_the_engine(tiny_llama_dir, small_splits, capsys):
    valid, test = small_splits / "valid.txt", small_splits / "test.txt"
    assert main(["eval", "--model", str(tiny_llama_dir), str(valid), str(test), "--stride", "128", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == str(tiny_llama_dir)
    loaded = load_model(str(tiny_llama_dir))
    assert len(out["results"]) == 2
    for row, path in zip(out["results"], (valid, test)):
        expected = perplexity_of_file(loaded, path, stride_tokens=128)
        assert row["file"] == str(path) and row["tokens"] == expected.tokens and row["stride_tokens"] == 128
        assert row["perplexity"] == pytest.approx(expected.perplexity, rel=1e-6)
        assert set(row) >= {"file", "tokens", "perplexity", "nll", "bits_per_byte", "word_perplexity", "stride_tokens"}
        alone = perplexity_of_file(loaded, path, context="record")
        assert row["per_record"]["perplexity"] == pytest.approx(alone.perplexity, rel=1e-6)
        assert row["per_record"]["tokens"] == alone.tokens and row["per_record"]["records"] == expected.records


def test_eval_table_and_stride_capped(tiny_llama_dir, small_splits, capsys):
    assert main(["eval", "--model", str(tiny_llama_dir), str(small_splits / "valid.txt")]) == 0
    captured = capsys.readouterr()
    assert "perplexity" in captured.out and "stride 256" in captured.out
    assert "using 256" in captured.err  # 512 is longer than the tiny model's 256-token window


def test_compare_prints_the_table_and_caches_it(tiny_run, capsys):
    run = tiny_run
    assert main(["eval", "--compare", str(run)]) == 0
    table = capsys.readouterr().out
    cached = json.loads((run / "eval.json").read_text())
    for split in ("valid", "test"):
        base, tuned = cached["base"][split]["perplexity"], cached["tuned"][split]["perplexity"]
        assert f"{split:<8} {'windowed':<11} {base:>10.2f} {tuned:>10.2f} {tuned - base:>+9.2f}" in table
        base, tuned = cached["record"]["base"][split]["perplexity"], cached["record"]["tuned"][split]["perplexity"]
        assert f"{split:<8} {'per record':<11} {base:>10.2f} {tuned:>10.2f} {tuned - base:>+9.2f}" in table
    assert "per record: each record alone after end-of-text" in table
    assert main(["eval", "--compare", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["base"]["valid"]["perplexity"] == pytest.approx(
        cached["base"]["valid"]["perplexity"]
    )


@pytest.mark.parametrize(
    "argv,message",
    [
        (["eval", "--model", "smollm2-135m"], "give FILE(s) to evaluate, or --compare RUN"),
        (
            ["eval", "--model", "smollm2-135m", "x.txt", "--stride", "0"],
            "--stride and --batch-windows must be 1 or more",
        ),
        (["eval", "--compare", "/nonexistent/run"], "not a run directory"),
        (["eval", "--model", "/nonexistent/model", "x.txt"], "no such file or directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
