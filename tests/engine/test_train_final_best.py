"""final/ holds the best checkpoint by valid perplexity when evaluation ran, and the summary line says which.

Evaluation is monkeypatched to return a chosen sequence of perplexities (best at step 4 of 8), so the test
knows the answer independently of the tiny model's real numbers; final/'s tensors are compared with the
checkpoint's own files.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from tweetsmith.engine import train_loop
from tweetsmith.engine.train_events import TrainingFinished
from tweetsmith.scripts.cli import main
from tweetsmith.scripts.train_progress import TrainProgress

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PERPLEXITIES = {2: 50.0, 4: 30.0, 6: 40.0, 8: 45.0}  # by step: the best is step 4, not the last


@pytest.fixture()
def tweets(tmp_path) -> Path:
    rnd = random.Random(1)
    words = (
        "the best startups look like toys at first and grow because users love what they make "
        "founders should talk to users every week and ship small things fast"
    ).split()
    data = tmp_path / "data"
    data.mkdir()
    for name, count in (("train", 200), ("valid", 20), ("test", 20)):
        lines = [
            f"\\{rnd.choice(['paulg', 'sama'])}- " + " ".join(rnd.choice(words) for _ in range(rnd.randint(6, 24)))
            for _ in range(count)
        ]
        (data / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data


def tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.mark.parametrize("method", ["lora", "full"])
def test_final_holds_the_best_checkpoint_and_the_summary_says_so(
    method, tiny_llama_dir, tweets, tmp_path, monkeypatch, capsys
):
    import torch

    steps_evaluated = []

    def fake_perplexity(model, tokenizer, lines, **kwargs):
        step = 2 * (len(steps_evaluated) + 1)  # eval every 2 steps: the n-th evaluation is at step 2n
        steps_evaluated.append(step)
        return SimpleNamespace(perplexity=PERPLEXITIES[step])

    monkeypatch.setattr(train_loop, "perplexity_of_lines", fake_perplexity)
    run = tmp_path / "run"
    argv = [
        "train",
        "--data",
        str(tweets),
        "--model",
        str(tiny_llama_dir),
        "--out",
        str(run),
        "--max-steps",
        "8",
        "--batch-size",
        "2",
        "--block-size",
        "32",
        "--save-every",
        "2",
        "--eval-every",
        "2",
        "--logging-steps",
        "1",
        "--precision",
        "fp32",
        "--lr",
        "1e-2",
    ] + (["--lora", "--lora-r", "4"] if method == "lora" else [])
    assert main(argv) == 0
    assert steps_evaluated == [2, 4, 6, 8]
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith("done: 8 steps") and summary.endswith(
        "final/ holds step 4, the best valid perplexity 30.00"
    ), summary

    weights = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    final, best, last = (
        tensors(p / weights)
        for p in (run / "final", run / "checkpoints" / "checkpoint-4", run / "checkpoints" / "checkpoint-8")
    )
    assert final.keys() == best.keys() and final
    for name in final:
        torch.testing.assert_close(final[name], best[name], rtol=0, atol=0)
    # The last step's weights differ, so the comparison above tells best from last.
    assert any(not torch.equal(final[name], last[name]) for name in final if name in last)


def test_summary_says_final_holds_the_last_step_without_evaluation():
    import io

    stream = io.StringIO()
    printer = TrainProgress(stream=stream)
    printer.method = "lora"  # as TrainingStarted would set it
    printer.finish(TrainingFinished("completed", 6, 12.0, None, "runs/x/final", "runs/x", final_step=6))
    printer.finish(
        TrainingFinished(
            "stopped",
            3,
            5.0,
            41.5,
            "runs/x/final",
            "runs/x",
            final_step=2,
            final_is_best=True,
            final_valid_perplexity=40.25,
        )
    )
    done, stopped = stream.getvalue().splitlines()
    assert done == "done: 6 steps in 12s; LoRA adapter in runs/x/final; final/ holds the last step (6)"
    assert stopped == (
        "stopped at step 3 after 5s; valid perplexity 41.50; checkpoint kept, LoRA adapter so far in "
        "runs/x/final; final/ holds step 2, the best valid perplexity 40.25; continue with --resume --out runs/x"
    )
