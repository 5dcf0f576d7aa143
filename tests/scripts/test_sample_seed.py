"""`tweetsmith sample` without --seed draws a fresh seed each call and prints it; --seed N gives the sample again."""

from __future__ import annotations

import json
import re

import pytest

from tweetsmith.scripts.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _json_samples(capsys, argv):
    assert main(argv) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out)["samples"], captured.err


def test_fresh_seed_each_call_and_seed_reproduces(tiny_llama_dir, capsys):
    base = ["sample", "--model", str(tiny_llama_dir), "--author", "paulg", "--max-new-tokens", "12", "--json"]
    first, err = _json_samples(capsys, base)
    second, _ = _json_samples(capsys, base)
    assert first[0]["seed"] != second[0]["seed"]  # fresh seeds: equal with probability 2**-31
    assert f"seed {first[0]['seed']}" in err  # printed with the samples
    again, _ = _json_samples(capsys, [*base, "--seed", str(first[0]["seed"])])
    assert (again[0]["seed"], again[0]["text"]) == (first[0]["seed"], first[0]["text"])


def test_streamed_sample_prints_its_seed_and_n_samples_their_range(tiny_llama_dir, capsys):
    assert main(["sample", "--model", str(tiny_llama_dir), "--author", "sama", "--max-new-tokens", "6"]) == 0
    err = capsys.readouterr().err
    seed = int(re.search(r"seed (\d+):", err).group(1))
    assert (
        main(
            [
                "sample",
                "--model",
                str(tiny_llama_dir),
                "--author",
                "sama",
                "--max-new-tokens",
                "6",
                "--seed",
                str(seed),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["samples"][0]["seed"] == seed

    samples, err = _json_samples(
        capsys,
        ["sample", "--model", str(tiny_llama_dir), "--author", "sama", "-n", "3", "--max-new-tokens", "6", "--json"],
    )
    first = samples[0]["seed"]
    assert [s["seed"] for s in samples] == [first, first + 1, first + 2]
    assert f"seeds {first}..{first + 2}" in err and f"--seed {first}" in err


def test_help_says_the_default_seed_is_fresh(capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    assert "a fresh seed each call" in " ".join(capsys.readouterr().out.split())  # argparse wraps lines
