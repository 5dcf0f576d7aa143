"""`tweetsmith voice RUN`: per-author attribution and authenticity on a fake run (tiny base, perturbed final/)."""

from __future__ import annotations

import json

import pytest

from tweetsmith.scripts.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = ["--samples", "6", "--max-new-tokens", "8"]


def test_json_is_what_was_written_and_the_table_reads_it(tiny_run, capsys):
    assert main(["voice", str(tiny_run), *FAST, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tiny_run / "voice.json").read_text())
    assert set(printed["sides"]) == {"base", "tuned"} and printed["per_author"] == 6
    authors = printed["authors"]
    for side in printed["sides"].values():
        assert side["samples"] == 6 * len(authors) and set(side["per_author"]) == set(authors)
        assert sum(map(sum, side["confusion"])) == side["samples"]
        hits = sum(side["confusion"][i][i] for i in range(len(authors)))
        assert side["attribution"]["value"] == pytest.approx(hits / side["samples"])  # the diagonal's share
    assert main(["voice", str(tiny_run), *FAST]) == 0  # the same request again: read back, drawn as a table
    table = capsys.readouterr().out
    assert "Attribution:" in table and "Authenticity:" in table and "Confusion (tuned)" in table
    all_row = next(line for line in table.splitlines() if line.startswith("all ") and "[" in line)
    assert f"{printed['classifier']['test_accuracy']['value']:.2f}" in all_row
    assert f"{printed['sides']['tuned']['attribution']['value']:.2f}" in all_row


def test_a_bad_run_path_is_one_line(tmp_path, capsys):
    assert main(["voice", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run directory" in err and "nowhere" in err


def test_too_few_samples_is_one_line(tiny_run, capsys):
    assert main(["voice", str(tiny_run), "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--samples must be 2 or more" in err


def test_one_author_run_reports_authenticity_and_why_attribution_is_absent(
    tmp_path, tiny_llama_dir, tweets_factory, tuned_run_factory, capsys
):
    lines = [f"\\solo- {line.split('- ', 1)[1]}" for line in tweets_factory(160, seed=3)]
    data = tmp_path / "solo"
    data.mkdir()
    for split, part in (("train", lines[:100]), ("valid", lines[100:130]), ("test", lines[130:])):
        (data / f"{split}.txt").write_text("\n".join(part) + "\n", encoding="utf-8")
    run = tuned_run_factory(tmp_path, tiny_llama_dir, data)
    assert main(["voice", str(run), "--samples", "12", "--max-new-tokens", "8"]) == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if "attribution" in line]
    assert len(notes) == 1 and "needs two or more authors" in notes[0] and "@solo" in notes[0]
    assert "Attribution:" not in captured.out and "Authenticity:" in captured.out
    saved = json.loads((run / "voice.json").read_text())
    assert saved["classifier"] is None and saved["authors"] == ["solo"]
    for side in saved["sides"].values():
        assert side["attribution"] is None and side["authenticity"]["n"] == 24  # 12 samples, 12 test tweets
