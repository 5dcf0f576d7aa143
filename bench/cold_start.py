"""What the chat gets, measured per training recipe: cold and windowed perplexity, sample problems, samples.

The chat writes one record after nothing but end-of-text and an author prefix. This bench trains one
LoRA run per recipe on a split directory (``--variant NAME:key=value,...`` over ``TrainConfig`` fields;
the first variant is the baseline, e.g. today's defaults), then scores base and tuned on the same
leading valid records both ways, "windowed" (the assignment's sliding windows over concatenated
records) and "cold" (each record alone), draws ``--samples`` tuned samples through the chat's own
sampling path and counts their problems with the report's own rules (``engine.report_findings.problems``),
and prints ten of them from a seeded draw. ``--curve`` also scores every kept checkpoint cold, which
shows where more steps stop paying.

    python bench/cold_start.py --data DIR --work /tmp/cold/paulg \\
        --variant before:pack=concat --variant isolated:pack=isolated --records 600 --samples 100

Runs are kept under ``--work`` and reused (a variant whose ``final/`` exists is not trained again), so a
second call only measures. Results go to WORK/results.json as well as the table. Never run two at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from tweetsmith.data.records import read_split_lines
from tweetsmith.engine.checkpoints import list_checkpoints
from tweetsmith.engine.diversity import diversity
from tweetsmith.engine.experiments import authors_from_split
from tweetsmith.engine.generate import generate_samples
from tweetsmith.engine.lora import adapters_merged
from tweetsmith.engine.memorisation import index_for_data
from tweetsmith.engine.models import load_model
from tweetsmith.engine.perplexity import perplexity_of_lines, record_perplexity_of_lines
from tweetsmith.engine.report_findings import excerpt_draw
from tweetsmith.engine.sample_problems import problems
from tweetsmith.engine.sampling import SamplingConfig
from tweetsmith.engine.train import train
from tweetsmith.engine.train_config import TrainConfig
from tweetsmith.engine.voice import two_sample_test

MODEL = "smollm2-135m"


def parse_variant(text: str) -> tuple[str, dict]:
    """``name:key=value,key=value`` -> (name, TrainConfig overrides typed by the field's default)."""
    name, _, body = text.partition(":")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    changes = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        default = fields[key].default
        kind = type(default) if default is not None else float
        changes[key] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
    return name, changes


def scores(loaded, lines: list[str]) -> dict:
    with adapters_merged(loaded.model) as model:
        common = dict(eot_id=loaded.eot_id, pad_id=loaded.pad_id)
        windowed = perplexity_of_lines(model, loaded.tokenizer, lines, **common).perplexity
        cold = record_perplexity_of_lines(model, loaded.tokenizer, lines, **common).perplexity
    return {"windowed": round(windowed, 2), "cold": round(cold, 2)}


def sample_figures(loaded, data: Path, n: int, config: SamplingConfig) -> dict:
    authors = authors_from_split(data / "train.txt", n, seed=config.seed)
    samples = generate_samples(loaded, authors, config)
    index = index_for_data(data)
    found = [problems(s, m) for s, m in zip(samples, index.match_many([s.text for s in samples]))]
    counts: dict[str, int] = {}
    for items in found:
        for item in items:
            kind = "copies" if item.startswith("copies") else "cut" if item.startswith("cut") else item
            counts[kind] = counts.get(kind, 0) + 1
    shown = [
        f"\\{samples[i].author}- {' '.join(samples[i].text.split())}"
        + (f"   [{'; '.join(found[i])}]" if found[i] else "")
        for i in excerpt_draw(len(samples), 10)
    ]
    figures = diversity([s.text for s in samples])
    real = [line for line in read_split_lines(data / "test.txt")]
    told = two_sample_test(real, [f"\\{s.author}- {s.text}" for s in samples])
    return {
        "with_problem": sum(1 for f in found if f),
        "counts": counts,
        "shown": shown,
        "mean_words": round(sum(len(s.text.split()) for s in samples) / max(1, len(samples)), 1),
        "dist_2": round(figures.dist_2, 3),
        "self_bleu": round(figures.self_bleu or 0.0, 3),
        "tell_apart": round(told.value, 3) if told is not None else None,
    }


def _log(name: str, event) -> None:
    kind = type(event).__name__
    if kind == "TrainingStarted":
        print(
            f"  {name}: {event.total_steps} steps, {event.train_tokens} tokens an epoch, {event.dtype}",
            file=sys.stderr,
            flush=True,
        )
    elif kind == "StepLogged":
        print(
            f"  {name}: step {event.step}/{event.total_steps} loss {event.loss:.3f} {event.tokens_per_s:.0f} tok/s",
            file=sys.stderr,
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--records", type=int, default=600, help="leading valid records scored (0: all)")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--sampling", default="", help="SamplingConfig overrides for the samples, key=value,...")
    parser.add_argument("--samples-only", action="store_true", help="skip the perplexities (a sampling change)")
    parser.add_argument("--curve", action="store_true", help="also score every kept checkpoint cold")
    args = parser.parse_args()
    lines = read_split_lines(args.data / "valid.txt")
    lines = lines[: args.records] if args.records else lines
    sampling = SamplingConfig(seed=1234)
    for item in filter(None, args.sampling.split(",")):
        key, _, value = item.partition("=")
        sampling = sampling.with_changes(**{key: type(getattr(sampling, key))(value)})
    args.work.mkdir(parents=True, exist_ok=True)
    results_file = args.work / "results.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    if "base" not in results and not args.samples_only:
        results["base"] = scores(load_model(MODEL), lines)
        results_file.write_text(json.dumps(results, indent=1))
    print(f"base on {len(lines)} valid records: {results.get('base')}", flush=True)
    for text in args.variant:
        name, changes = parse_variant(text)
        out = args.work / name
        settings = {"eval_every": 0, "save_every": 0, "keep_checkpoints": 100, **changes}
        config = TrainConfig(data=str(args.data), model=MODEL, out=str(out), lora=True, **settings)
        started = time.perf_counter()
        if not (out / "final").is_dir():
            train(config, on_event=lambda e: _log(name, e))
        seconds = time.perf_counter() - started
        key = f"{name}|{args.sampling}"
        row = results.get(key, {})
        row.setdefault("train_seconds", round(seconds, 1))
        row["changes"] = changes
        loaded = load_model(MODEL, adapter=out / "final")
        if not args.samples_only:
            row["tuned"] = scores(loaded, lines)
        row["samples"] = sample_figures(loaded, args.data, args.samples, sampling)
        if args.curve:
            row["curve"] = {}
            for ckpt in list_checkpoints(out / "checkpoints"):
                ck = load_model(MODEL, adapter=ckpt.path)
                with adapters_merged(ck.model) as model:
                    row["curve"][ckpt.step] = round(
                        record_perplexity_of_lines(
                            model, ck.tokenizer, lines, eot_id=ck.eot_id, pad_id=ck.pad_id
                        ).perplexity,
                        2,
                    )
        results[key] = row
        results_file.write_text(json.dumps(results, indent=1))
        figures = {k: row["samples"].get(k) for k in ("dist_2", "self_bleu", "tell_apart", "mean_words")}
        print(
            f"{name}: tuned {row.get('tuned')} problems {row['samples']['with_problem']}/{args.samples} "
            f"{row['samples']['counts']} {figures} train {row['train_seconds']}s curve {row.get('curve')}",
            flush=True,
        )
        for line in row["samples"]["shown"]:
            print("   ", line[:220], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
