"""`tweetsmith sample`: JSON output, saved files, authors from the data, one-line errors."""

from __future__ import annotations

import json

import pytest

from tweetsmith.engine.generate import generate_samples
from tweetsmith.engine.models import load_model
from tweetsmith.engine.samples_io import load_samples, read_scored_texts
from tweetsmith.engine.sampling import SamplingConfig
from tweetsmith.scripts.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_json_samples_equal_the_engine(tiny_llama_dir, tmp_path, capsys):
    out_file = tmp_path / "s.jsonl"
    argv = [
        "sample",
        "--model",
        str(tiny_llama_dir),
        "--author",
        "paulg",
        "-n",
        "3",
        "--temperature",
        "0.8",
        "--max-new-tokens",
        "12",
        "--seed",
        "7",
        "--prompt",
        "Startups",
        "--out",
        str(out_file),
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["seed"] for s in out["samples"]] == [7, 8, 9]
    assert all(s["prompt"] == "\\paulg- Startups" and s["config"]["temperature"] == 0.8 for s in out["samples"])
    expected = generate_samples(
        load_model(str(tiny_llama_dir)),
        ["paulg"] * 3,
        SamplingConfig(temperature=0.8, max_new_tokens=12, seed=7),
        text="Startups",
    )
    assert [s["text"] for s in out["samples"]] == [s.text for s in expected]
    saved = load_samples(out_file)
    assert [s.text for s in saved] == [s.text for s in expected] and saved[0].model == str(tiny_llama_dir)
    # appending keeps the earlier samples
    assert main(argv) == 0
    assert len(load_samples(out_file)) == 6


def test_one_author_streams_and_text_out(tiny_llama_dir, tmp_path, capsys):
    out_file = tmp_path / "s.txt"
    assert (
        main(
            [
                "sample",
                "--model",
                str(tiny_llama_dir),
                "--author",
                "@sama",
                "--max-new-tokens",
                "8",
                "--temperature",
                "0",
                "--out",
                str(out_file),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith("\\sama- ")
    items = read_scored_texts(out_file)
    assert len(items) == 1 and items[0].author == "sama" and printed.strip() == out_file.read_text().strip()


def test_authors_drawn_from_the_training_data(tiny_llama_dir, small_splits, capsys):
    assert (
        main(
            [
                "sample",
                "--model",
                str(tiny_llama_dir),
                "--data",
                str(small_splits),
                "-n",
                "5",
                "--max-new-tokens",
                "5",
                "--json",
            ]
        )
        == 0
    )
    authors = {s["author"] for s in json.loads(capsys.readouterr().out)["samples"]}
    train_authors = {
        line.split("- ", 1)[0].lstrip("\\") for line in (small_splits / "train.txt").read_text().splitlines()
    }
    assert authors and authors <= train_authors


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--temperature", "9"], "temperature must be in 0..5, got 9"),
        (["--top-p", "0"], "top_p must be in (0, 1], got 0"),
        (["--max-new-tokens", "0"], "max_new_tokens must be in 1..1024, got 0"),
        (["--batch-size", "0"], "--batch-size must be 1 or more"),
        (["--base"], "--base needs --run RUN"),
        (["-n", "0"], "num_samples must be in 1..100000, got 0"),
    ],
)
def test_bad_values_one_line_exit_2(flags, message, tiny_llama_dir, capsys):
    assert main(["sample", "--model", str(tiny_llama_dir), "--author", "paulg", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_no_author_and_no_data_is_an_error(tiny_llama_dir, capsys):
    assert main(["sample", "--model", str(tiny_llama_dir)]) == 2
    assert "give --author NAME, or --run RUN / --data DIR" in capsys.readouterr().err


# --- control characters: never in what `sample` prints or saves ---------------------------------------

CONTROL = {chr(c) for c in [*range(0x00, 0x0A), *range(0x0B, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]}


def _forced_model(model_dir, pieces):
    """The tiny model forced to produce the tokens of ``pieces`` (each encoded alone), then end-of-text."""
    loaded = load_model(str(model_dir))
    tokenizer = loaded.tokenizer
    ids = [i for p in pieces for i in tokenizer(p, add_special_tokens=False)["input_ids"]] + [loaded.eot_id]
    step = [0]

    def force(module, args, output):
        if args[0].shape[1] > 1:  # the prompt's pass: a new sample starts
            step[0] = 0
        output[:, -1, ids[min(step[0], len(ids) - 1)]] += 100.0
        step[0] += 1
        return output

    loaded.model.get_output_embeddings().register_forward_hook(force)
    return loaded


@pytest.mark.parametrize(
    "pieces,text",
    [
        ((" Hello", "\r", "world"), "Hello"),
        ((" red", " \x1b[31mhot", "\x00", "\u2028", "gone"), "red [31mhot"),
        ((" next", "\x85", "gone"), "next"),
    ],
    ids=["CR", "ESC-NUL-U+2028", "NEL"],
)
def test_sample_files_and_output_hold_no_control_character(pieces, text, tiny_llama_dir, tmp_path, capsys, monkeypatch):
    from tweetsmith.scripts import eval_cmd

    loaded = _forced_model(tiny_llama_dir, pieces)
    monkeypatch.setattr(eval_cmd, "load_from_args", lambda args: loaded)
    jsonl, lines = tmp_path / "s.jsonl", tmp_path / "s.txt"
    assert (
        main(["sample", "--model", "forced", "--author", "paulg", "-n", "2", "--out", str(jsonl), "--seed", "5"]) == 0
    )
    assert (
        main(["sample", "--model", "forced", "--author", "sama", "--out", str(lines), "--seed", "5"]) == 0
    )  # streamed
    printed = capsys.readouterr().out
    assert printed.split("\n") == [f"\\paulg- {text}", f"\\paulg- {text}", f"\\sama- {text}", ""]
    raw = jsonl.read_text(encoding="utf-8")
    assert raw.splitlines() == raw.split("\n")[:-1] and len(raw.split("\n")) == 3  # only "\n" ends its lines
    assert [json.loads(line)["text"] for line in raw.split("\n")[:-1]] == [text, text]
    assert [s.text for s in load_samples(jsonl)] == [text, text]
    assert lines.read_bytes() == f"\\sama- {text}\n".encode()
    for content in (printed, raw, lines.read_text(encoding="utf-8")):
        assert not CONTROL & set(content.replace("\n", ""))
