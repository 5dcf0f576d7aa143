"""Nothing lost: tweetsmith writes only into directories and files that are its own, one writer per run,
and a torn metrics line does not break --resume. Real files and real processes throughout."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tweetsmith.scripts.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

START_TIMEOUT_S = 180.0  # a hang guard for a subprocess importing torch on a busy 2-core machine


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) with the sha256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _train_args(model, data, out, *extra):
    return [
        "train",
        "--data",
        str(data),
        "--model",
        str(model),
        "--out",
        str(out),
        "--lora",
        "--lora-r",
        "4",
        "--block-size",
        "32",
        "--batch-size",
        "2",
        "--logging-steps",
        "1",
        "--precision",
        "fp32",
        "--eval-every",
        "0",
        *extra,
    ]


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_out_on_a_model_folder_is_refused_and_left_byte_identical(tiny_llama_dir, small_splits, tmp_path, capsys):
    folder = tmp_path / "my-model"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_bytes((tiny_llama_dir / name).read_bytes())
    (folder / "metrics.jsonl").write_text('{"mine": 1}\n', encoding="utf-8")
    before = snapshot(folder)
    assert main(_train_args(tiny_llama_dir, small_splits, folder, "--max-steps", "1")) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--out {folder} is not a tweetsmith run" in line and "config.json" in line and "new or empty" in line
    assert snapshot(folder) == before and sorted(p.name for p in folder.iterdir()) == sorted(before)


def test_a_file_as_out_and_a_missing_resume_leave_nothing_behind(tiny_llama_dir, small_splits, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n", encoding="utf-8")
    assert main(_train_args(tiny_llama_dir, small_splits, a_file, "--max-steps", "1")) == 2
    assert "is a file, not a directory" in _one_error_line(capsys.readouterr().err)
    assert a_file.read_text(encoding="utf-8") == "mine\n"
    fresh = tmp_path / "fresh"
    assert main(_train_args(tiny_llama_dir, small_splits, fresh, "--max-steps", "1", "--resume")) == 2
    assert "no complete checkpoint" in _one_error_line(capsys.readouterr().err)
    assert not fresh.exists()  # the lock's directory is not left behind by a refusal


class Holder:
    """A real `tweetsmith train` subprocess, long enough to be found holding its run's lock."""

    def __init__(self, model: Path, data: Path, run: Path, logs: Path):
        logs.mkdir(parents=True, exist_ok=True)
        self.err_path = logs / "holder.stderr"
        self._err = open(self.err_path, "wb")
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        argv = [
            sys.executable,
            "-m",
            "tweetsmith.scripts.cli",
            *_train_args(model, data, run, "--max-steps", "100000", "--save-every", "0"),
        ]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=self._err, stdin=subprocess.DEVNULL, env=env
        )

    def wait_for_lock(self, lock: Path) -> None:
        """Until the lock file names this process (written right after the lock is taken)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the holder exited {self.proc.returncode}: {self.err_path.read_text()[-2000:]}")
            if lock.is_file() and lock.read_text(encoding="utf-8").startswith(f"{self.proc.pid} "):
                return
            time.sleep(0.02)
        raise AssertionError(f"no lock by pid {self.proc.pid} within {START_TIMEOUT_S} s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._err.close()


def test_a_second_training_on_a_locked_run_refuses_at_once_naming_the_holder(
    tiny_llama_dir, small_splits, tmp_path, capsys
):
    from tweetsmith.engine.dir_lock import DirectoryBusy, holding, lock_path

    run = tmp_path / "run"
    holder = Holder(tiny_llama_dir, small_splits, run, tmp_path / "logs")
    try:
        holder.wait_for_lock(lock_path(run))
        before = {p.name for p in run.iterdir()}
        assert main(_train_args(tiny_llama_dir, small_splits, run, "--max-steps", "1", "--resume")) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert f"pid {holder.proc.pid} (training)" in line and str(run) in line
        with pytest.raises(DirectoryBusy, match=f"pid {holder.proc.pid}"):
            with holding(run, "assignment"):
                pass
        assert {p.name for p in run.iterdir()} == before  # the refused process wrote nothing
        holder.proc.send_signal(signal.SIGKILL)  # no finally, no atexit: only the kernel can release the lock
        holder.proc.wait()
        with holding(run, "test") as held:  # taken at once: a dead holder leaves no stale lock
            assert lock_path(held).read_text(encoding="utf-8") == f"{os.getpid()} test\n"
    finally:
        holder.close()


def test_resume_after_a_torn_metrics_line(tiny_llama_dir, small_splits, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(tiny_llama_dir, small_splits, run, "--max-steps", "2", "--save-every", "1")) == 0
    capsys.readouterr()
    # what a kill between checkpoint and metrics flush, or a full disk, leaves: a line cut mid-write
    whole = (run / "metrics.jsonl").read_text(encoding="utf-8")
    (run / "metrics.jsonl").write_text(whole + '{"step": 3, "lo', encoding="utf-8")
    assert (
        main(_train_args(tiny_llama_dir, small_splits, run, "--max-steps", "4", "--save-every", "1", "--resume")) == 0
    )
    err = capsys.readouterr().err
    assert "metrics.jsonl: its last line is incomplete" in err
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert steps == [1, 2, 3, 4]


def test_sample_out_never_replaces_a_file_it_did_not_write(tiny_llama_dir, tmp_path, capsys):
    common = [
        "sample",
        "--model",
        str(tiny_llama_dir),
        "--author",
        "paulg",
        "-n",
        "2",
        "--max-new-tokens",
        "5",
        "--seed",
        "3",
        "--json",
    ]
    split = tmp_path / "train.txt"
    split.write_text("\\paulg- a tweet of mine\n", encoding="utf-8")
    foreign_jsonl = tmp_path / "notes.jsonl"
    foreign_jsonl.write_text('{"not": "a sample"}\n', encoding="utf-8")
    for target in (split, foreign_jsonl):
        before = target.read_bytes()
        assert main([*common, "--out", str(target)]) == 2
        line = _one_error_line(capsys.readouterr().err)
        assert f"--out {target} exists and was not written by `tweetsmith sample`" in line and "--force" in line
        assert target.read_bytes() == before
    assert main([*common, "--out", str(split), "--force"]) == 0
    printed = json.loads(capsys.readouterr().out)["samples"]
    assert split.read_text(encoding="utf-8").splitlines() == [f"\\paulg- {s['text']}".rstrip() for s in printed]
    # a samples file of ours is appended to, never rewritten
    ours = tmp_path / "s.jsonl"
    assert main([*common, "--out", str(ours)]) == 0
    first = ours.read_bytes()
    assert main([*common, "--out", str(ours)]) == 0
    capsys.readouterr()
    assert ours.read_bytes()[: len(first)] == first and len(ours.read_text().splitlines()) == 4


def test_assignment_out_with_foreign_files_is_refused_untouched(tiny_llama_dir, tmp_path, tweets_factory, capsys):
    source = tmp_path / "tweets.txt"
    source.write_text("".join(line + "\n" for line in tweets_factory(60, seed=1)), encoding="utf-8")
    out = tmp_path / "project"
    (out / "src").mkdir(parents=True)
    (out / "src" / "main.py").write_text("print('mine')\n", encoding="utf-8")
    (out / "README.md").write_text("# mine\n", encoding="utf-8")
    before = snapshot(out)
    argv = ["assignment", str(source), "--out", str(out), "--model", str(tiny_llama_dir), "--max-steps", "1"]
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"--out {out} holds files the assignment did not write (README.md, src)" in line
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == ["README.md", "src"]


def test_the_apps_prepared_data_is_keyed_by_content_not_by_name(tmp_path, tweets_factory, monkeypatch):
    """~/a/tweets.txt, then ~/b/tweets.txt, then the first one edited: three different prepared copies, each
    holding its own file's records."""
    import threading

    from tweetsmith.engine.data_cache import prepared_config
    from tweetsmith.engine.train_config import TrainConfig

    monkeypatch.setenv("TWEETSMITH_HOME", str(tmp_path / "home"))

    def prepared(path: Path) -> set[str]:
        config = prepared_config(
            TrainConfig(data=str(path), out=str(tmp_path / "run")), threading.Event(), lambda _m: None
        )
        folder = Path(config.data)
        return {
            line for split in ("train", "valid", "test") for line in (folder / f"{split}.txt").read_text().splitlines()
        }

    a, b = tmp_path / "a" / "tweets.txt", tmp_path / "b" / "tweets.txt"
    for path, seed in ((a, 1), (b, 2)):
        path.parent.mkdir()
        marker = f"\\paulg- a tweet only in {path.parent.name}"
        path.write_text("".join(line + "\n" for line in [*tweets_factory(80, seed=seed), marker]), encoding="utf-8")
    got_a, got_b = prepared(a), prepared(b)
    assert "\\paulg- a tweet only in a" in got_a - got_b and "\\paulg- a tweet only in b" in got_b - got_a
    a.write_text(a.read_text() + "\\paulg- an edit made after the first training\n", encoding="utf-8")
    assert "\\paulg- an edit made after the first training" in prepared(a)
