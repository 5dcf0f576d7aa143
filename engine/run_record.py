"""The run record, ``RUN/config.json``: what training was asked and what it made of it, as one frozen type.

Training writes it first (``RunRecord.of_training`` then ``write``); the experiments, the report, the app
and the CLI read it back with ``RunRecord.read`` and use its fields. This module is the only reader and
writer of the file, so a key is spelled in one place and a record tweetsmith does not understand is a
one-line ``ModelError`` naming the file and the key, never a ``KeyError`` or a silent ``None`` later.

Records written by earlier versions still load: keys added since have the value training behaved as before
them (the fields with defaults), ``data_dir`` is read as ``data``, and a ``pack`` of true/false is the mode it meant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tweetsmith.data.split import SplitDir

from .errors import ConfigError, ModelError
from .json_record import checked_fields, read_json_object
from .runs import RunPaths, read_json, write_json_atomic

if TYPE_CHECKING:
    from .models import LoadedModel
    from .sides import Side
    from .train_config import TrainConfig

RENAMED = {"data_dir": "data"}  # an old spelling -> the field it fills
FIX = "retrain the run with this version, or edit that key in the file"
OLD_PACK = {True: "concat", False: "off"}  # ``pack`` before its modes: packed (concat) or one record per example


@dataclass(frozen=True)
class RunRecord:
    """One run's config.json. The first block is ``TrainConfig``'s fields as asked, except where training
    resolved them (``model``, ``data``, ``lr``, the batch shape, ``gradient_checkpointing``, ``precision``
    hold what was used); the second is what training added."""

    data: str  # the split directory trained on, absolute (older records: ``data_dir``)
    model: str  # the base model actually loaded (after any fallback), a resolved path for a local one
    out: str
    lora: bool
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    quantize: str | None  # "4bit", "8bit" or None
    epochs: float
    max_steps: int
    lr: float  # the peak learning rate used (the method's default when none was asked)
    lr_scheduler: str
    warmup: float
    batch_size: int  # per micro-batch per process, after the memory plan
    grad_accum: int  # after the memory plan
    block_size: int  # tokens per example, after the memory plan
    pack: str  # concat, isolated or off (records before the modes: true = concat, false = off)
    eval_every: int
    save_every: int
    keep_checkpoints: int
    seed: int
    resume: bool
    merge: bool
    precision: str  # the precision used: bf16, fp16 or fp32 (never "auto")
    gradient_checkpointing: bool  # as used (the memory plan may switch it on)
    compile: bool
    logging_steps: int
    allow_fallback: bool
    # What training added
    requested_model: str  # the spec as asked (``model`` is what it resolved to)
    method: str  # full, lora or qlora
    world_size: int  # processes
    device: str
    target_modules: tuple[str, ...]  # the layers LoRA adapted (empty for a full fine-tune)
    eot_id: int | None
    pad_id: int
    train_tokens: int  # useful (non-padding) tokens in one epoch of the train split
    resumed_from: str | None  # the checkpoint this attempt resumed from
    # Added later: older records lack them and get (as the only fields with defaults) what their training did
    min_steps: int = 0  # before --min-steps: exactly --epochs
    early_stopping: int = 0  # before --early-stopping: never
    loss: str = "full"  # before --loss: the model's own loss
    report_to: str = "none"  # before --report-to: metrics.jsonl only
    eval_tokens: int = 0  # before --eval-tokens: the whole valid split

    @classmethod
    def of_training(cls, config: TrainConfig, **resolved: Any) -> RunRecord:
        """The record of ``config`` as asked, with what training resolved (``resolved`` names fields). An
        ``eval_tokens`` left unresolved is the default of the record's ``device``: a record holds what the
        evaluations scored, never None."""
        from .train_config import default_eval_tokens

        asked = dataclasses.asdict(config)
        fields = {**asked, "requested_model": config.model, **resolved}
        if fields["eval_tokens"] is None:
            fields["eval_tokens"] = default_eval_tokens(fields["device"])
        fields["target_modules"] = tuple(fields.get("target_modules") or ())
        return cls(**fields)

    # --- the file ---------------------------------------------------------------------------------

    @classmethod
    def read(cls, run_dir: str | Path) -> RunRecord:
        """``run_dir``'s config.json, or one ModelError naming the file and what is wrong with it."""
        path = RunPaths(Path(run_dir)).config
        if not path.is_file():
            raise ModelError(
                f"{run_dir}: not a run directory (no config.json); train one with `tweetsmith train --out {run_dir}`"
            )
        return cls.from_json(read_json_object(path, FIX), source=path)

    def write(self, run_dir: str | Path) -> None:
        """Write ``run_dir``/config.json atomically (a reader never sees half of it)."""
        write_json_atomic(RunPaths(Path(run_dir)).config, self.to_json())

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["target_modules"] = list(self.target_modules)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any], *, source: str | Path = "config.json", fix: str = FIX) -> RunRecord:
        """Read back a record, older ones included; an unknown or missing key is a ModelError naming ``source``
        and ending with ``fix`` (what to do)."""
        renamed = {RENAMED.get(k, k): v for k, v in d.items()} if isinstance(d, Mapping) else d
        values = checked_fields(cls, renamed, source, fix)
        if isinstance(values["pack"], bool):
            values["pack"] = OLD_PACK[values["pack"]]
        values["target_modules"] = tuple(values["target_modules"] or ())
        return cls(**values)

    # --- what the fields mean together -------------------------------------------------------------

    def data_path(self, run_dir: str | Path) -> Path:
        """The data directory as a path: a relative one is taken as written when it exists from here, else
        relative to the run directory (not checked to hold the splits: ``run_data_dir`` does)."""
        path = Path(self.data)
        if not path.is_absolute() and not path.exists():
            path = Path(run_dir) / self.data
        return path


def is_tweetsmith_run(path: str | Path) -> bool:
    """Whether ``path`` holds a run record tweetsmith wrote (a model folder has a config.json too, without
    the keys of ours): the test before anything is written into a directory someone gives as ``--out``.
    Only the two keys every version wrote are looked at, so a record this version cannot read is still ours."""
    raw = read_json(RunPaths(Path(path)).config)
    return isinstance(raw, dict) and "requested_model" in raw and "method" in raw


def check_run_out(path: str | Path) -> None:
    """Refuse, with one line and nothing changed, an ``--out`` that is neither missing, empty, nor a run of
    tweetsmith's: training writes config.json and metrics.jsonl there and would replace someone's files."""
    from .dir_lock import LOCK_FILE

    root = Path(path)
    if not root.exists():
        return
    if not root.is_dir():
        raise ConfigError(f"--out {root} is a file, not a directory; choose a new directory for the run")
    others = sorted(p.name for p in root.iterdir() if p.name != LOCK_FILE)
    if others and not is_tweetsmith_run(root):
        shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
        raise ConfigError(f"--out {root} is not a tweetsmith run (it holds {shown}); give a new or empty directory")


def recorded_data_dir(run_dir: str | Path) -> Path | None:
    """The data directory the run's record names (None when it names none), not checked."""
    record = RunRecord.read(run_dir)
    return record.data_path(run_dir) if record.data else None


def run_data_dir(run_dir: str | Path) -> Path:
    """The data directory the run was trained on, checked to hold the splits (else ConfigError)."""
    path = recorded_data_dir(run_dir)
    if path is None:
        raise ConfigError(f'{RunPaths(Path(run_dir)).config}: "data" is empty; it should name the split directory')
    if not SplitDir(path).test.is_file():
        raise ConfigError(
            f"{path}: no test.txt; the run's data directory must hold train/valid/test.txt (run `tweetsmith prepare`)"
        )
    return path


def runs_own_models(run_dir: str | Path, models: Mapping[Side, LoadedModel]) -> dict[Side, LoadedModel]:
    """The loaded ``models`` an experiment on the run may reuse instead of loading them again: the base only
    when it is the model the run was trained from (its spec is the one the record names: a chat that
    switched to another model must not stand in for the run's base); a tuned model is the run's own."""
    own = dict(models)
    base = own.get("base")
    if base is not None and base.info.spec != RunRecord.read(run_dir).model:
        del own["base"]
    return own
