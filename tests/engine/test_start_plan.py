"""What the app opens on (``engine.start_plan``) and the sweep on what it has open (``experiments.sweep_open``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.experiments import sweep_open
from tweetsmith.engine.sampling import SamplingConfig
from tweetsmith.engine.start_plan import StartPlan, last_run, plan_start


def _run(root: Path, name: str, writer, data: Path, mtime: float, final: bool = False) -> Path:
    run = root / name
    writer(run, model="gpt2", data=str(data))
    if final:
        (run / "final").mkdir()
    os.utime(run / "config.json", (mtime, mtime))
    return run


def test_the_last_run_opens_on_its_tuned_model_and_its_data(tmp_path, run_record_writer, small_splits):
    root = tmp_path / "runs"
    _run(root, "old", run_record_writer, small_splits, 1_000_000, final=True)
    newest = _run(root, "new", run_record_writer, small_splits, 2_000_000, final=True)
    (root / "not-a-run").mkdir()
    assert last_run(root) == newest
    assert plan_start(None, None, None, root) == StartPlan(newest, None, small_splits, "tuned")
    given = tmp_path / "elsewhere"
    assert plan_start(None, None, given, root).data_dir == given  # --data wins over the run's own


def test_a_run_without_final_opens_on_its_base(tmp_path, run_record_writer, small_splits):
    run = _run(tmp_path / "runs", "r", run_record_writer, small_splits, 1_000_000)
    assert plan_start(None, run, None, tmp_path / "none") == StartPlan(run, None, small_splits, "base")


def test_an_explicit_model_wins_over_the_last_run(tmp_path, run_record_writer, small_splits):
    root = tmp_path / "runs"
    _run(root, "r", run_record_writer, small_splits, 1_000_000, final=True)
    assert plan_start("smollm2-135m", None, None, root) == StartPlan(None, "smollm2-135m", None, "base")
    assert last_run(tmp_path / "missing") is None
    assert plan_start(None, None, None, tmp_path / "missing") == StartPlan(None, None, None, "base")


def test_a_sweep_without_a_run_needs_data_and_a_loaded_model(tmp_path, small_splits):
    common = {"run_dir": None, "param": "temperature", "values": None, "n": 2, "config": SamplingConfig()}
    with pytest.raises(ConfigError, match="a sweep needs data with train.txt and test.txt"):
        sweep_open(models={}, side="base", data_dir=tmp_path, **common)
    with pytest.raises(ConfigError, match="no model loaded yet"):
        sweep_open(models={}, side="base", data_dir=small_splits, **common)


def test_a_runs_sweep_reuses_only_the_runs_own_models(tmp_path, run_record_writer, small_splits, monkeypatch):
    from types import SimpleNamespace

    from tweetsmith.engine import experiments

    run = _run(tmp_path / "runs", "r", run_record_writer, small_splits, 1_000_000, final=True)
    seen = {}
    monkeypatch.setattr(experiments, "sweep", lambda run_dir, param, values, **kw: seen.update(kw, run_dir=run_dir))
    mine, other = SimpleNamespace(info=SimpleNamespace(spec="gpt2")), SimpleNamespace(info=SimpleNamespace(spec="x"))
    for base, expected in ((mine, mine), (other, None)):
        sweep_open(
            run_dir=run,
            models={"base": base},
            side="base",
            data_dir=None,
            param="top_k",
            values=None,
            n=2,
            config=SamplingConfig(),
        )
        assert seen["run_dir"] == run and seen["base"] is expected and seen["tuned"] is None
