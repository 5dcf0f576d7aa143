"""``tweetsmith memorisation``: copied shares and worst cases against a brute-force longest common word span."""

from __future__ import annotations

import json

import pytest

from tweetsmith.data.records import parse_line
from tweetsmith.engine.diversity import tokenize, words_of
from tweetsmith.scripts.cli import main


@pytest.fixture()
def setup(tmp_path, monkeypatch, splits_factory):
    monkeypatch.setenv("TWEETSMITH_HOME", str(tmp_path / "home"))  # the index cache goes here
    data = splits_factory(tmp_path / "data", (120, 20, 30))
    train = (data / "train.txt").read_text(encoding="utf-8").splitlines()
    test = (data / "test.txt").read_text(encoding="utf-8").splitlines()
    plain = next(
        line
        for line in train[5:]
        if all(w.isalpha() for w in parse_line(line).text.split()[:9]) and len(parse_line(line).text.split()) >= 12
    )
    texts = (
        [
            parse_line(train[3]).text,  # a training tweet, whole
            "so I said " + " ".join(parse_line(plain).text.split()[:9]) + " and left",  # 9 words of one
            parse_line(train[20]).text.split()[0],  # one word: a whole (short) sample found in train
            "zebra quokka narwhal",
        ]
        + [parse_line(line).text for line in test]
    )
    samples = tmp_path / "samples.txt"
    samples.write_text("".join(f"\\paulg- {t}\n" for t in texts), encoding="utf-8")
    return data, train, texts, samples


def test_share_and_worst_cases_match_brute_force(setup, capsys, brute_longest):
    data, train, texts, samples = setup
    records = [words_of(tokenize(parse_line(line).text)) for line in train]
    longest = []
    for text in texts:
        words = words_of(tokenize(text))
        longest.append(max(brute_longest(words, r) for r in records))
    copied = [n >= 8 or (0 < len(words_of(tokenize(t))) == n) for t, n in zip(texts, longest)]
    assert main(["memorisation", str(samples), "--train", str(data), "--json", "--worst", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == len(texts)
    assert out["copied"] == sum(copied) and copied[:4] == [True, True, True, False]
    assert out["copied_share"] == pytest.approx(sum(copied) / len(texts))
    assert out["longest_span"]["max"] == max(longest)
    assert out["longest_span"]["histogram"] == {str(k): longest.count(k) for k in sorted(set(longest))}
    assert [w["words"] for w in out["worst"]] == sorted(longest, reverse=True)[:4]
    for case in out["worst"]:
        assert case["record_text"] == train[case["record"]]
        assert case["span"] in " ".join(records[case["record"]])

    assert main(["memorisation", str(samples), "--train", str(data)]) == 0
    text = capsys.readouterr().out
    assert f"copied: {sum(copied)} of {len(texts)} samples" in text and "worst cases:" in text
    assert f"training record {out['worst'][0]['record']}: {train[out['worst'][0]['record']]}" in text


def test_jsonl_samples_and_a_run_directory(setup, tmp_path, capsys, run_record_writer):
    from tweetsmith.engine.sample_record import Sample
    from tweetsmith.engine.samples_io import save_samples
    from tweetsmith.engine.sampling import SamplingConfig

    data, train, texts, _ = setup
    run = tmp_path / "run"
    run.mkdir()
    run_record_writer(run, model="m", data=str(data))
    path = save_samples(
        [
            Sample(
                author="a",
                prompt="\\a- ",
                text=t,
                new_tokens=1,
                seconds=1.0,
                first_token_s=None,
                tokens_per_s=1.0,
                config=SamplingConfig(),
                model="m",
                adapter=None,
                seed=i,
            )
            for i, t in enumerate(texts[:4])
        ],
        tmp_path / "s.jsonl",
    )
    assert main(["memorisation", str(path), "--train", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["copied"] == 3


def test_errors(setup, tmp_path, capsys):
    data, _, _, samples = setup
    assert main(["memorisation", str(samples), "--train", str(tmp_path / "nowhere")]) == 2
    assert "no train.txt here" in capsys.readouterr().err
    assert main(["memorisation", str(tmp_path / "missing.jsonl"), "--train", str(data)]) == 2
    assert "no such samples file" in capsys.readouterr().err
