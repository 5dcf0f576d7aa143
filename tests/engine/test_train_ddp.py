"""DDP: the same `tweetsmith train` under torchrun with 2 CPU processes (gloo) trains like one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tweetsmith.engine.run_record import RunRecord


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(model, data, out, batch_size):
    return [
        "train",
        "--data",
        str(data),
        "--model",
        str(model),
        "--out",
        str(out),
        "--max-steps",
        "4",
        "--batch-size",
        str(batch_size),
        "--block-size",
        "32",
        "--eval-every",
        "4",
        "--save-every",
        "2",
        "--logging-steps",
        "1",
        "--precision",
        "fp32",
        "--lr",
        "1e-3",
    ]


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_match_one_process_at_the_same_effective_batch(tiny_llama_dir, small_splits, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "tweetsmith.scripts.cli",
    ]
    done = subprocess.run(
        torchrun + _args(tiny_llama_dir, small_splits, ddp, 2), env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("done: 4 steps") == 1  # only rank 0 prints
    done = subprocess.run(
        [sys.executable, "-m", "tweetsmith.scripts.cli"] + _args(tiny_llama_dir, small_splits, single, 4),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    ddp_metrics, single_metrics = _metrics(ddp), _metrics(single)
    assert [m["step"] for m in ddp_metrics] == [1, 2, 3, 4]  # one writer: no duplicated lines
    assert [m["step"] for m in single_metrics] == [1, 2, 3, 4]
    for a, b in zip(ddp_metrics, single_metrics):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert ddp_metrics[-1]["valid_perplexity"] == pytest.approx(single_metrics[-1]["valid_perplexity"], rel=1e-4)
    record = RunRecord.read(ddp)
    assert record.world_size == 2 and record.batch_size == 2
    assert sorted(p.name for p in (ddp / "checkpoints" / "checkpoint-4").glob("rng_state_*.pth")) == [
        "rng_state_0.pth",
        "rng_state_1.pth",
    ]
    assert (ddp / "final" / "model.safetensors").is_file()
