"""The perplexity table the app draws, against plain loops written here from the definitions (docs/definitions.md):
windowed = exp(mean NLL of every token after the first of the records' concatenation, each record closed by
end-of-text); per record = each record alone after end-of-text, its tokens and closing end-of-text predicted."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.models import load_model, load_run_model
from tweetsmith.engine.perplexity_table import cached_table, perplexity_table, quick_table
from tweetsmith.engine.progress import Progress
from tweetsmith.engine.run_record import runs_own_models

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VALID = ["\\ann- the best startups look like toys", "\\bob- talk to users every week", "\\ann- ship small things fast"]
TEST = ["\\bob- founders should grow", "\\ann- users love what they make"]


def _nll(model, ids: list[int], first_scored: int = 1) -> tuple[float, int]:
    """Total NLL (nats) of ``ids[first_scored:]`` given the ids before each, in one forward pass."""
    import torch

    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
    return -sum(float(logprobs[pos - 1, ids[pos]]) for pos in range(first_scored, len(ids))), len(ids) - first_scored


def windowed(loaded, lines: list[str]) -> float:
    """The records' concatenation in one window (it fits the tiny model's 256 positions)."""
    ids = [i for line in lines for i in loaded.tokenizer(line, add_special_tokens=False)["input_ids"] + [loaded.eot_id]]
    assert len(ids) <= 256
    total, count = _nll(loaded.model, ids)
    return math.exp(total / count)


def per_record(loaded, lines: list[str]) -> float:
    total, count = 0.0, 0
    for line in lines:
        nll, n = _nll(
            loaded.model, [loaded.eot_id, *loaded.tokenizer(line, add_special_tokens=False)["input_ids"], loaded.eot_id]
        )
        total, count = total + nll, count + n
    return math.exp(total / count)


def _splits(folder: Path) -> Path:
    folder.mkdir()
    for name, lines in (("train", VALID + TEST), ("valid", VALID), ("test", TEST)):
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_without_a_run_the_loaded_model_is_scored_on_the_data(tmp_path, tiny_llama_dir):
    loaded = load_model(str(tiny_llama_dir))
    data = _splits(tmp_path / "data")
    events: list[Progress] = []
    table = perplexity_table(run_dir=None, models={"base": loaded}, data_dir=data, on_progress=events.append)
    for split, lines in (("valid", VALID), ("test", TEST)):
        assert table.get("base", split) == pytest.approx(windowed(loaded, lines), rel=1e-4)
        assert table.get("base", split, "record") == pytest.approx(per_record(loaded, lines), rel=1e-4)
        assert table.get("tuned", split) is None and table.change(split) is None
    assert table.splits == ("valid", "test")
    assert table.note.endswith("(not cached: no trained run yet)")
    assert {e.stage for e in events} == {"base · valid", "base · valid · alone", "base · test", "base · test · alone"}


def test_without_a_run_or_data_it_says_what_to_give():
    with pytest.raises(ConfigError, match="no data directory to evaluate on"):
        perplexity_table(run_dir=None, models={}, data_dir=None)


def test_a_cancelled_table_leaves_out_what_it_did_not_finish(tmp_path, tiny_llama_dir):
    cancel = threading.Event()
    cancel.set()
    table = perplexity_table(
        run_dir=None,
        models={"base": load_model(str(tiny_llama_dir))},
        data_dir=_splits(tmp_path / "data"),
        cancel=cancel,
    )
    assert dict(table.values) == {} and dict(table.record_values) == {}


def test_a_trained_run_is_compared_and_cached(tiny_run):
    assert cached_table(tiny_run) is None
    table = perplexity_table(run_dir=tiny_run, models={}, data_dir=None)
    assert table.note == f"saved to {tiny_run / 'eval.json'}"  # outside the working directory: as given
    cached = cached_table(tiny_run)
    assert cached is not None and cached.note == f"cached in {tiny_run / 'eval.json'}"
    assert dict(cached.values) == dict(table.values) and dict(cached.record_values) == dict(table.record_values)
    assert set(table.values) == {(side, split) for side in ("base", "tuned") for split in ("valid", "test")}
    base, tuned = table.get("base", "valid"), table.get("tuned", "valid")
    assert table.change("valid") == pytest.approx(100.0 * (tuned - base) / base)


def test_quick_table_scores_the_head_of_valid_and_loads_the_tuned_model(tiny_run, tiny_llama_dir, tiny_gpt2_dir):
    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.run_record import run_data_dir

    head = read_split_lines(run_data_dir(tiny_run) / "valid.txt")[:3]
    other = load_model(str(tiny_gpt2_dir))  # not the run's base: the run's own is loaded instead
    quick = quick_table(run_dir=tiny_run, models={"base": other}, records=3)
    base, tuned = load_model(str(tiny_llama_dir)), load_run_model(tiny_run, tuned=True)
    table = quick.table
    assert table.splits == ("valid",) and quick.loaded_tuned is not None
    assert table.get("base", "valid") == pytest.approx(windowed(base, head), rel=1e-4)
    assert table.get("tuned", "valid") == pytest.approx(windowed(tuned, head), rel=1e-4)
    assert table.get("base", "valid", "record") == pytest.approx(per_record(base, head), rel=1e-4)
    assert table.get("tuned", "valid", "record") == pytest.approx(per_record(tuned, head), rel=1e-4)
    assert table.note == "valid: its first 3 of 50 records only · ctrl+e: full valid and test"


def test_only_the_runs_own_base_stands_in_for_it(tiny_run, tiny_llama_dir):
    def fake(spec: str) -> SimpleNamespace:
        return SimpleNamespace(info=SimpleNamespace(spec=spec))

    own, other, tuned = fake(str(tiny_llama_dir)), fake("gpt2"), fake("whatever")
    assert runs_own_models(tiny_run, {"base": own, "tuned": tuned}) == {"base": own, "tuned": tuned}
    assert runs_own_models(tiny_run, {"base": other, "tuned": tuned}) == {"tuned": tuned}
    assert runs_own_models(tiny_run, {}) == {}
