"""`tweetsmith compare`, `sweep` and `report` on a fake run (tiny base, perturbed final/)."""

from __future__ import annotations

import json

import pytest

from tweetsmith.scripts.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def run(tiny_run):
    return tiny_run


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
    assert (
        main(["sweep", str(run), "--param", "temperature", "--values", "0.5,1.5", "-n", "4", "--max-new-tokens", "8"])
        == 0
    )
    out = capsys.readouterr().out
    assert "0.5   base" in out and "1.5  tuned" in out and "dist-1 vs temperature" in out
    assert (run / "plots" / "sweep-temperature.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((run / "sweep-temperature.json").read_text())
    assert saved["values"] == [0.5, 1.5] and len(list((run / "samples").glob("sweep-temperature-*.jsonl"))) == 4


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--param", "temp", "--values", "1"], "can't sweep 'temp'"),
        (["--param", "top_p", "--values", "0.5,2"], "top_p must be in (0, 1], got 2"),
        (["--values", "a,b"], "must be numbers"),
    ],
)
def test_sweep_bad_values(run, flags, message, capsys):
    assert main(["sweep", str(run), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_report_writes_markdown(run, capsys):
    assert main(["report", str(run), "-n", "3", "--sweeps", "top_p"]) == 0
    path = capsys.readouterr().out.strip()
    text = open(path).read()
    assert "## 2. Perplexity before and after fine-tuning" in text and "![top_p sweep](plots/sweep-top_p.png)" in text
    assert main(["report", str(run), "--no-compute", "--json"]) == 0  # --json: the same file, named in JSON
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"report": path, "run": str(run)} and open(path).read().startswith("# Report")
    assert main(["report", str(run), "--sweeps", "bogus"]) == 2
