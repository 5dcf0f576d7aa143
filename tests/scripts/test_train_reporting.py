"""`tweetsmith train --report-to tensorboard` and `--early-stopping N`, in-process on a tiny model.

TensorBoard's own reader (``EventAccumulator``) reads back what the run wrote under RUN/tensorboard and is
compared with metrics.jsonl, which our monitor writes apart from it. Early stopping is driven by a scripted
sequence of valid perplexities, so the step it must stop at is known in advance.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from tweetsmith.engine.card_record import Card
from tweetsmith.scripts.cli import main


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Tiny models: one torch thread (see tests/conftest.py)."""


def _args(model, data, out, *extra):
    return [
        "train",
        "--data",
        str(data),
        "--model",
        str(model),
        "--out",
        str(out),
        "--block-size",
        "32",
        "--batch-size",
        "4",
        "--logging-steps",
        "1",
        "--precision",
        "fp32",
        "--lora",
        "--lora-r",
        "4",
        *extra,
    ]


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_report_to_tensorboard_writes_loss_lr_perplexity_and_tokens_per_s(
    tiny_llama_dir, small_splits, tmp_path, capsys
):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    code = main(
        _args(
            tiny_llama_dir,
            small_splits,
            run,
            "--max-steps",
            "4",
            "--eval-every",
            "2",
            "--save-every",
            "0",
            "--report-to",
            "tensorboard",
        )
    )
    assert code == 0, capsys.readouterr().err
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    metrics = _metrics(run)
    logged = [m for m in metrics if "loss" in m]
    assert [s for s, _ in scalars["train/loss"]] == [m["step"] for m in logged] == [1, 2, 3, 4]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([m["loss"] for m in logged], rel=1e-6)
    assert [v for _, v in scalars["train/learning_rate"]] == pytest.approx([m["lr"] for m in logged], rel=1e-6)
    assert [v for _, v in scalars["train/tokens_per_s"]] == pytest.approx([m["tokens_per_s"] for m in logged], rel=1e-3)
    evaluated = [m for m in metrics if "valid_perplexity" in m]
    assert scalars["eval/valid_perplexity"] == [
        (m["step"], pytest.approx(m["valid_perplexity"], rel=1e-6)) for m in evaluated
    ]
    assert [m["step"] for m in evaluated] == [2, 4]


def test_report_to_tensorboard_without_the_package_is_one_line(
    tiny_llama_dir, small_splits, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard now fails, as when it is not installed
    code = main(_args(tiny_llama_dir, small_splits, tmp_path / "run", "--report-to", "tensorboard"))
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [
        "tweetsmith: error: --report-to tensorboard needs the tensorboard package: pip install tensorboard==2.21.0 "
        "(or drop --report-to)"
    ]
    assert not (tmp_path / "run").exists()


def test_early_stopping_needs_evaluations(tiny_llama_dir, small_splits, tmp_path, capsys):
    code = main(_args(tiny_llama_dir, small_splits, tmp_path / "run", "--early-stopping", "2", "--eval-every", "0"))
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [
        "tweetsmith: error: --early-stopping counts evaluations, and --eval-every 0 runs none: set --eval-every N, "
        "or drop --early-stopping"
    ]


def test_early_stopping_stops_after_n_evaluations_without_improvement(
    tiny_llama_dir, small_splits, tmp_path, capsys, monkeypatch
):
    from tweetsmith.engine import train_loop

    scripted = iter([50.0, 40.0, 45.0, 41.0, 30.0, 20.0, 10.0, 5.0])  # best 40 at step 2; 45, 41: two without

    def fake_perplexity(*args, **kwargs):
        return SimpleNamespace(perplexity=next(scripted))

    monkeypatch.setattr(train_loop, "perplexity_of_lines", fake_perplexity)
    run = tmp_path / "run"
    code = main(
        _args(
            tiny_llama_dir,
            small_splits,
            run,
            "--max-steps",
            "8",
            "--eval-every",
            "1",
            "--save-every",
            "0",
            "--early-stopping",
            "2",
            "--json",
        )
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    reason = "stopped early: valid perplexity did not improve for 2 evaluations (best 40.00 at step 2)"
    out = json.loads(captured.out)
    assert out["outcome"] == "completed" and out["steps"] == 4 and out["stopped_early"] == reason
    assert out["final_step"] == 2 and out["final_is_best"] and out["final_valid_perplexity"] == 40.0
    assert reason in captured.err.splitlines()
    assert [m["valid_perplexity"] for m in _metrics(run) if "valid_perplexity" in m] == [50.0, 40.0, 45.0, 41.0]
    card = Card.read(run)
    assert card.status == "completed" and card.results.stopped_early == reason
    assert f"- {reason}" in (run / "card.md").read_text().splitlines()


def test_without_early_stopping_the_same_perplexities_run_every_step(
    tiny_llama_dir, small_splits, tmp_path, capsys, monkeypatch
):
    """The control for the test above: the same script without the flag trains to the last step."""
    from tweetsmith.engine import train_loop

    scripted = iter([50.0, 40.0, 45.0, 41.0, 42.0, 43.0])
    monkeypatch.setattr(train_loop, "perplexity_of_lines", lambda *a, **k: SimpleNamespace(perplexity=next(scripted)))
    run = tmp_path / "run"
    assert (
        main(
            _args(
                tiny_llama_dir,
                small_splits,
                run,
                "--max-steps",
                "6",
                "--eval-every",
                "1",
                "--save-every",
                "0",
                "--json",
            )
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 6 and out["stopped_early"] is None and out["final_step"] == 2
