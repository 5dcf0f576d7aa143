"""Crash safety, proven: `tweetsmith train` killed with SIGKILL at seeded random moments, some of them while a
checkpoint is being written, never leaves a run directory that can't be read, and `--resume` continues from
the newest complete checkpoint to the very losses of an uninterrupted run.

The training runs as a real subprocess (the CLI), so a kill is a kill: no ``finally``, no flush, no atexit.
Waits poll the run's own files (the checkpoint staging directory, complete checkpoints, the TrainingStarted
line on stderr), each bounded by a timeout that fails with what it waited for.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tweetsmith.engine import checkpoints
from tweetsmith.engine.run_record import RunRecord

STEPS = 12  # room for five trials that each move the newest checkpoint on by a step or two
# staging: the moment a checkpoint starts being written; published: the moment one becomes complete (its
# step's metrics line must already be on disk); moment: a random time after a checkpoint. Shuffled by the seed.
TRIALS = ("staging", "published", "staging", "moment", "moment")
SEED = 13
START_TIMEOUT_S = 120.0  # loading torch + the tiny model on a busy 2-core machine
STEP_TIMEOUT_S = 90.0  # one step, an evaluation and a checkpoint
RUN_TIMEOUT_S = 300.0


@pytest.fixture()
def tweets(tmp_path, startup_tweets) -> Path:
    """A few hundred tweet-like records, ``\\author- text``, made here."""
    return startup_tweets(tmp_path / "data", {"train": 300, "valid": 12, "test": 12}, ("paulg", "sama", "pmarca"))


class Training:
    """One `tweetsmith train` subprocess with its stdout/stderr in files."""

    def __init__(self, model: Path, data: Path, run: Path, *, resume: bool, logs: Path, name: str):
        argv = [
            sys.executable,
            "-m",
            "tweetsmith.scripts.cli",
            "train",
            "--data",
            str(data),
            "--model",
            str(model),
            "--out",
            str(run),
            "--lora",
            "--lora-r",
            "4",
            "--max-steps",
            str(STEPS),
            "--batch-size",
            "2",
            "--block-size",
            "32",
            "--save-every",
            "1",
            "--eval-every",
            "2",
            "--logging-steps",
            "1",
            "--precision",
            "fp32",
        ] + (["--resume"] if resume else [])
        env = {
            **os.environ,
            "CUDA_VISIBLE_DEVICES": "",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        logs.mkdir(parents=True, exist_ok=True)
        self.stderr_path = logs / f"{name}.stderr"
        self._out = open(logs / f"{name}.stdout", "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, env=env)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, predicate, *, timeout_s: float, what: str, poll_s: float = 0.02):
        """Poll ``predicate`` (its truthy value is returned); fail if the process ends first or time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"training exited ({self.proc.returncode}) before {what}; stderr:\n{self.stderr()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout_s:.0f} s; stderr:\n{self.stderr()[-3000:]}")
            time.sleep(poll_s)

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -9, f"expected death by SIGKILL, got {self.proc.returncode}"

    def finish(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"training did not finish within {timeout_s:.0f} s; stderr:\n{self.stderr()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._out.close()
        self._err.close()


def started_line(training: Training) -> str | None:
    """The TrainingStarted summary line ("training ... N steps (... epochs[, resuming at step K]) ...")."""
    return next(
        (line for line in training.stderr().splitlines() if line.startswith("training ") and " steps (" in line), None
    )


def resumed_step(line: str) -> int:
    match = re.search(r"resuming at step (\d+)", line)
    return int(match.group(1)) if match else 0


def complete_steps(run: Path) -> list[int]:
    return [c.step for c in checkpoints.list_checkpoints(run / "checkpoints")]


def staged_step(run: Path) -> int:
    """The step of the checkpoint being written right now under checkpoints/.incomplete/ (0: none)."""
    try:
        names = os.listdir(run / "checkpoints" / checkpoints.STAGING)
    except OSError:
        return 0
    steps = [int(m.group(1)) for m in (re.fullmatch(r"checkpoint-(\d+)", n) for n in names) if m]
    return max(steps, default=0)


def metrics_lines(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]  # each line parses


def losses(run: Path) -> dict[int, float]:
    lines = [m for m in metrics_lines(run) if "loss" in m]
    steps = [m["step"] for m in lines]
    assert len(steps) == len(set(steps)), f"a step logged twice in metrics.jsonl: {steps}"
    return {m["step"]: m["loss"] for m in lines}


def assert_readable(run: Path) -> int:
    """Every checkpoint-N directly under checkpoints/ is complete, config.json and metrics.jsonl parse, and
    metrics.jsonl holds every step up to the newest complete checkpoint; returns that checkpoint's step."""
    directory = run / "checkpoints"
    named = (
        sorted(int(p.name.removeprefix(checkpoints.PREFIX)) for p in directory.glob(f"{checkpoints.PREFIX}*"))
        if directory.is_dir()
        else []
    )
    for step in named:
        assert checkpoints.is_complete(directory / f"{checkpoints.PREFIX}{step}"), f"checkpoint-{step} is incomplete"
    assert complete_steps(run) == named
    for step in named:
        state = json.loads((directory / f"{checkpoints.PREFIX}{step}" / checkpoints.TRAINER_STATE).read_text())
        assert state["global_step"] == step
    if (run / "config.json").exists():
        assert RunRecord.read(run).max_steps == STEPS
    newest = max(named, default=0)
    logged = set(losses(run))
    missing = set(range(1, newest + 1)) - logged
    assert not missing, f"checkpoint-{newest} is complete but metrics.jsonl lacks the losses of steps {sorted(missing)}"
    return newest


def test_sigkill_at_random_moments_resumes_from_the_newest_complete_checkpoint(tiny_llama_dir, tweets, tmp_path):
    rng = random.Random(SEED)
    plan = list(TRIALS)
    rng.shuffle(plan)
    logs = tmp_path / "logs"
    processes: list[Training] = []

    def launch(run: Path, *, resume: bool, name: str) -> Training:
        training = Training(tiny_llama_dir, tweets, run, resume=resume, logs=logs, name=name)
        processes.append(training)
        return training

    try:
        # The uninterrupted reference run.
        reference = tmp_path / "reference"
        straight = launch(reference, resume=False, name="reference")
        straight.wait_until(lambda: started_line(straight), timeout_s=START_TIMEOUT_S, what="TrainingStarted line")
        began = time.monotonic()
        assert straight.finish(RUN_TIMEOUT_S) == 0, straight.stderr()[-3000:]
        # A step with its evaluation and checkpoint, on this machine now: a random moment is drawn within one,
        # so it lands inside the run however fast the machine (a fixed second was the whole run on one).
        step_s = (time.monotonic() - began) / STEPS
        want = losses(reference)
        assert sorted(want) == list(range(1, STEPS + 1))

        run = tmp_path / "killed"
        newest = 0
        record = []
        for index, kind in enumerate(plan):
            training = launch(run, resume=newest > 0, name=f"trial{index}")
            line = training.wait_until(
                lambda: started_line(training), timeout_s=START_TIMEOUT_S, what="TrainingStarted line"
            )
            assert resumed_step(line) == newest, (
                f"trial {index}: resumed at {resumed_step(line)}, newest complete checkpoint {newest}: {line}"
            )
            if kind == "staging":
                # Kill the moment the checkpoint of step `target` starts being written.
                target = min(newest + rng.randint(1, 2), STEPS - 1)
                training.wait_until(
                    lambda: staged_step(run) >= target,
                    timeout_s=STEP_TIMEOUT_S * 3,
                    what=f"staging directory of checkpoint-{target}",
                    poll_s=0.001,
                )
                training.kill()
                during_write = staged_step(run)
                assert during_write >= target, f"trial {index}: the kill came after checkpoint-{target} was published"
                moment = f"writing checkpoint-{during_write}"
            elif kind == "published":
                target = min(newest + rng.randint(1, 2), STEPS - 1)
                training.wait_until(
                    lambda: max(complete_steps(run), default=0) >= target,
                    timeout_s=STEP_TIMEOUT_S * 3,
                    what=f"checkpoint-{target}",
                    poll_s=0.001,
                )
                training.kill()
                moment = f"the moment checkpoint-{target} was complete"
            else:
                # A random moment inside a step (or an evaluation, or a save) after the next checkpoint.
                target = min(newest + 1, STEPS - 2)
                training.wait_until(
                    lambda: max(complete_steps(run), default=0) >= target,
                    timeout_s=STEP_TIMEOUT_S * 2,
                    what=f"checkpoint-{target}",
                )
                delay_s = rng.uniform(0.0, 1.0) * step_s
                time.sleep(delay_s)  # the random moment itself, not a wait for anything
                training.kill()
                moment = f"{delay_s:.2f} s after checkpoint-{target}" + (
                    f" (while writing checkpoint-{staged_step(run)})" if staged_step(run) else ""
                )
            training.close()
            after = assert_readable(run)
            assert after >= newest, f"trial {index}: the newest complete checkpoint went back from {newest} to {after}"
            record.append(
                f"trial {index} ({kind}): resumed at step {resumed_step(line)}, killed {moment}, newest complete checkpoint {after}"
            )
            newest = after
        print("\n".join(record))
        # Measured, not planned: at least two kills really landed while a checkpoint was half-written.
        assert sum("writing checkpoint-" in line for line in record) >= 2, record

        last = launch(run, resume=newest > 0, name="final")
        assert last.finish(RUN_TIMEOUT_S) == 0, last.stderr()[-3000:]
        assert resumed_step(started_line(last)) == newest
        assert_readable(run)
        got = losses(run)
        assert sorted(got) == list(range(1, STEPS + 1))
        assert [got[s] for s in sorted(got)] == pytest.approx([want[s] for s in sorted(want)], rel=1e-4)
        assert not (run / "checkpoints" / checkpoints.STAGING).exists()
        assert (run / "final" / "adapter_model.safetensors").is_file()
        summary = last.stderr().strip().splitlines()[-1]
        assert summary.startswith(f"done: {STEPS} steps") and "final/ holds step" in summary, summary
    finally:
        for training in processes:
            training.close()
