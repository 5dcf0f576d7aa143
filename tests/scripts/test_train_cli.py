"""`tweetsmith train` in-process and as a subprocess (Ctrl-C keeps a checkpoint, exit 130)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tweetsmith.engine import checkpoints
from tweetsmith.scripts.cli import main


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
        *extra,
    ]


def test_train_prints_progress_and_summary(tiny_gpt2_dir, small_splits, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        _args(
            tiny_gpt2_dir,
            small_splits,
            run,
            "--lora",
            "--lora-r",
            "4",
            "--max-steps",
            "3",
            "--eval-every",
            "3",
            "--save-every",
            "0",
        )
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "training tiny-gpt2" in err and "(lora): 3 steps" in err
    assert "step 3/3 loss" in err and "tok/s" in err and "ETA" in err
    assert "done: 3 steps in" in err and "valid perplexity" in err and f"LoRA adapter in {run / 'final'}" in err
    assert (run / "final" / "adapter_config.json").is_file()


def test_bad_input_is_one_line_and_exit_2(tiny_gpt2_dir, small_splits, tmp_path, capsys):
    code = main(_args(tiny_gpt2_dir, small_splits, tmp_path / "run", "--lr", "0"))
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == ["tweetsmith: error: --lr must be positive, got 0.0"]
    code = main(_args(tiny_gpt2_dir, tmp_path / "missing", tmp_path / "run"))
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no such data directory" in err


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tiny_llama_dir, small_splits, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TWEETSMITH_PROGRESS_EVERY_S": "0"}  # every heartbeat a line
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tweetsmith.scripts.cli",
            *_args(
                tiny_llama_dir, small_splits, run, "--max-steps", "100000", "--eval-every", "0", "--save-every", "0"
            ),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        lines.append(line)
        if "step 3/" in line:  # two steps are done
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline, "".join(lines)
    rest = proc.stderr.read()
    code = proc.wait(timeout=60)
    err = "".join(lines) + rest
    assert code == 130, err
    assert "stopping and saving a checkpoint of the last completed step" in err and "stopped at step" in err
    assert "--resume" in err
    saved = checkpoints.newest(run / "checkpoints")
    assert saved is not None and saved.step >= 2
    assert (run / "final" / "model.safetensors").is_file()


def test_train_json_is_what_the_run_directory_holds(tiny_llama_dir, small_splits, tmp_path, capsys):
    import json

    run = tmp_path / "run"
    assert (
        main(
            _args(
                tiny_llama_dir,
                small_splits,
                run,
                "--lora",
                "--lora-r",
                "4",
                "--max-steps",
                "2",
                "--eval-every",
                "2",
                "--save-every",
                "0",
                "--json",
            )
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert out["outcome"] == "completed" and out["steps"] == metrics[-1]["step"] == 2
    assert out["valid_perplexity"] == metrics[-1]["valid_perplexity"]
    assert out["run_dir"] == str(run) and out["result_dir"] == str(run / "final")
    assert (run / "final" / "adapter_config.json").is_file()


def test_eval_tokens_flag_reaches_the_config_and_a_negative_one_is_refused(tmp_path, capsys, monkeypatch):
    from tweetsmith.engine import train as train_module
    from tweetsmith.engine.errors import ConfigError

    asked = []

    def capture(config, **_):
        asked.append(config)
        raise ConfigError("captured")

    monkeypatch.setattr(train_module, "train", capture)
    argv = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")]
    assert main([*argv, "--eval-tokens", "300"]) == 2 and main(argv) == 2
    assert [c.eval_tokens for c in asked] == [300, None]  # None: training resolves it for its device
    capsys.readouterr()
    monkeypatch.undo()  # the real training: it refuses the value before it reads anything
    assert main([*argv, "--eval-tokens", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "tweetsmith: error: --eval-tokens must be 0 (the whole valid split) or more, got -1"
    ]
