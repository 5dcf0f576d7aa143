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
import platform
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tweetsmith.data.split import SPLIT_NAMES, SplitDir

from .runs import RunPaths, is_run_dir, read_metrics, write_json_atomic, write_text_atomic

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


def data_summary(data_dir: str | Path) -> dict:
    """The data directory, a sha256 over its split files (name and bytes, in train/valid/test order) and
    each split's records (non-blank lines) and bytes."""
    data_dir = Path(data_dir).expanduser().resolve()
    digest = hashlib.sha256()
    splits, files = {}, SplitDir(data_dir)
    for name in SPLIT_NAMES:
        path = files.path(name)
        if not path.is_file():
            continue
        raw = path.read_bytes()
        digest.update(f"{path.name}\0{len(raw)}\0".encode())
        digest.update(raw)
        splits[name] = {"records": sum(1 for line in raw.split(b"\n") if line.strip()), "bytes": len(raw)}
    return {"dir": str(data_dir), "sha256": digest.hexdigest(), "splits": splits}


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


def model_summary(spec: str, source: str, location: str, *, memo: Path | None = None) -> dict:
    path = weights_file(location, spec)
    out = {"spec": spec, "source": source, "location": location, "weights_file": str(path) if path else None,
           "weights_sha256": None, "weights_bytes": None}
    if path is not None:
        out["weights_sha256"] = file_sha256(path, memo)
        out["weights_bytes"] = path.stat().st_size
    return out


def library_versions() -> dict:
    """Installed versions of the libraries a run depends on (None when absent), without importing them."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def reproduce_command(config: Any) -> str:
    """The ``tweetsmith train`` command that makes this run again: every flag that differs from its
    default (flag names as the CLI builds them from ``TrainConfig``), never ``--resume``."""
    from .train_config import TrainConfig

    values = config if isinstance(config, dict) else dataclasses.asdict(config)
    parts = ["tweetsmith", "train"]
    for field in dataclasses.fields(TrainConfig):
        if field.name == "resume" or field.name not in values:
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


def card_paths(run_dir: str | Path) -> tuple[Path, Path]:
    paths = RunPaths(Path(run_dir))
    return paths.card, paths.card_md


def read_card(run_dir: str | Path) -> dict | None:
    try:
        return json.loads(card_paths(run_dir)[0].read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _write(run_dir: str | Path, card: dict) -> dict:
    json_path, md_path = card_paths(run_dir)
    write_json_atomic(json_path, card)
    write_text_atomic(md_path, render_markdown(card))
    return card


def start_card(run_dir: str | Path, config: Any, *, model_spec: str, model_source: str, model_location: str,
               device: str, precision: str, resolved: dict | None = None, data_dir: str | Path | None = None,
               resumed_from: str | None = None, memo: Path | None = None) -> dict:
    """Write the card as the run starts (status "running"); returns it. ``config`` is the TrainConfig as
    asked (or its dict): the flags and the reproducing command; ``resolved`` what training made of them
    (block size, the micro-batch after an out-of-memory retry, processes, learning rate...);
    ``model_*`` describe the base actually loaded (after any fallback)."""
    values = config if isinstance(config, dict) else dataclasses.asdict(config)
    if memo is None:
        from .paths import home

        memo = home() / "hashes.json"
    previous = read_card(run_dir) if resumed_from else None
    card = {
        "run": str(Path(run_dir)),
        "status": "running",
        "started": previous.get("started") if previous else _now(),
        "resumed": _now() if resumed_from else None,
        "resumed_from": resumed_from,
        "ended": None,
        "data": data_summary(data_dir or values.get("data", "")),
        "model": model_summary(model_spec, model_source, model_location, memo=memo),
        "method": values.get("method") or ("qlora" if values.get("quantize") else "lora" if values.get("lora") else "full"),
        "flags": values,
        "resolved": resolved or {},
        "libraries": library_versions(),
        "device": device,
        "precision": precision,
        # The data directory as resolved (absolute), so the command works from anywhere.
        "reproduce": reproduce_command({**values, **({"data": str(resolved["data"])} if (resolved or {}).get("data") else {})}),
        "results": None,
    }
    return _write(run_dir, card)


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


def finish_card(run_dir: str | Path, *, outcome: str, steps: int, seconds: float, tokens_seen: int | None = None,
                result_dir: str = "", stopped_early: str | None = None) -> dict:
    """Complete the card: status (completed/stopped), end time, steps, tokens seen, final and best metrics,
    and why early stopping ended the run (``stopped_early``), when it did.

    Without ``tokens_seen`` it is estimated as steps x batch x accumulation x processes x block (exact
    for packed training, an upper bound for padded)."""
    card = read_card(run_dir) or {"run": str(run_dir), "flags": {}}
    known = {**(card.get("flags") or {}), **(card.get("resolved") or {})}
    estimated = tokens_seen is None
    if estimated:
        per_step = 1
        for key in ("batch_size", "grad_accum", "world_size", "block_size"):
            per_step *= int(known.get(key) or 1)
        tokens_seen = steps * per_step
    card.update(status=outcome, ended=_now(), results={
        "steps": steps, "seconds": round(seconds, 1), "tokens_seen": tokens_seen, "tokens_seen_estimated": estimated,
        "result_dir": result_dir, "stopped_early": stopped_early, **results_from_metrics(run_dir)})
    return _write(run_dir, card)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_markdown(card: dict) -> str:
    """card.md: the same facts as card.json, for people."""
    name = Path(card.get("run", "run")).name
    data, model, results = card.get("data") or {}, card.get("model") or {}, card.get("results")
    out = [f"# Run card: {name}", "",
           f"Status: **{card.get('status')}** · started {card.get('started')}"
           + (f" · resumed {card['resumed']}" if card.get("resumed") else "")
           + (f" · ended {card['ended']}" if card.get("ended") else ""), "",
           "## Data", "", f"- directory: `{data.get('dir')}`", f"- content sha256: `{data.get('sha256')}`", "",
           "| split | records | bytes |", "|---|---:|---:|"]
    for split, info in (data.get("splits") or {}).items():
        out.append(f"| {split} | {info['records']:,} | {info['bytes']:,} |")
    out += ["", "## Base model", "", f"- spec: `{model.get('spec')}` ({model.get('source')}, `{model.get('location')}`)",
            f"- weights: `{model.get('weights_file')}`", f"- weights sha256: `{model.get('weights_sha256')}`", "",
            "## Method and flags", "", f"Method: **{card.get('method')}**", "", "| flag | value |", "|---|---|"]
    resolved = card.get("resolved") or {}
    for key, value in (card.get("flags") or {}).items():
        used = resolved.get(key, value)
        out.append(f"| {key} | `{json.dumps(value)}`" + (f" (used: `{json.dumps(used)}`)" if used != value else "") + " |")
    extra = {k: v for k, v in resolved.items() if k not in (card.get("flags") or {})}
    if extra:
        out += ["", "Resolved at the start: " + ", ".join(f"{k} `{json.dumps(v)}`" for k, v in extra.items())]
    out += ["", "## Environment", "", f"- device: {card.get('device')}, precision: {card.get('precision')}"]
    out += [f"- {lib}: {version or 'not installed'}" for lib, version in (card.get("libraries") or {}).items()]
    out += ["", "## Results", ""]
    if results:
        out += [f"- {results['stopped_early']}"] if results.get("stopped_early") else []
        out += [f"- steps: {results.get('steps')} in {_fmt(results.get('seconds'))} s",
                f"- tokens seen: {results.get('tokens_seen'):,}" + (" (estimated)" if results.get("tokens_seen_estimated") else ""),
                f"- final loss: {_fmt(results.get('final_loss'))}",
                f"- final valid perplexity: {_fmt(results.get('final_valid_perplexity'))}",
                f"- best valid perplexity: {_fmt(results.get('best_valid_perplexity'))} (step {_fmt(results.get('best_step'))})",
                f"- model: `{results.get('result_dir') or '–'}`"]
    else:
        out.append("Still running (or it ended without finishing the card).")
    out += ["", "## Reproduce", "", "```", card.get("reproduce", ""), "```", ""]
    return "\n".join(out)


# --- listing runs ------------------------------------------------------------------------------------


def run_summary(run_dir: str | Path) -> RunSummary | None:
    """One row for ``tweetsmith runs``: from the card, else from config.json and metrics.jsonl (older runs)."""
    from .results import RunSummary

    run_dir = Path(run_dir)
    card = read_card(run_dir)
    if card is not None:
        results = card.get("results") or results_from_metrics(run_dir)
        flags = card.get("flags") or {}
        return RunSummary(run=str(run_dir), model=(card.get("model") or {}).get("spec"), data=(card.get("data") or {}).get("dir"),
                          method=card.get("method"), steps=results.get("steps") if card.get("results") else None,
                          best_valid_perplexity=results.get("best_valid_perplexity"), status=card.get("status"),
                          when=card.get("ended") or card.get("started"), max_steps=flags.get("max_steps"))
    try:
        config = json.loads(RunPaths(run_dir).config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    results = results_from_metrics(run_dir)
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(RunPaths(run_dir).config.stat().st_mtime))
    return RunSummary(run=str(run_dir), model=config.get("model"), data=config.get("data"), method=config.get("method"),
                      steps=results.get("final_step_logged"), best_valid_perplexity=results.get("best_valid_perplexity"),
                      status="no card", when=when, max_steps=config.get("max_steps"))


def list_runs(root: str | Path) -> list[RunSummary]:
    """The runs directly under ``root`` (or ``root`` itself when it is a run), newest first."""
    root = Path(root)
    folders = [root] if is_run_dir(root) or RunPaths(root).card.is_file() else sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    rows = [row for row in (run_summary(p) for p in folders) if row is not None]
    return sorted(rows, key=lambda r: r.when or "", reverse=True)
