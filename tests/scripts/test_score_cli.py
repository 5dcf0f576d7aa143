"""``tweetsmith score``: a file's mean agrees with ``tweetsmith eval``; texts under base and tuned."""

from __future__ import annotations

import json

import pytest

from tweetsmith.scripts.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory, tiny_llama_dir):
    """A LoRA adapter with random (non-zero) weights on the tiny model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(out)
    return out


def test_a_files_mean_agrees_with_eval(tmp_path, tiny_llama_dir, splits_factory, capsys):
    """ "Agree" means equal: both are the mean NLL per predicted token of the file's records (each +
    end-of-text), concatenated, by the same sliding windows; here the file spans several windows."""
    data = splits_factory(tmp_path / "data", (30, 40, 10))
    valid = str(data / "valid.txt")
    evaluated = run_json(capsys, ["eval", valid, "--model", str(tiny_llama_dir), "--json"])["results"][0]
    scored = run_json(capsys, ["score", "--file", valid, "--model", str(tiny_llama_dir), "--json"])["sides"]["base"]
    assert evaluated["tokens"] > 256  # more than one window of the tiny model
    assert scored["tokens"] == evaluated["tokens"]
    assert scored["nll"] == pytest.approx(evaluated["nll"], rel=1e-5)
    assert scored["perplexity"] == pytest.approx(evaluated["perplexity"], rel=1e-5)
    assert len(scored["by_record"]) == scored["records"] == 40
    assert scored["text_nll"] > 0


def test_embedded_model_file_mean_agrees_with_eval(tmp_path, embedded_dir, tweets_factory, capsys):
    lines = tweets_factory(12, seed=4)
    path = tmp_path / "few.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    evaluated = run_json(capsys, ["eval", str(path), "--model", "smollm2-135m", "--json"])["results"][0]
    scored = run_json(capsys, ["score", "--file", str(path), "--model", "smollm2-135m", "--json"])["sides"]["base"]
    assert scored["tokens"] == evaluated["tokens"]
    assert scored["nll"] == pytest.approx(evaluated["nll"], rel=1e-5)


def test_texts_under_base_and_tuned(tiny_llama_dir, adapter_dir, capsys):
    out = run_json(
        capsys,
        [
            "score",
            "\\paulg- The best startups",
            "plain words here",
            "--author",
            "@sama",
            "--model",
            str(tiny_llama_dir),
            "--adapter",
            str(adapter_dir),
            "--json",
            "--top",
            "3",
        ],
    )
    assert out["sides"] == ["base", "tuned"]
    first, second = out["texts"]
    assert (first["author"], first["text"]) == ("paulg", "The best startups")
    assert (second["author"], second["text"]) == ("sama", "plain words here")
    for entry in out["texts"]:
        base, tuned = entry["base"], entry["tuned"]
        assert [t["piece"] for t in base["tokens"]] == [t["piece"] for t in tuned["tokens"]]
        scored = [t["logprob"] for t in base["tokens"] if not t["context"]]
        assert base["mean_logprob"] == pytest.approx(sum(scored) / len(scored))
        changes = sorted(
            (tt["logprob"] - bt["logprob"] for bt, tt in zip(base["tokens"], tuned["tokens"]) if not bt["context"]),
            key=abs,
            reverse=True,
        )[:3]
        assert [d["change"] for d in entry["disagreements"]] == pytest.approx(changes)
    assert "".join(t["piece"] for t in first["base"]["tokens"]) == "\\paulg- The best startups"
    assert (
        main(["score", "\\paulg- The best startups", "--model", str(tiny_llama_dir), "--adapter", str(adapter_dir)])
        == 0
    )
    text = capsys.readouterr().out
    assert "base   mean log-prob" in text and "tuned  mean log-prob" in text and "most changed by tuning" in text


@pytest.mark.parametrize(
    "argv,message",
    [
        (["score"], "give TEXT(s) to score"),
        (["score", "hi", "--file", "x.txt"], "not both"),
        (["score", "hi", "--run", "r", "--model", "m"], "drop --model"),
    ],
)
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
