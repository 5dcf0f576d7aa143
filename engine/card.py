"""The run card: ``RUN/card.json`` and ``RUN/card.md``, what a run was made from and what it gave.

``start_card`` writes it when training starts (status "running"): the data directory with a content hash
and split sizes, the base model (spec, source, sha256 of its weights file), the method and every flag,
library versions, device and precision, the start time and the one command that reproduces the run.
``finish_card`` completes it at the end: end time, steps, tokens seen, final and best metrics (read from
``RUN/metrics.jsonl``). Both write atomically; ``tweetsmith runs`` lists runs from their cards.

Hashing a multi-GB weights file takes seconds, so hashes are remembered in ``$TWEETSMITH_HOME/hashes.json``
by (path, size, modification time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tweetsmith.data.split import SPLIT_NAMES, SplitDir

from .card_record import Card, CardData, CardModel, CardResults, SplitSize
from .errors import ModelError
from .run_record import RunRecord
from .runs import RunPaths, is_run_dir, read_metrics, write_json_atomic, write_text_atomic
from .train_config import TrainConfig

if TYPE_CHECKING:
    from .results import RunSummary

LIBRARIES = ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "textual", "nltk")
WEIGHT_NAMES = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --- facts gathered at the start ----------------------------------------------------------------------


def file_sha256(path: str | Path, memo: Path | None = None) -> str:
    """sha256 of a file, remembered by (path, size, mtime) in ``memo`` (a JSON file) when given."""
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    known: dict = {}
    if memo is not None:
        try:
            known = json.loads(memo.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            known = {}
        if key in known:
            return known[key]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    if memo is not None:
        known[key] = value
        try:
            write_json_atomic(memo, known)
        except OSError:
            pass
    return value


def data_summary(data_dir: str | Path) -> CardData:
    """The data directory, a sha256 over its split files (name and bytes, in train/valid/test order) and
    each split's records (non-blank lines) and bytes."""
    data_dir = Path(data_dir).expanduser().resolve()
    digest = hashlib.sha256()
    splits: dict[str, SplitSize] = {}
    files = SplitDir(data_dir)
    for name in SPLIT_NAMES:
        path = files.path(name)
        if not path.is_file():
            continue
        raw = path.read_bytes()
        digest.update(f"{path.name}\0{len(raw)}\0".encode())
        digest.update(raw)
        splits[name] = SplitSize(records=sum(1 for line in raw.split(b"\n") if line.strip()), bytes=len(raw))
    return CardData(dir=str(data_dir), sha256=digest.hexdigest(), splits=splits)


def weights_file(location: str, spec: str = "") -> Path | None:
    """The weights file behind a resolved model location: a local directory's safetensors (the first
    shard of a sharded one), a .gguf spec's file, or a hub model's file in the HF cache."""
    if spec.endswith(".gguf") and Path(spec).expanduser().is_file():
        return Path(spec).expanduser()
    folder = Path(location).expanduser()
    if folder.is_dir():
        for name in WEIGHT_NAMES:
            if (folder / name).is_file():
                return folder / name
        shards = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.gguf"))
        return shards[0] if shards else None
    try:
        from huggingface_hub import try_to_load_from_cache

        for name in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(location, name)
            if isinstance(found, str):
                return Path(found)
    except Exception:  # noqa: BLE001 - a hub id we can't map to a file: no hash, the card says so
        return None
    return None


def model_summary(spec: str, source: str, location: str, *, memo: Path | None = None) -> CardModel:
    path = weights_file(location, spec)
    return CardModel(
        spec=spec,
        source=source,
        location=location,
        weights_file=str(path) if path else None,
        weights_sha256=file_sha256(path, memo) if path else None,
        weights_bytes=path.stat().st_size if path else None,
    )


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries a run depends on (None when absent), without importing them."""
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def reproduce_command(config: TrainConfig) -> str:
    """The ``tweetsmith train`` command that makes this run again: every flag that differs from its
    default (flag names as the CLI builds them from ``TrainConfig``), never ``--resume``."""
    values = dataclasses.asdict(config)
    parts = ["tweetsmith", "train"]
    for field in dataclasses.fields(TrainConfig):
        if field.name == "resume":
            continue
        value = values[field.name]
        always = field.name in ("data", "model", "out")
        if value == field.default and not always:
            continue
        flag = field.metadata.get("flag") or "--" + field.name.replace("_", "-")
        if isinstance(field.default, bool):
            parts.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return " ".join(shlex.quote(p) for p in parts)


# --- writing -------------------------------------------------------------------------------------------


def _write(run_dir: str | Path, card: Card) -> Card:
    card.write(run_dir)
    write_text_atomic(RunPaths(Path(run_dir)).card_md, render_markdown(card))
    return card


def start_card(
    run_dir: str | Path,
    config: TrainConfig,
    *,
    model_spec: str,
    model_source: str,
    model_location: str,
    device: str,
    precision: str,
    resolved: RunRecord | None = None,
    data_dir: str | Path | None = None,
    resumed_from: str | None = None,
    memo: Path | None = None,
) -> Card:
    """Write the card as the run starts (status "running"); returns it. ``config`` is the TrainConfig as
    asked: the flags and the reproducing command; ``resolved`` what training made of them (block size, the
    micro-batch after an out-of-memory retry, processes, learning rate...); ``model_*`` describe the base
    actually loaded (after any fallback)."""
    if memo is None:
        from .paths import home

        memo = home() / "hashes.json"
    previous = _previous_card(run_dir) if resumed_from else None
    # The data directory as resolved (absolute), so the reproducing command works from anywhere.
    asked = dataclasses.replace(config, data=resolved.data) if resolved is not None and resolved.data else config
    card = Card(
        run=str(Path(run_dir)),
        status="running",
        started=previous.started if previous else _now(),
        resumed=_now() if resumed_from else None,
        resumed_from=resumed_from,
        ended=None,
        data=data_summary(data_dir or config.data),
        model=model_summary(model_spec, model_source, model_location, memo=memo),
        method=config.method,
        flags=config,
        resolved=resolved,
        libraries=library_versions(),
        device=device,
        precision=precision,
        reproduce=reproduce_command(asked),
        results=None,
    )
    return _write(run_dir, card)


def _previous_card(run_dir: str | Path) -> Card | None:
    """The card a resumed run had (for its start time); one this version cannot read is replaced, not fatal."""
    try:
        return Card.read(run_dir)
    except ModelError:
        return None


def results_from_metrics(run_dir: str | Path) -> dict:
    """Final and best numbers in RUN/metrics.jsonl: the last loss, the last and the lowest valid perplexity."""
    rows = read_metrics(run_dir)
    losses = [r for r in rows if r.get("loss") is not None]
    evals = [r for r in rows if r.get("valid_perplexity") is not None]
    best = min(evals, key=lambda r: r["valid_perplexity"]) if evals else None
    return {
        "final_loss": losses[-1]["loss"] if losses else None,
        "final_step_logged": losses[-1]["step"] if losses else None,
        "final_valid_perplexity": evals[-1]["valid_perplexity"] if evals else None,
        "best_valid_perplexity": best["valid_perplexity"] if best else None,
        "best_step": best["step"] if best else None,
    }


def finish_card(
    run_dir: str | Path,
    *,
    outcome: str,
    steps: int,
    seconds: float,
    tokens_seen: int | None = None,
    result_dir: str = "",
    stopped_early: str | None = None,
) -> Card | None:
    """Complete the card: status (completed/stopped), end time, steps, tokens seen, final and best metrics,
    and why early stopping ended the run (``stopped_early``), when it did. None, with nothing written, for a
    run without a card (training writes it first).

    Without ``tokens_seen`` it is estimated as steps x batch x accumulation x processes x block (exact
    for packed training, an upper bound for padded), from the resolved shape when known, else the flags."""
    card = Card.read(run_dir)
    if card is None:
        return None
    estimated = tokens_seen is None
    if tokens_seen is None:
        shape = card.resolved or card.flags
        processes = card.resolved.world_size if card.resolved else 1
        tokens_seen = steps * math.prod(
            max(1, n) for n in (shape.batch_size, shape.grad_accum, processes, shape.block_size)
        )
    results = CardResults(
        steps=steps,
        seconds=round(seconds, 1),
        tokens_seen=tokens_seen,
        tokens_seen_estimated=estimated,
        result_dir=result_dir,
        stopped_early=stopped_early,
        **results_from_metrics(run_dir),
    )
    return _write(run_dir, dataclasses.replace(card, status=outcome, ended=_now(), results=results))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(card: Card) -> str:
    """card.md: the same facts as card.json, for people."""
    data, model, results = card.data, card.model, card.results
    out = [
        f"# Run card: {Path(card.run).name}",
        "",
        f"Status: **{card.status}** · started {card.started}"
        + (f" · resumed {card.resumed}" if card.resumed else "")
        + (f" · ended {card.ended}" if card.ended else ""),
        "",
        "## Data",
        "",
        f"- directory: `{data.dir}`",
        f"- content sha256: `{data.sha256}`",
        "",
        "| split | records | bytes |",
        "|---|---:|---:|",
    ]
    out += [f"| {split} | {size.records:,} | {size.bytes:,} |" for split, size in data.splits.items()]
    out += [
        "",
        "## Base model",
        "",
        f"- spec: `{model.spec}` ({model.source}, `{model.location}`)",
        f"- weights: `{model.weights_file}`",
        f"- weights sha256: `{model.weights_sha256}`",
        "",
        "## Method and flags",
        "",
        f"Method: **{card.method}**",
        "",
        "| flag | value |",
        "|---|---|",
    ]
    flags = dataclasses.asdict(card.flags)
    resolved = card.resolved.to_json() if card.resolved else {}
    for key, value in flags.items():
        used = resolved.get(key, value)  # a flag training did not resolve was used as asked
        out.append(
            f"| {key} | `{json.dumps(value)}`" + (f" (used: `{json.dumps(used)}`)" if used != value else "") + " |"
        )
    extra = {k: v for k, v in resolved.items() if k not in flags}
    if extra:
        out += ["", "Resolved at the start: " + ", ".join(f"{k} `{json.dumps(v)}`" for k, v in extra.items())]
    out += ["", "## Environment", "", f"- device: {card.device}, precision: {card.precision}"]
    out += [f"- {lib}: {version or 'not installed'}" for lib, version in card.libraries.items()]
    out += ["", "## Results", ""]
    if results:
        out += [f"- {results.stopped_early}"] if results.stopped_early else []
        out += [
            f"- steps: {results.steps} in {_fmt(results.seconds)} s",
            f"- tokens seen: {results.tokens_seen:,}" + (" (estimated)" if results.tokens_seen_estimated else ""),
            f"- final loss: {_fmt(results.final_loss)}",
            f"- final valid perplexity: {_fmt(results.final_valid_perplexity)}",
            f"- best valid perplexity: {_fmt(results.best_valid_perplexity)} (step {_fmt(results.best_step)})",
            f"- model: `{results.result_dir or '–'}`",
        ]
    else:
        out.append("Still running (or it ended without finishing the card).")
    out += ["", "## Reproduce", "", "```", card.reproduce, "```", ""]
    return "\n".join(out)


# --- listing runs ------------------------------------------------------------------------------------


def run_summary(run_dir: str | Path) -> RunSummary | None:
    """One row for ``tweetsmith runs``: from the card, else from config.json and metrics.jsonl (older runs,
    or a card this version cannot read); None for a folder that is no run tweetsmith can read."""
    from .results import RunSummary

    run_dir = Path(run_dir)
    try:
        card = Card.read(run_dir)
    except ModelError:
        card = None
    if card is not None:
        return RunSummary(
            run=str(run_dir),
            model=card.model.spec,
            data=card.data.dir,
            method=card.method,
            steps=card.results.steps if card.results else None,
            best_valid_perplexity=(
                card.results.best_valid_perplexity
                if card.results
                else results_from_metrics(run_dir)["best_valid_perplexity"]
            ),
            status=card.status,
            when=card.ended or card.started,
            max_steps=card.flags.max_steps,
        )
    if not is_run_dir(run_dir):
        return None
    try:
        record = RunRecord.read(run_dir)
    except ModelError:  # a record this version cannot read: not listed, as a folder that is no run
        return None
    results = results_from_metrics(run_dir)
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(RunPaths(run_dir).config.stat().st_mtime))
    return RunSummary(
        run=str(run_dir),
        model=record.model,
        data=record.data,
        method=record.method,
        steps=results["final_step_logged"],
        best_valid_perplexity=results["best_valid_perplexity"],
        status="no card",
        when=when,
        max_steps=record.max_steps,
    )


def list_runs(root: str | Path) -> list[RunSummary]:
    """The runs directly under ``root`` (or ``root`` itself when it is a run), newest first."""
    root = Path(root)
    folders = (
        [root]
        if is_run_dir(root) or RunPaths(root).card.is_file()
        else sorted(p for p in root.iterdir() if p.is_dir())
        if root.is_dir()
        else []
    )
    rows = [row for row in (run_summary(p) for p in folders) if row is not None]
    return sorted(rows, key=lambda r: r.when or "", reverse=True)
