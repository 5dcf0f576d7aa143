"""`tweetsmith metrics`: JSON keys and values against nltk computed here, text and JSONL input."""

from __future__ import annotations

import json

import pytest
from nltk.tokenize import TweetTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from tweetsmith.data.records import parse_line
from tweetsmith.scripts.cli import main


def nltk_self_bleu(texts):
    tok = TweetTokenizer(preserve_case=False)
    lists = [tok.tokenize(t) for t in texts]
    scores = [
        sentence_bleu(
            lists[:i] + lists[i + 1 :], h, weights=(0.25,) * 4, smoothing_function=SmoothingFunction().method1
        )
        for i, h in enumerate(lists)
    ]
    return sum(scores) / len(scores)


def test_json_keys_and_values(small_splits, capsys):
    samples = small_splits / "valid.txt"
    assert main(["metrics", str(samples), "--reference", str(small_splits / "test.txt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"samples", "dist_1", "dist_2", "dist_3", "self_bleu", "overlap", "mean_words", "by_author"} <= set(out)
    assert out["self_bleu_n"] == 4
    lines = samples.read_text().splitlines()
    texts = [parse_line(line).text for line in lines]  # the \author- prefix is stripped before scoring
    assert out["samples"] == len(lines)
    assert out["self_bleu"] == pytest.approx(nltk_self_bleu(texts), abs=1e-6)
    tok = TweetTokenizer(preserve_case=False)
    unigrams = [t for text in texts for t in tok.tokenize(text)]
    assert out["dist_1"] == pytest.approx(len(set(unigrams)) / len(unigrams))
    paulg = [parse_line(line).text for line in lines if parse_line(line).author == "paulg"]
    assert len(paulg) >= 2  # the data gives every author several tweets in every split: self-BLEU is defined
    assert out["by_author"]["paulg"]["samples"] == len(paulg)
    assert out["by_author"]["paulg"]["self_bleu"] == pytest.approx(nltk_self_bleu(paulg), abs=1e-6)
    assert sum(r["samples"] for r in out["by_author"].values()) == len(lines)


def test_jsonl_input_scores_the_generated_text(tmp_path, capsys):
    rows = [
        {"author": "a", "prompt": "\\a- Hi", "text": " there friend", "seed": 0},
        {"author": "b", "prompt": "\\b- Hi", "text": " there pal", "seed": 1},
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["metrics", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # tokens: [there, friend], [there, pal] -> dist-1 = 3/4
    assert out["dist_1"] == pytest.approx(3 / 4) and "overlap" not in out and out["mean_words"] == 2


def test_table_output(small_splits, capsys):
    assert main(["metrics", str(small_splits / "test.txt")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("all") and "sBLEU-4" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["metrics", "/nonexistent.txt"], "no such file"),
        (["metrics", "{valid}", "--bleu-n", "0"], "--bleu-n must be 1 or more"),
    ],
)
def test_errors(argv, message, small_splits, capsys):
    argv = [a.format(valid=small_splits / "valid.txt") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
