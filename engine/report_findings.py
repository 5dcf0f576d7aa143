"""The report's two judgement sections, made of measurements: what is wrong with the samples, and which
training flags mattered.

Samples: each excerpt carries the problems found by computed signals (a word 3-gram said twice, cut at
the token limit, empty or very short, a span copied from the training split), and the section counts
each problem over all the samples. Flags: the ablation's short runs (``engine.ablation``) when there is
one, and the runs beside this one that trained on the same data, tabled by what differs between them
and what they reached (valid perplexity, tokens/s).
"""

from __future__ import annotations

from pathlib import Path

from .ablation import AblationResult, ablation_table, median_tokens_per_s
from .experiment_cache import cached_comparison, cached_samples
from .run_record import RunRecord, recorded_data_dir
from .runs import is_run_dir, read_metrics
from .sample_problems import count_problems, problems_of
from .samples_io import load_samples
from .sides import Side

COMPARED_FLAGS = ("method", "pack", "lr", "block_size", "lora_r", "max_steps", "epochs", "precision")
EXCERPT_SEED = 5  # the seed of section 5's draw, printed beside it so anyone can draw the same samples again
EXCERPTS = 10


def excerpt_draw(n: int, k: int = EXCERPTS, seed: int = EXCERPT_SEED) -> list[int]:
    """Indices of the samples section 5 shows: ``random.Random(seed).sample(range(n), min(k, n))``. A random
    draw, never the first samples (which a reader would take for typical ones, and which are not)."""
    import random

    return random.Random(seed).sample(range(n), min(k, n))


def _load(cmp, side: Side) -> list:
    file = cmp.sides[side].file if cmp and side in cmp.sides else None
    try:
        return load_samples(file) if file else []
    except Exception:  # noqa: BLE001 - a moved or deleted samples file only loses the excerpts
        return []


def excerpts_section(run_dir: Path, data: Path, shown: int = EXCERPTS, seed: int = EXCERPT_SEED) -> str:
    from .memorisation import index_for_data

    out = ["## 5. Samples, and what is wrong with them"]
    cmp = cached_samples(run_dir)
    by_side = {side: _load(cmp, side) for side in ("base", "tuned")}
    by_side = {side: samples for side, samples in by_side.items() if samples}
    if not by_side:
        out.append(f"No samples yet: run `tweetsmith compare {run_dir}`.")
        return "\n\n".join(out)
    index = index_for_data(data)
    found = {side: problems_of(samples, index) for side, samples in by_side.items()}
    for side, samples in by_side.items():
        out.append(
            f"Problems of all {len(samples)} {side} samples ({samples[0].config.short()}): "
            f"{count_problems(found[side]).describe()}."
        )
    side = "tuned" if "tuned" in by_side else "base"
    samples = by_side[side]
    draw = excerpt_draw(len(samples), shown, seed)
    out.append(
        f"{len(draw)} {side} samples drawn at random (seed {seed}: samples "
        f"`random.Random({seed}).sample(range({len(samples)}), {len(draw)})` of the file), each with its problems:"
    )
    lines = []
    for i in draw:
        text = " ".join(samples[i].text.split())[:200] or "(empty)"
        flags = f" *({'; '.join(found[side][i])})*" if found[side][i] else ""
        lines.append(f"- **{samples[i].author}** (seed {samples[i].seed}): {text}{flags}")
    out.append("\n".join(lines))
    return "\n\n".join(out)


def flags_section(run_dir: Path, ablation: AblationResult | None = None, ablation_hint: bool = False) -> str:
    """Measured answers: the ablation's short runs when there is one, and the runs beside this one that
    trained on the same data."""
    out = ["## 7. Which training flags mattered"]
    if ablation is not None:
        out.append(
            f"Short runs of {ablation.steps} optimizer steps each (seed {ablation.seed}), each changing one flag "
            f"of this run's; every row scored on the same {ablation.records:,} leading valid records "
            f"({ablation.tokens:,} tokens). Speed is the median of useful (non-padding) tokens/s."
        )
        out.append(ablation_table(ablation))
    data = recorded_data_dir(run_dir)
    runs = [run_dir]
    for other in sorted(run_dir.parent.iterdir()) if run_dir.parent.is_dir() else []:
        if other != run_dir and is_run_dir(other) and recorded_data_dir(other) == data:
            runs.append(other)
    if ablation is not None:
        if len(runs) == 1:
            return "\n\n".join(out)
        out.append("### Runs in the directory on the same data")
    rows = [(r, RunRecord.read(r)) for r in runs]
    differing = [f for f in COMPARED_FLAGS if len({str(getattr(record, f)) for _, record in rows}) > 1] or [
        "method",
        "pack",
        "lr",
    ]
    table = (
        "| run | "
        + " | ".join(differing)
        + " | valid perplexity | median tokens/s |\n|---|"
        + "---|" * len(differing)
        + "---:|---:|"
    )
    for run, record in rows:
        ppl = _valid_perplexity(run)
        median = median_tokens_per_s(read_metrics(run))
        speed = f"{median:.0f}" if median is not None else "n/a"
        table += (
            f"\n| {run.name} | "
            + " | ".join(f"`{getattr(record, f)}`" for f in differing)
            + f" | {f'{ppl:.2f}' if ppl else 'n/a'} | {speed} |"
        )
    out.append(table)
    if len(rows) == 1:
        if ablation_hint:
            out.append(
                "To measure the flags, run the same `tweetsmith assignment` command with `--ablation` (short "
                "runs at one step budget: packed, packed with records isolated, and one record per example, LoRA vs full, learning rate x0.5 "
                "and x2; `--ablation 50` for 50 steps each): only the new runs are computed."
            )
        out.append(
            f"Only this run has trained on `{data}`, so nothing here is compared yet. To measure a flag, train "
            f"the same data with it changed into `{run_dir.parent}` (for example `tweetsmith train --data {data} "
            f"--out {run_dir.parent}/no-pack --pack off` with this run's other flags, or `--lr` at half and twice "
            "this run's) and write the report again: every run there on this data joins the table."
        )
    else:
        out.append(
            f"The {len(rows)} runs in `{run_dir.parent}` that trained on this data; the columns are the flags "
            "that differ between them. Perplexity is the tuned model's on the valid split."
        )
    return "\n\n".join(out)


def _valid_perplexity(run: Path) -> float | None:
    """The run's tuned valid perplexity: from its perplexity comparison, else its last evaluation in training."""
    cmp = cached_comparison(run)
    if cmp is not None and "valid" in cmp.tuned:
        return cmp.tuned["valid"].perplexity
    values = [m["valid_perplexity"] for m in read_metrics(run) if m.get("valid_perplexity") is not None]
    return values[-1] if values else None
