"""card.json as one typed record: read back field for field, older cards read explicitly, and a card that
tweetsmith does not understand refused in one line naming the file and the key."""

from __future__ import annotations

import json

import pytest

from tweetsmith.engine.card import list_runs, render_markdown
from tweetsmith.engine.card_record import Card, CardData, CardModel, CardResults, SplitSize
from tweetsmith.engine.errors import ModelError
from tweetsmith.engine.run_record import RunRecord
from tweetsmith.engine.train_config import TrainConfig


def _card(run, first_record) -> Card:
    return Card(
        run=str(run),
        status="completed",
        started="2026-12-01T10:00:00+0000",
        resumed=None,
        resumed_from=None,
        ended="2026-12-01T11:00:00+0000",
        data=CardData("/d", "ab" * 32, {"train": SplitSize(10, 400), "valid": SplitSize(2, 80)}),
        model=CardModel("gpt2", "hub", "gpt2", "/hf/model.safetensors", "cd" * 32, 1234),
        method="lora",
        flags=TrainConfig(data="d", model="gpt2", lora=True, max_steps=30),
        resolved=RunRecord.from_json(first_record(model="gpt2", data="/d", method="lora")),
        libraries={"python": "3.12.1", "torch": "2.13.0", "bitsandbytes": None},
        device="cpu",
        precision="fp32",
        reproduce="tweetsmith train --data d --model gpt2 --lora --max-steps 30",
        results=CardResults(
            steps=30,
            seconds=12.5,
            tokens_seen=9000,
            tokens_seen_estimated=False,
            result_dir="/r",
            final_loss=2.5,
            final_step_logged=30,
            final_valid_perplexity=22.0,
            best_valid_perplexity=20.0,
            best_step=20,
            stopped_early=None,
        ),
    )


def test_a_card_reads_back_field_for_field(tmp_path, first_record):
    run = tmp_path / "run"
    card = _card(run, first_record)
    card.write(run)
    again = Card.read(run)
    assert again == card
    assert (again.data.splits["valid"].records, again.model.weights_bytes, again.flags.max_steps) == (2, 1234, 30)
    assert (again.resolved.pack, again.results.best_step, again.libraries["bitsandbytes"]) == ("concat", 20, None)
    raw = json.loads((run / "card.json").read_text())
    assert raw["data"]["splits"]["train"] == {"records": 10, "bytes": 400} and raw["resolved"]["pack"] == "concat"
    assert Card.read(tmp_path / "no-run") is None


def test_an_older_card_reads_explicitly(tmp_path, first_record):
    """A card from before --early-stopping and --pack's modes: no ``stopped_early``, flags with ``pack`` true and
    without the newer flags, ``resolved`` an older run record."""
    run = tmp_path / "run"
    raw = _card(run, first_record).to_json()
    del raw["results"]["stopped_early"]
    raw["flags"] = {
        k: v for k, v in raw["flags"].items() if k not in ("min_steps", "early_stopping", "report_to", "loss")
    }
    raw["flags"]["pack"] = True
    raw["resolved"]["data_dir"] = raw["resolved"].pop("data")
    run.mkdir()
    (run / "card.json").write_text(json.dumps(raw))
    card = Card.read(run)
    assert card.results.stopped_early is None and card.flags.pack == "concat" and card.flags.min_steps == 60
    assert card.resolved.data == "/d" and card.resolved.loss == "full"
    text = render_markdown(card)
    assert '| pack | `"concat"` |' in text and "- best valid perplexity: 20 (step 20)" in text
    assert "| split | records | bytes |\n|---|---:|---:|\n| train | 10 | 400 |\n| valid | 2 | 80 |" in text


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda raw: raw.update(colour="red"), "card.json: unknown key 'colour' (written by a newer tweetsmith?); "),
        (lambda raw: raw.pop("reproduce"), "card.json: no key 'reproduce' (not written by tweetsmith?); "),
        (lambda raw: raw["model"].pop("spec"), "card.json.model: no key 'spec' "),
        (
            lambda raw: raw["data"]["splits"]["train"].update(lines=3),
            "card.json.data.splits.train: unknown key 'lines' ",
        ),
        (lambda raw: raw["results"].update(perplexity=3), "card.json.results: unknown key 'perplexity' "),
        (lambda raw: raw["flags"].update(colour="red"), "card.json.flags: unknown key 'colour' "),
        (lambda raw: raw["resolved"].pop("device"), "card.json.resolved: no key 'device' "),
    ],
)
def test_a_card_it_does_not_understand_is_one_line_naming_the_file_and_the_key(tmp_path, first_record, change, message):
    run = tmp_path / "run"
    raw = _card(run, first_record).to_json()
    change(raw)
    run.mkdir()
    (run / "card.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError) as err:
        Card.read(run)
    assert str(err.value).startswith(f"{run / message.split(':')[0]}:{message.split(':', 1)[1]}")
    assert str(err.value).endswith(
        "delete card.json (training writes a new one when it resumes), or edit that key in the file"
    )
    assert "\n" not in str(err.value)


def test_runs_lists_a_card_it_cannot_read_from_the_run_record(tmp_path, first_record, run_record_writer):
    run = tmp_path / "run"
    run_record_writer(run, model="gpt2", data="/d", max_steps=7)
    raw = _card(run, first_record).to_json()
    raw["colour"] = "red"
    (run / "card.json").write_text(json.dumps(raw))
    rows = list_runs(tmp_path)
    assert [(r.status, r.model, r.max_steps) for r in rows] == [("no card", "gpt2", 7)]
    _card(run, first_record).write(run)
    assert [(r.status, r.steps, r.best_valid_perplexity, r.max_steps) for r in list_runs(tmp_path)] == [
        ("completed", 30, 20.0, 30)
    ]
