"""RUN/report.md: the assignment's questions answered with this run's numbers.

Sections: the dataset described from its files (``report_data``), perplexity before/after, overlap of
generated text with the test set, whether samples are in the prompted author's voice (``report_voice``),
diversity against temperature / top-k / top-p (plots), sample
excerpts per author with their measured problems, the training flags used and which flags mattered
(``report_findings``), and with ``tweetsmith assignment`` each stage's wall time. Missing experiments
are computed first (unless ``compute=False``: then their sections say how to produce them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from tweetsmith.data.split import SplitDir

from .ablation import AblationResult, median_tokens_per_s
from .experiment_cache import cached_comparison, cached_samples, cached_sweep
from .experiments import DEFAULT_SWEEP_VALUES, compare_samples, sweep
from .perplexity_comparison import compare_perplexity
from .plots import plot_sweep, plot_training
from .progress import ProgressFn
from .report_data import dataset_section
from .report_findings import excerpts_section, flags_section
from .report_voice import voice_section
from .results import SampleFigures
from .run_record import RunRecord, run_data_dir
from .runs import RunPaths, has_final_model, read_metrics, write_text_atomic
from .sampling import SamplingConfig
from .stage_record import StageTime

REPORT_SWEEPS = ("temperature", "top_k", "top_p")


def build_report(
    run_dir: str | Path,
    *,
    compute: bool = True,
    n: int = 100,
    sweeps: Sequence[str] = REPORT_SWEEPS,
    config: SamplingConfig = SamplingConfig(),
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    out: str | Path | None = None,
    stage_times: Sequence[StageTime] = (),
    ablation: AblationResult | None = None,
    ablation_hint: bool = False,
) -> Path:
    """Write RUN/report.md, or ``out`` (computing what is missing when ``compute``), and return its path.

    From ``tweetsmith assignment``: ``stage_times`` adds a section with each stage's wall time,
    ``ablation`` the table of its short runs (``ablation_hint``: say how to get one)."""
    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    target = Path(out) if out is not None else paths.report
    record = RunRecord.read(run_dir)
    data = run_data_dir(run_dir)
    tuned = has_final_model(run_dir)
    if compute:
        if tuned and cached_comparison(run_dir) is None:
            compare_perplexity(run_dir, on_progress=on_progress, cancel=cancel)
        if cached_samples(run_dir) is None:
            compare_samples(run_dir, n=n, config=config, on_progress=on_progress, cancel=cancel)
        for param in sweeps:
            if cached_sweep(run_dir, param) is None:
                sweep(
                    run_dir,
                    param,
                    DEFAULT_SWEEP_VALUES[param],
                    n=n,
                    config=config,
                    on_progress=on_progress,
                    cancel=cancel,
                )
    link = _Linker(target.parent)
    parts = [
        _title(run_dir, record, tuned),
        dataset_section(data),
        _perplexity(run_dir),
        _overlap(run_dir),
        voice_section(run_dir, link),
        _sweeps(run_dir, paths, list(dict.fromkeys([*REPORT_SWEEPS, *sweeps])), link),
        excerpts_section(run_dir, data),
        _training(run_dir, paths, record, link),
        flags_section(run_dir, ablation=ablation, ablation_hint=ablation_hint),
    ]
    if stage_times:
        parts.append(_stage_times(stage_times))
    write_text_atomic(target, "\n\n".join(p.strip() for p in parts) + "\n")
    return target


class _Linker:
    """Image links relative to the report's own directory (RUN/report.md or DIR/report.md)."""

    def __init__(self, base: Path):
        self.base = base

    def __call__(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.base)).as_posix()


def _title(run_dir: Path, record: RunRecord, tuned: bool) -> str:
    status = "" if tuned else "\n\n> No `final/` model yet: only the base model's numbers are shown."
    return (
        f"# Report: {run_dir.name}\n\nModel `{record.model}` fine-tuned ({record.method}) on `{record.data}`.{status}"
    )


def _stage_times(stages: Sequence[StageTime]) -> str:
    table = "| stage | wall time | |\n|---|---:|---|"
    for s in stages:
        table += f"\n| {s.stage} | {s.seconds:,.1f} s | {'cached: computed by an earlier run' if s.cached else ''} |"
    computed = sum(s.seconds for s in stages)
    return (
        f"## 8. How long each stage took\n\n{table}\n\nTotal {computed / 60:.1f} min of computing, on the machine "
        "that ran `tweetsmith assignment` (a stage marked cached shows the time of the run that computed it)."
    )


def _perplexity(run_dir: Path) -> str:
    out = ["## 2. Perplexity before and after fine-tuning"]
    cmp = cached_comparison(run_dir)
    if cmp is None:
        out.append(f"Not computed yet: run `tweetsmith eval --compare {run_dir}`.")
        return "\n\n".join(out)
    table = (
        "| split | perplexity | base | tuned | change | base bits/byte | tuned bits/byte |\n"
        "|---|---|---:|---:|---:|---:|---:|"
    )
    for split in ("valid", "test"):
        for context, label in (("windowed", "windowed"), ("record", "per record")):
            b, t = cmp.side("base", context)[split], cmp.side("tuned", context)[split]
            c = cmp.change(split, context)
            table += (
                f"\n| {split} | {label} | {b.perplexity:.2f} | {t.perplexity:.2f} | {c.perplexity:+.2f} "
                f"({c.percent:+.1f}%) | {b.bits_per_byte:.3f} | {t.bits_per_byte:.3f} |"
            )
    out.append(table)
    b = cmp.base["valid"]
    out.append(
        f"Perplexity = exp(mean negative log-likelihood per token) over each split's records (each followed by "
        f"end-of-text). **Windowed**: the records in sliding windows of {b.max_len_tokens} tokens of their "
        f"concatenation, stride {cmp.stride_tokens}, so each record is scored after the records before it (the "
        f"assignment's figure). **Per record**: each record alone after the end-of-text token, as the chat writes "
        f"one tweet. {b.tokens:,} valid tokens. Bits per byte do not depend on the tokenizer."
    )
    totals = {s: _records(SplitDir(cmp.data).path(s)) for s in ("valid", "test")} if cmp.max_tokens else {}
    if any(cmp.base[s].records < total for s, total in totals.items()):
        scored = ", ".join(f"{cmp.base[s].records:,} of {total:,} {s} records" for s, total in totals.items())
        out.append(
            f"Scored: each split's leading records within {cmp.max_tokens:,} tokens ({scored}); "
            "`--eval-tokens 0` scores the whole splits."
        )
    return "\n\n".join(out)


def _records(path: Path) -> int:
    """Records in a split file, as the scorer counts them (0 when it cannot be read any more)."""
    from tweetsmith.data.errors import DataError
    from tweetsmith.data.records import read_split_lines

    try:
        return len(read_split_lines(path))
    except DataError:
        return 0


def _overlap(run_dir: Path) -> str:
    out = ["## 3. Overlap of generated text with the test set"]
    cmp = cached_samples(run_dir)
    if cmp is None:
        out.append(f"Not computed yet: run `tweetsmith compare {run_dir} -n 100`.")
        return "\n\n".join(out)
    sides = list(cmp.sides)
    bleu_n = next(iter(cmp.sides.values())).diversity.self_bleu_n
    rows = [
        ("word tokens in the test vocabulary", "overlap"),
        ("word types in it", "overlap_types"),
        ("word-bigram types in it", "overlap_bigrams"),
        ("dist-1", "dist_1"),
        ("dist-2", "dist_2"),
        (f"self-BLEU-{bleu_n}", "self_bleu"),
        ("mean words per sample", "mean_words"),
    ]
    table = "| | " + " | ".join(sides) + " |\n|---|" + "---:|" * len(sides)
    for label, key in rows:
        table += f"\n| {label} | " + " | ".join(_fmt(cmp.sides[s].figure(key)) for s in sides) + " |"
    out.append(table)
    c = cmp.config
    out.append(
        f"{cmp.n} samples per model, authors drawn from the training data, the same authors and seeds for "
        f"both; {c.prose()}. Overlap is the share "
        f"of generated words (tokens with a letter or digit, TweetTokenizer, lower-cased) found in the test set."
    )
    b, t = (cmp.sides[side].figure("overlap") if side in cmp.sides else None for side in ("base", "tuned"))
    if b is not None and t is not None:  # both sides drawn (overlap is None only without a test set to compare)
        more = "more" if t > b else "less" if t < b else "as"
        out.append(f"The tuned model's words are {more} often test-set words ({t:.1%} vs {b:.1%} for the base model).")
    return "\n\n".join(out)


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _sweeps(run_dir: Path, paths: RunPaths, params: Sequence[str], link: _Linker) -> str:
    out = ["## 4. Diversity against temperature, top-k and top-p"]
    for param in params:
        result = cached_sweep(run_dir, param)
        if result is None:
            out.append(f"### {param}\n\nNot computed yet: run `tweetsmith sweep {run_dir} --param {param}`.")
            continue
        png = plot_sweep(result, paths.plots / f"sweep-{param}.png")
        table = (
            f"| {param} | model | dist-1 | dist-2 | self-BLEU-{result.bleu_n} | overlap | mean words | attribution | tell-apart |"
            "\n|---:|---|---:|---:|---:|---:|---:|---:|---:|"
        )
        for side, points in result.curves.items():
            for point in points:
                p: SampleFigures = point.figures
                value = "off" if param == "top_k" and point.value == 0 else f"{point.value:g}"
                table += (
                    f"\n| {value} | {side} | {p.figure('dist_1'):.3f} | {p.figure('dist_2'):.3f} | {_fmt(p.figure('self_bleu'))} "
                    f"| {_fmt(p.figure('overlap'))} | {p.figure('mean_words'):.1f} | {_fmt(p.figure('attribution'))} "
                    f"| {_fmt(p.figure('authenticity'))} |"
                )
        out.append(
            f"### {param}\n\n![{param} sweep]({link(png)})\n\n{table}\n\n"
            f"{result.n} samples per point (self-BLEU grows with the count: compare at equal counts)."
        )
    return "\n\n".join(out)


def _training(run_dir: Path, paths: RunPaths, record: RunRecord, link: _Linker) -> str:
    out = ["## 6. Training flags used"]
    flat = {k: v for k, v in record.to_json().items() if not isinstance(v, list)}
    out.append("| flag | value |\n|---|---|\n" + "\n".join(f"| {k} | `{v}` |" for k, v in flat.items()))
    rows = read_metrics(run_dir)
    if rows:
        last = rows[-1]
        summary = [f"{len(rows)} logged steps, last step {last.get('step')}"]
        if last.get("loss") is not None:
            summary.append(f"final train loss {last['loss']:.3f}")
        speed = median_tokens_per_s(rows)
        if speed is not None:
            summary.append(f"median {speed:.0f} tokens/s")
        out.append("Training: " + ", ".join(summary) + ".")
        png = plot_training(run_dir, paths.plots / "training.png")
        if png:
            out.append(f"![training]({link(png)})")
    return "\n\n".join(out)
