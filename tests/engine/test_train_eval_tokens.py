"""``--eval-tokens``: training's evaluations score the valid split's leading records within N tokens (on a CPU
the whole split took minutes at every evaluation); None is the device's default, recorded as what it was."""

from __future__ import annotations

import json

import pytest

from tweetsmith.engine.config import config_from_strings
from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.perplexity import DEFAULT_STRIDE_TOKENS, max_len_for, perplexity_of_lines
from tweetsmith.engine.run_record import RunRecord
from tweetsmith.engine.train import TrainConfig, train
from tweetsmith.engine.train_config import EVAL_TOKENS_CPU, default_eval_tokens, evaluation_tokens, training_settings
from tweetsmith.engine.train_events import Evaluated

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CAP = 300  # tokens: about a dozen of the 50 valid tweets


def _config(model_dir, data, out, **overrides) -> TrainConfig:
    values = dict(
        data=str(data),
        model=str(model_dir),
        out=str(out),
        max_steps=2,
        batch_size=4,
        block_size=32,
        eval_every=2,
        save_every=0,
        logging_steps=1,
        precision="fp32",
        lr=1e-3,
    )
    return TrainConfig(**{**values, **overrides})


def _scores(run, data, **kwargs):
    """The trained model's valid perplexity, computed here as the evaluation defines it (its stride, fp32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    record = RunRecord.read(run)
    model = AutoModelForCausalLM.from_pretrained(run / "final", dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(run / "final")
    lines = (data / "valid.txt").read_text(encoding="utf-8").splitlines()
    return perplexity_of_lines(
        model,
        tokenizer,
        lines,
        eot_id=record.eot_id,
        pad_id=record.pad_id,
        stride_tokens=min(DEFAULT_STRIDE_TOKENS, max_len_for(model)),
        **kwargs,
    )


def test_an_evaluation_scores_the_leading_records_within_eval_tokens(tiny_llama_dir, small_splits, tmp_path):
    events = []
    run = tmp_path / "run"
    finished = train(_config(tiny_llama_dir, small_splits, run, eval_tokens=CAP), on_event=events.append)
    evaluated = [e for e in events if isinstance(e, Evaluated)]
    assert [e.step for e in evaluated] == [2] and finished.final_step == 2

    capped, whole = _scores(run, small_splits, max_tokens=CAP), _scores(run, small_splits)
    assert capped.records < whole.records == 50  # the cap bites: the leading records only
    assert evaluated[0].valid_perplexity == pytest.approx(capped.perplexity, rel=1e-4)
    assert abs(evaluated[0].valid_perplexity - whole.perplexity) > 1e-3 * whole.perplexity
    assert json.loads((run / "config.json").read_text())["eval_tokens"] == CAP


def test_none_is_the_devices_default_and_recorded_as_it(tiny_llama_dir, small_splits, tmp_path):
    """No --eval-tokens: the default of the device it trained on (a CPU: 50,000 tokens, more than the 50 valid
    tweets, so the whole split; a GPU: 0, the whole split), recorded as that number."""
    events = []
    run = tmp_path / "run"
    train(_config(tiny_llama_dir, small_splits, run), on_event=events.append)
    device = RunRecord.read(run).device
    assert default_eval_tokens("cpu") == 50_000 == EVAL_TOKENS_CPU and default_eval_tokens("cuda:0") == 0
    assert json.loads((run / "config.json").read_text())["eval_tokens"] == default_eval_tokens(device)
    evaluated = [e.valid_perplexity for e in events if isinstance(e, Evaluated)]
    assert evaluated == [pytest.approx(_scores(run, small_splits).perplexity, rel=1e-4)]


def test_a_resumed_run_evaluates_as_its_record_says_unless_asked(tiny_llama_dir, small_splits, tmp_path):
    """Resumed without the flag, a run goes on scoring what its record says it scored (its checkpoints'
    figures and the new ones are then of the same records), not this device's default."""
    run = tmp_path / "run"
    train(_config(tiny_llama_dir, small_splits, run, eval_every=0, save_every=2, eval_tokens=CAP))
    (run / "final").rename(tmp_path / "final-aside")  # resume from the step-2 checkpoint
    events = []
    train(_config(tiny_llama_dir, small_splits, run, max_steps=3, eval_every=3, resume=True), on_event=events.append)
    assert RunRecord.read(run).eval_tokens == CAP
    evaluated = [e.valid_perplexity for e in events if isinstance(e, Evaluated)]
    assert evaluated == [pytest.approx(_scores(run, small_splits, max_tokens=CAP).perplexity, rel=1e-4)]


def test_resolving_eval_tokens():
    assert default_eval_tokens("cpu") == default_eval_tokens("mps") == 50_000
    assert default_eval_tokens("cuda") == default_eval_tokens("cuda:1") == 0
    assert evaluation_tokens(TrainConfig(eval_tokens=300), "cuda", resumed=0) == 300  # asked: as asked
    assert evaluation_tokens(TrainConfig(eval_tokens=0), "cpu") == 0
    assert evaluation_tokens(TrainConfig(), "cpu", resumed=0) == 0  # resumed: as the run evaluated so far
    assert evaluation_tokens(TrainConfig(), "cpu") == 50_000
    assert evaluation_tokens(TrainConfig(), "cuda") == 0


def test_a_negative_eval_tokens_is_one_line_naming_the_flag():
    with pytest.raises(ConfigError) as err:
        TrainConfig(eval_tokens=-1).validated()
    assert str(err.value) == "--eval-tokens must be 0 (the whole valid split) or more, got -1"
    with pytest.raises(ConfigError, match=r"^--eval-tokens must be 0 \(the whole valid split\) or more, got -1$"):
        config_from_strings(TrainConfig, {"eval_tokens": "-1"})
    assert config_from_strings(TrainConfig, {"eval_tokens": ""}).eval_tokens is None  # the form's empty box
    assert config_from_strings(TrainConfig, {"eval_tokens": "none"}).eval_tokens is None
    assert config_from_strings(TrainConfig, {"eval_tokens": "0"}).eval_tokens == 0


def test_eval_tokens_keys_a_training_only_when_evaluations_score_part_of_the_split():
    """The assignment keys a training by its settings: --eval-tokens changes the model (final/ is the best
    evaluation's) only when evaluations run on part of the split; otherwise earlier keys still match."""
    before = training_settings(TrainConfig(eval_every=0))
    assert "eval_tokens" not in before
    assert training_settings(TrainConfig(eval_every=0, eval_tokens=300)) == before
    assert "eval_tokens" not in training_settings(TrainConfig(eval_every=50, eval_tokens=0))
    assert training_settings(TrainConfig(eval_every=50, eval_tokens=300))["eval_tokens"] == 300
    assert training_settings(TrainConfig(eval_every=50, eval_tokens=300)) != training_settings(
        TrainConfig(eval_every=50, eval_tokens=600)
    )
