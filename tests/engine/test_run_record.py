"""The run record (RUN/config.json): one typed reader and writer, older records read explicitly, and a record
tweetsmith does not understand refused in one line naming the file and the key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tweetsmith.engine.errors import ModelError
from tweetsmith.engine.run_record import RunRecord, recorded_data_dir, run_data_dir
from tweetsmith.engine.train_config import TrainConfig

# Every key training has written since the first version, in its order (the file's format is unchanged).
KEYS = [
    "data",
    "model",
    "out",
    "lora",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "quantize",
    "epochs",
    "max_steps",
    "lr",
    "lr_scheduler",
    "warmup",
    "batch_size",
    "grad_accum",
    "block_size",
    "pack",
    "eval_every",
    "save_every",
    "keep_checkpoints",
    "seed",
    "resume",
    "merge",
    "precision",
    "gradient_checkpointing",
    "compile",
    "logging_steps",
    "allow_fallback",
    "requested_model",
    "method",
    "world_size",
    "device",
    "target_modules",
    "eot_id",
    "pad_id",
    "train_tokens",
    "resumed_from",
    "min_steps",
    "early_stopping",
    "loss",
    "report_to",
    "eval_tokens",
]


def _as_training_writes(run) -> RunRecord:
    """The record ``train_run.write_run_record`` makes of a LoRA run whose batch the memory plan halved."""
    config = TrainConfig(
        data="data",
        model="smollm2-135m",
        out=str(run),
        lora=True,
        lora_r=8,
        max_steps=30,
        pack="off",
        min_steps=0,
        early_stopping=2,
        eval_every=5,
    )
    return RunRecord.of_training(
        config,
        model="/models/smollm2",
        method="lora",
        lr=3e-4,
        block_size=256,
        batch_size=4,
        grad_accum=2,
        gradient_checkpointing=True,
        world_size=1,
        precision="bf16",
        device="cpu",
        data="/abs/data",
        target_modules=["q_proj", "v_proj"],
        eot_id=0,
        pad_id=2,
        train_tokens=4321,
        resumed_from=None,
    )


def test_a_record_reads_back_field_for_field(tmp_path):
    run = tmp_path / "run"
    record = _as_training_writes(run)
    record.write(run)
    assert list(json.loads((run / "config.json").read_text())) == KEYS
    again = RunRecord.read(run)
    assert again == record
    assert (again.model, again.requested_model, again.data, again.lr, again.precision) == (
        "/models/smollm2",
        "smollm2-135m",
        "/abs/data",
        3e-4,
        "bf16",
    )
    assert (again.batch_size, again.grad_accum, again.gradient_checkpointing, again.pack) == (4, 2, True, "off")
    assert (again.min_steps, again.early_stopping, again.target_modules) == (0, 2, ("q_proj", "v_proj"))
    assert again.eval_tokens == 50_000  # not asked: the default of the record's device (a CPU), never None
    assert not list(run.glob(".config.json.*"))  # written through a temp file, nothing left beside it


def test_eval_tokens_is_what_training_resolved_or_as_asked(tmp_path):
    """``eval_tokens`` holds what the evaluations scored: the value training passes, else the asked one, else
    the default of the device the record names (0, the whole split, on a GPU)."""
    record = _as_training_writes(tmp_path / "run")
    config = TrainConfig(eval_tokens=300)
    assert RunRecord.of_training(config, **_resolved(record)).eval_tokens == 300
    assert RunRecord.of_training(config, **{**_resolved(record), "eval_tokens": 0}).eval_tokens == 0
    assert RunRecord.of_training(TrainConfig(), **{**_resolved(record), "device": "cuda"}).eval_tokens == 0


def _resolved(record: RunRecord) -> dict:
    """What training passes ``of_training`` besides the config: the fields it resolved."""
    names = ("model", "method", "lr", "block_size", "batch_size", "grad_accum", "gradient_checkpointing")
    names += ("world_size", "precision", "device", "data", "target_modules", "eot_id", "pad_id", "train_tokens")
    return {name: getattr(record, name) for name in (*names, "resumed_from")}


def test_every_training_setting_has_a_field():
    """A new ``TrainConfig`` field needs its field here too: ``of_training`` would refuse it."""
    names = {f.name for f in dataclasses.fields(RunRecord)}
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= names


def _write_raw(run, record: dict) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(record))


def test_an_unknown_key_is_one_line_naming_the_file_and_the_key(tmp_path):
    run = tmp_path / "x"
    _write_raw(run, {**_as_training_writes(run).to_json(), "foo": 1})
    with pytest.raises(ModelError) as err:
        RunRecord.read(run)
    message = str(err.value)
    assert message == (
        f"{run / 'config.json'}: unknown key 'foo' (written by a newer tweetsmith?); "
        "retrain the run with this version, or edit that key in the file"
    )
    assert "\n" not in message


def test_a_missing_key_is_one_line_naming_the_file_and_the_key(tmp_path):
    run = tmp_path / "x"
    raw = _as_training_writes(run).to_json()
    del raw["device"]
    _write_raw(run, raw)
    with pytest.raises(
        ModelError,
        match=r"x/config.json: no key 'device' \(not written by tweetsmith\?\); "
        r"retrain the run with this version, or edit that key in the file$",
    ):
        RunRecord.read(run)
    for key in ("pad_id", "eot_id", "method"):
        del raw[key]
    _write_raw(run, raw)
    with pytest.raises(ModelError, match=r"config.json: no keys 'method', 'device', 'eot_id', \.\.\. "):
        RunRecord.read(run)


def test_a_model_folders_config_is_not_a_run_record(tmp_path):
    """A Hugging Face model's config.json is a JSON object too: the first key it lacks is named."""
    model = tmp_path / "model"
    _write_raw(model, {"model_type": "gpt2", "n_layer": 2})
    with pytest.raises(ModelError, match="unknown keys 'model_type', 'n_layer'"):
        RunRecord.read(model)
    (model / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a record"):
        RunRecord.read(model)
    (model / "config.json").write_text("{broken")
    with pytest.raises(ModelError, match="broken JSON"):
        RunRecord.read(model)


def test_the_first_versions_record_reads_with_what_its_training_did(tmp_path, first_record, splits_factory):
    """``data_dir`` for ``data``, ``pack`` true/false for concat/off, and none of the keys added since."""
    data = splits_factory(tmp_path / "data", (4, 2, 2))
    run = tmp_path / "old"
    raw = first_record(model="gpt2", data=str(data), method="lora")
    raw["data_dir"] = raw.pop("data")
    _write_raw(run, raw)
    record = RunRecord.read(run)
    assert (record.data, record.model, record.method, record.pack) == (str(data), "gpt2", "lora", "concat")
    assert (record.loss, record.min_steps, record.early_stopping, record.report_to) == ("full", 0, 0, "none")
    assert record.eval_tokens == 0  # before --eval-tokens every evaluation scored the whole valid split
    assert run_data_dir(run) == data
    _write_raw(run, {**raw, "pack": False})
    assert RunRecord.read(run).pack == "off"


def test_a_relative_data_dir_is_found_beside_the_run(tmp_path, monkeypatch, run_record_writer):
    run = tmp_path / "run"
    run_record_writer(run, model="m", data="../data")
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(run)  # from here ../data exists: taken as written
    assert recorded_data_dir(run) == Path("../data")
    monkeypatch.chdir(tmp_path)  # from here ../data does not exist: relative to the run directory
    assert recorded_data_dir(run) == run / "../data"


def test_the_cli_says_a_bad_record_in_one_line(tmp_path, capsys):
    from tweetsmith.scripts.cli import main

    run = tmp_path / "x"
    _write_raw(run, {**_as_training_writes(run).to_json(), "foo": 1})
    assert main(["voice", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "config.json: unknown key 'foo'" in err
