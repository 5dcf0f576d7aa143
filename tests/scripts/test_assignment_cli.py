"""`tweetsmith assignment`: raw tweets -> DIR/report.md on a tiny model; cached, retrain-aware, resumable after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tweetsmith.data.records import parse_line
from tweetsmith.scripts.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STAGES = [
    "prepare",
    "perplexity before",
    "train",
    "perplexity after",
    "compare",
    "sweep temperature",
    "sweep top_k",
    "sweep top_p",
    "report",
]


def _argv(source: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        "assignment",
        str(source),
        "--out",
        str(out),
        "--model",
        str(model),
        "--max-steps",
        "2",
        "--samples",
        "4",
        "--max-new-tokens",
        "6",
        "--precision",
        "fp32",
        "--block-size",
        "32",
        "--batch-size",
        "4",
        *extra,
    ]


def _raw_tweets(path: Path, tweets_factory) -> Path:
    """A scraped-looking input: tweets with junk, one with mojibake and one with an HTML entity."""
    lines = tweets_factory(160, seed=3, noise=True)
    broken = "don’t".encode().decode("cp1252")
    lines += [f"\\paulg- founders {broken} quit", "\\sama- Q&amp;A with founders tonight"]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _stages(out: Path) -> dict:
    return json.loads((out / "assignment.json").read_text())["stages"]


def _comparable(report: str, out: Path) -> str:
    """The report without what legitimately differs between two runs: where it lives, speeds, stage times."""
    report = report.split("## 8. How long each stage took")[0].replace(str(out), "DIR")
    return "\n".join(line for line in report.splitlines() if "tokens/s" not in line and not line.startswith("| run "))


def test_raw_tweets_to_report_then_cached_then_retrained(tmp_path, tiny_llama_dir, tweets_factory, capsys):
    source = _raw_tweets(tmp_path / "tweets.txt", tweets_factory)
    out = tmp_path / "A"
    assert main(_argv(source, out, tiny_llama_dir)) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[-1] == str(out / "report.md")
    assert all(re.search(rf"^{re.escape(stage)}\s+(\d+s|\d+m\d\ds|\d+h\d\dm)$", printed, re.M) for stage in STAGES)
    stages = _stages(out)
    assert list(stages) == STAGES and not any(s["cached"] for s in stages.values())
    report = (out / "report.md").read_text()
    for number in range(1, 9):
        assert f"## {number}. " in report
    # The dataset section agrees with the split files, counted here independently.
    splits = ""
    for split in ("train", "valid", "test"):
        lines = [line for line in (out / "data" / f"{split}.txt").read_text().splitlines() if line.strip()]
        words = sum(len(parse_line(line).text.split()) for line in lines)
        assert f"| {split} | {len(lines):,} | " in report and f"| {words:,} |" in report
        splits += "\n".join(lines)
    assert "founders don’t quit" in splits and "Q&A with founders" in splits
    assert "by mojibake" in report and "by html entities" in report and "Split 0.8/0.1/0.1 by author, seed 0." in report
    assert "the same `tweetsmith assignment` command with `--ablation`" in report  # how to measure the flags

    # The same command again computes nothing but the report, and the report says the same.
    first_compare = json.loads((out / "run" / "compare.json").read_text())
    first_batches = set((Path(os.environ["TWEETSMITH_CACHE"]) / "samples").glob("*.json"))  # base's and tuned's
    capsys.readouterr()
    assert main(_argv(source, out, tiny_llama_dir, "--json")) == 0
    assert {s for s, v in _stages(out).items() if not v["cached"]} == {"report"}
    printed = json.loads(capsys.readouterr().out)  # --json: what assignment.json says, on stdout
    assert printed["report"] == str(out / "report.md") and printed["run"] == str(out / "run")
    recorded = _stages(out)
    assert [(s["stage"], s["cached"]) for s in printed["stages"]] == [
        (name, v["cached"]) for name, v in recorded.items()
    ]
    assert [s["seconds"] for s in printed["stages"]] == pytest.approx(
        [v["seconds"] for v in recorded.values()], abs=0.01
    )
    assert _comparable((out / "report.md").read_text(), out) == _comparable(report, out)

    # A new training setting: the stages after training run again, the ones before do not.
    assert main(_argv(source, out, tiny_llama_dir, "--lr", "0.01")) == 0
    stages = _stages(out)
    assert [s for s in STAGES if stages[s]["cached"]] == ["prepare", "perplexity before"]
    assert (out / "run-old-1" / "final").is_dir()  # the previous run is kept aside, not deleted
    second_compare = json.loads((out / "run" / "compare.json").read_text())
    assert second_compare["final_mtime"] > first_compare["final_mtime"]
    moved = first_compare["sides"]["tuned"]["file"].replace(f"{os.sep}run{os.sep}", f"{os.sep}run-old-1{os.sep}")
    tuned_before = [json.loads(line)["text"] for line in Path(moved).read_text().splitlines()]
    tuned_after = [
        json.loads(line)["text"] for line in Path(second_compare["sides"]["tuned"]["file"]).read_text().splitlines()
    ]
    assert tuned_before != tuned_after
    # The base model did not change: its samples are the same ones, read back from the cache.
    assert (
        second_compare["sides"]["base"]["file"].rsplit("-", 1)[1]
        == first_compare["sides"]["base"]["file"].rsplit("-", 1)[1]
    )
    new = set((Path(os.environ["TWEETSMITH_CACHE"]) / "samples").glob("*.json")) - first_batches
    assert len(new) == len(first_batches) // 2  # every tuned batch drawn again, no base batch
    report = (out / "report.md").read_text()
    assert "| run-old-1 |" in report and "| lr |" in report  # the flags section compares the two runs


def _spawn(argv: list[str], cache: Path) -> subprocess.Popen:
    env = {**os.environ, "TWEETSMITH_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tweetsmith.scripts.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def test_killed_in_the_middle_of_a_stage_resumes_to_the_same_report(tmp_path, tiny_llama_dir, tweets_factory):
    source = _raw_tweets(tmp_path / "tweets.txt", tweets_factory)
    slow = ("--samples", "8", "--sample-batch-size", "2", "--max-new-tokens", "12")  # 4 batches a model and point
    # Uninterrupted, with its own caches.
    whole = _spawn(_argv(source, tmp_path / "whole", tiny_llama_dir, *slow), tmp_path / "cache-whole")
    assert whole.wait(timeout=600) == 0, whole.stderr.read().decode()[-2000:]
    # Killed once 3 sample batches are stored (the compare stage draws 8), then the same command again.
    cache = tmp_path / "cache-killed"
    killed = _spawn(_argv(source, tmp_path / "killed", tiny_llama_dir, *slow), cache)
    while len(list((cache / "samples").glob("*.json"))) < 3:
        assert killed.poll() is None, "finished before it could be killed: " + killed.stderr.read().decode()[-2000:]
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert not (tmp_path / "killed" / "report.md").exists()
    before = {p.name: p.stat().st_mtime_ns for p in (cache / "samples").glob("*.json")}
    resumed = _spawn(_argv(source, tmp_path / "killed", tiny_llama_dir, *slow), cache)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()[-2000:]
    stages = _stages(tmp_path / "killed")
    assert stages["train"]["cached"] and not stages["compare"]["cached"]
    # Every batch stored before the kill was read back, not drawn again.
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "samples").glob("*.json") if p.name in before} == before
    assert _comparable((tmp_path / "killed" / "report.md").read_text(), tmp_path / "killed") == _comparable(
        (tmp_path / "whole" / "report.md").read_text(), tmp_path / "whole"
    )


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--samples", "1"], "--samples must be 2 or more"),
        (["--sample-batch-size", "0"], "--sample-batch-size must be 1 or more"),
        (["--lr", "-1"], "--lr must be positive"),
        (["--eval-tokens", "-5"], "--eval-tokens must be 0"),
        (["--ablation", "-1"], "--ablation STEPS must be 1 or more"),
    ],
)
def test_bad_flags_are_one_line_errors_and_write_nothing(
    tmp_path, tiny_llama_dir, tweets_factory, flags, message, capsys
):
    source = _raw_tweets(tmp_path / "tweets.txt", tweets_factory)
    assert main(_argv(source, tmp_path / "A", tiny_llama_dir, *flags)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "A").exists()


def test_writing_without_authors_gets_the_files_name_and_runs_to_the_report(
    tmp_path, tiny_llama_dir, tweets_factory, capsys
):
    """Anyone's writing: a plain text file with no author prefix gets its file's name as author, said once at
    the start, and every stage (compare and the sweeps prompt by author) runs on it."""
    lines = [parse_line(line).text for line in tweets_factory(160, seed=4)]
    source = tmp_path / "diary.txt"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    out = tmp_path / "A"
    assert main(_argv(source, out, tiny_llama_dir)) == 0
    err = capsys.readouterr().err
    assert err.count("no author in diary.txt: records are by 'diary'") == 1
    train = (out / "data" / "train.txt").read_text(encoding="utf-8").splitlines()
    assert train and all(line.startswith("\\diary- ") for line in train)
    compare = json.loads((out / "run" / "compare.json").read_text())
    samples = [json.loads(x) for x in Path(compare["sides"]["tuned"]["file"]).read_text().splitlines()]
    assert {s["author"] for s in samples} == {"diary"}
    assert (out / "report.md").is_file()


def test_missing_input_is_one_line_error(tmp_path, tiny_llama_dir, capsys):
    assert main(_argv(tmp_path / "nope.txt", tmp_path / "A", tiny_llama_dir)) == 2
    err = capsys.readouterr().err
    assert "nope.txt" in err and err.count("\n") == 1
    assert not (tmp_path / "A").exists()


def test_ablation_trains_one_flag_changed_each_and_tables_the_same_valid_records(
    tmp_path, tiny_llama_dir, tweets_factory
):
    from tweetsmith.engine.ablation import ABLATION_EVAL_TOKENS, ABLATION_SAMPLES
    from tweetsmith.engine.experiments import authors_from_split
    from tweetsmith.engine.generate import generate_samples
    from tweetsmith.engine.memorisation import index_for_data
    from tweetsmith.engine.models import load_run_model
    from tweetsmith.engine.perplexity import perplexity_of_file
    from tweetsmith.engine.perplexity_cache import cached_perplexity_of_file
    from tweetsmith.engine.run_record import RunRecord
    from tweetsmith.engine.sample_problems import problems
    from tweetsmith.engine.sampling import SamplingConfig

    source = _raw_tweets(tmp_path / "tweets.txt", tweets_factory)
    out = tmp_path / "A"
    # LoRA, --max-steps 2 and --ablation 2: the main run is the ablation's baseline; --eval-tokens caps perplexity.
    flags = ("--lora", "--eval-tokens", "300")
    assert main(_argv(source, out, tiny_llama_dir, "--ablation", "2", *flags)) == 0
    stages = _stages(out)
    assert [s for s in stages if not s.startswith("ablation ")] == [*STAGES[:-1], "ablation", "report"]
    ablation = json.loads((out / "ablation" / "ablation.json").read_text())
    rows = {r["name"]: r for r in ablation["rows"]}
    assert (
        list(rows) == ["baseline", "pack-concat", "no-pack", "full", "lr-half", "lr-double"] and ablation["steps"] == 2
    )
    assert not (out / "ablation" / "baseline").exists()  # the main run was reused, not trained again
    configs = {name: RunRecord.read(out / "ablation" / name) for name in rows if name != "baseline"}
    # --eval-tokens reached every training (none evaluated here: --eval-every is 0 in the assignment)
    assert RunRecord.read(out / "run").eval_tokens == 300 and {c.eval_tokens for c in configs.values()} == {300}
    assert configs["no-pack"].pack == "off" and configs["pack-concat"].pack == "concat"
    assert configs["full"].method == "full"
    assert configs["full"].lr == pytest.approx(5e-5)  # a full fine-tune at its own default learning rate
    assert configs["lr-half"].lr == pytest.approx(1.5e-4) and configs["lr-double"].lr == pytest.approx(6e-4)
    assert all(c.max_steps == 2 and c.seed == 42 for c in configs.values())
    # Every row is the perplexity of the same valid records, computed here without the cache.
    valid = out / "data" / "valid.txt"
    index = index_for_data(out / "data")
    for name, row in rows.items():
        loaded = load_run_model(out / "run" if name == "baseline" else out / "ablation" / name, tuned=True)
        expected = perplexity_of_file(loaded, valid, stride_tokens=512, max_tokens=ABLATION_EVAL_TOKENS)
        assert row["valid_perplexity"] == pytest.approx(expected.perplexity, rel=1e-5)
        assert expected.records == ablation["records"]
        # each record alone, on the same records: a plain loop scoring one record at a time
        assert row["record_perplexity"] == pytest.approx(_one_at_a_time(loaded, valid, expected.records), rel=1e-4)
        # its samples, checked by the report's rules, again independently
        drawn = generate_samples(
            loaded,
            authors_from_split(out / "data" / "train.txt", ABLATION_SAMPLES, seed=0),
            SamplingConfig(max_new_tokens=6),
            batch_size=16,
        )
        assert row["samples"] == ABLATION_SAMPLES
        assert row["with_problem"] == sum(1 for s in drawn if problems(s) or index.match_many([s.text])[0].copied)
    assert len({round(r["valid_perplexity"], 6) for r in rows.values()}) == 6  # each flag changed the result
    report = (out / "report.md").read_text()
    assert "| no-pack | one record per example (`--pack off`) |" in report and "| untuned | no fine-tuning |" in report
    assert f"| {rows['full']['with_problem']} of {ABLATION_SAMPLES} |" in report
    # --eval-tokens: each split's leading records within 300 tokens, said in the report and in eval.json.
    comparison = json.loads((out / "run" / "eval.json").read_text())
    assert comparison["max_tokens"] == 300
    base = load_run_model(out / "run", tuned=False)
    expected, _ = cached_perplexity_of_file(base, valid, max_tokens=300)
    total = len([line for line in valid.read_text().splitlines() if line.strip()])
    assert comparison["base"]["valid"]["records"] == expected.records < total
    assert f"{expected.records:,} of {total:,} valid records" in report

    # The same command again: every short run and every score comes back from the caches.
    assert main(_argv(source, out, tiny_llama_dir, "--ablation", "2", *flags)) == 0
    assert _stages(out)["ablation"]["cached"]
    # Another step budget: the baseline is now a short run of its own, and every variant trains again.
    assert main(_argv(source, out, tiny_llama_dir, "--ablation", "3", *flags)) == 0
    assert RunRecord.read(out / "ablation" / "baseline").max_steps == 3
    assert (out / "ablation" / "no-pack-old-1" / "final").is_dir()
    assert not _stages(out)["ablation"]["cached"] and _stages(out)["train"]["cached"]


def _one_at_a_time(loaded, valid, records: int) -> float:
    """Per-record perplexity of the first ``records`` valid records by a plain loop: end-of-text, the record,
    end-of-text; the NLL of every token after the first end-of-text, summed over records."""
    import math

    import torch

    lines = [line for line in valid.read_text().splitlines() if line.strip()][:records]
    eot, nll, count = loaded.special.eot_id, 0.0, 0
    for line in lines:
        ids = torch.tensor([[eot, *loaded.tokenizer(line, add_special_tokens=False)["input_ids"], eot]])
        with torch.no_grad():
            logits = loaded.model(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[0, :-1], dim=-1)
        nll -= logp.gather(1, ids[0, 1:, None]).sum().item()
        count += ids.shape[1] - 1
    return math.exp(nll / count)


def test_eval_tokens_is_one_flag_that_caps_the_trainings_evaluations_too(tmp_path, monkeypatch):
    """The assignment's own --eval-tokens (TrainConfig's is left out: no second flag) goes into the train config,
    and the pipeline gives training its resolved value: --eval-every N scores the records the stages score."""
    import argparse

    from tweetsmith.data.prepare import PrepareConfig
    from tweetsmith.engine import assignment
    from tweetsmith.engine.experiments import Cancelled
    from tweetsmith.engine.train_config import TrainConfig
    from tweetsmith.scripts import assignment_cmd

    parser = argparse.ArgumentParser()
    assignment_cmd.add_arguments(parser)
    assert [a.dest for a in parser._actions if "--eval-tokens" in a.option_strings] == ["eval_tokens"]

    asked = []

    def capture(config, **_):
        asked.append(config)
        raise Cancelled("captured")

    monkeypatch.setattr(assignment, "run_assignment", capture)
    source = tmp_path / "tweets.txt"
    argv = ["assignment", str(source), "--out", str(tmp_path / "A"), "--eval-every", "5"]
    assert main([*argv, "--eval-tokens", "300"]) == assignment_cmd.EXIT_STOPPED
    assert main(argv) == assignment_cmd.EXIT_STOPPED
    assert [(c.eval_tokens, c.train.eval_tokens, c.train.eval_every) for c in asked] == [(300, 300, 5), (None, None, 5)]

    # run_assignment's pipeline resolves None once, for the perplexity stages and the training alike
    monkeypatch.setattr(assignment, "default_eval_tokens", lambda: 1234)
    pipeline = assignment._Pipeline(asked[1], None, None)
    assert pipeline.eval_tokens == pipeline.config.train.eval_tokens == 1234
    assert assignment._Pipeline(asked[0], None, None).config.train.eval_tokens == 300
    # the app's `/assignment eval_tokens=N` sets the training field: it caps the stages too
    from_app = assignment.AssignmentConfig("out", PrepareConfig(), TrainConfig(eval_tokens=700))
    assert assignment._Pipeline(from_app, None, None).eval_tokens == 700
