"""RUN/report.md: the assignment's questions answered with this run's numbers.

Sections: the dataset (description, sizes in MB, example lines), perplexity before/after, overlap of
generated text with the test set, diversity against temperature / top-k / top-p (plots), sample
excerpts per author, and the training flags used. Missing experiments are computed first (unless
``compute=False``: then their sections say how to produce them).
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Sequence

from tweetsmith.data.records import parse_line, read_split_lines

from .experiments import (
    DEFAULT_SWEEP_VALUES,
    cached_comparison,
    cached_samples,
    cached_sweep,
    compare_perplexity,
    compare_samples,
    sweep,
)
from .plots import plot_sweep, plot_training
from .progress import ProgressFn
from .results import SampleFigures
from .runs import RunPaths, has_final_model, read_metrics, read_run_config, run_data_dir, write_text_atomic
from .samples_io import load_samples
from .sampling import SamplingConfig

REPORT_SWEEPS = ("temperature", "top_k", "top_p")
SPLITS = ("train", "valid", "test")


def build_report(run_dir: str | Path, *, compute: bool = True, n: int = 100, sweeps: Sequence[str] = REPORT_SWEEPS,
                 config: SamplingConfig = SamplingConfig(), on_progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> Path:
    """Write RUN/report.md (computing what is missing when ``compute``) and return its path."""
    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    run_config = read_run_config(run_dir)
    data = run_data_dir(run_dir)
    tuned = has_final_model(run_dir)
    if compute:
        if tuned and cached_comparison(run_dir) is None:
            compare_perplexity(run_dir, on_progress=on_progress, cancel=cancel)
        if cached_samples(run_dir) is None:
            compare_samples(run_dir, n=n, config=config, on_progress=on_progress, cancel=cancel)
        for param in sweeps:
            if cached_sweep(run_dir, param) is None:
                sweep(run_dir, param, DEFAULT_SWEEP_VALUES[param], n=n, config=config, on_progress=on_progress, cancel=cancel)
    parts = [
        _title(run_dir, run_config, tuned),
        _dataset(data),
        _perplexity(run_dir),
        _overlap(run_dir),
        _sweeps(run_dir, paths, list(dict.fromkeys([*REPORT_SWEEPS, *sweeps]))),
        _excerpts(run_dir),
        _training(run_dir, paths, run_config),
    ]
    write_text_atomic(paths.report, "\n\n".join(p.strip() for p in parts) + "\n")
    return paths.report


def _title(run_dir: Path, cfg: dict, tuned: bool) -> str:
    method = cfg.get("method", "?")
    status = "" if tuned else "\n\n> No `final/` model yet: only the base model's numbers are shown."
    return f"# Report: {run_dir.name}\n\nModel `{cfg.get('model')}` fine-tuned ({method}) on `{cfg.get('data')}`.{status}"


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f} MB"


def _dataset(data: Path) -> str:
    out = ["## 1. The dataset"]
    readme = data / "README.md"
    if readme.is_file():
        paragraphs = [p for p in readme.read_text(encoding="utf-8").split("\n\n") if p.strip() and not p.startswith("#")]
        if paragraphs:
            out.append(" ".join(paragraphs[0].split()))
    out.append("| split | lines | size | words | authors |\n|---|---:|---:|---:|---:|")
    authors: Counter = Counter()
    examples: list[str] = []
    for split in SPLITS:
        path = data / f"{split}.txt"
        if not path.is_file():
            continue
        lines = read_split_lines(path)
        records = [parse_line(line) for line in lines]
        size = path.stat().st_size
        out[-1] += (f"\n| {split} | {len(lines):,} | {_mb(size)} | {sum(len(r.text.split()) for r in records):,} "
                    f"| {len({r.author for r in records if r.author})} |")
        if split == "train":
            authors.update(r.author for r in records if r.author)
            examples = lines[:: max(1, len(lines) // 5)][:5]
    if authors:
        out.append("Training lines per author: " + ", ".join(f"{a} {c:,}" for a, c in authors.most_common()) + ".")
    if examples:
        out.append("Example lines (train, line format `\\author- text`):\n\n" + "\n".join(f"    {line}" for line in examples))
    return "\n\n".join(out)


def _perplexity(run_dir: Path) -> str:
    out = ["## 2. Perplexity before and after fine-tuning"]
    cmp = cached_comparison(run_dir)
    if cmp is None:
        out.append(f"Not computed yet: run `tweetsmith eval --compare {run_dir}`.")
        return "\n\n".join(out)
    table = "| split | base | tuned | change | base bits/byte | tuned bits/byte |\n|---|---:|---:|---:|---:|---:|"
    for split in ("valid", "test"):
        b, t, c = cmp.base[split], cmp.tuned[split], cmp.change(split)
        table += (f"\n| {split} | {b.perplexity:.2f} | {t.perplexity:.2f} | {c.perplexity:+.2f} ({c.percent:+.1f}%) "
                  f"| {b.bits_per_byte:.3f} | {t.bits_per_byte:.3f} |")
    out.append(table)
    b = cmp.base["valid"]
    out.append(f"Perplexity = exp(mean negative log-likelihood per token) over each split's records (each followed by "
               f"end-of-text), sliding window of {b.max_len_tokens} tokens, stride {cmp.stride_tokens}; "
               f"{b.tokens:,} valid tokens. Bits per byte do not depend on the tokenizer.")
    return "\n\n".join(out)


def _overlap(run_dir: Path) -> str:
    out = ["## 3. Overlap of generated text with the test set"]
    cmp = cached_samples(run_dir)
    if cmp is None:
        out.append(f"Not computed yet: run `tweetsmith compare {run_dir} -n 100`.")
        return "\n\n".join(out)
    sides = list(cmp.sides)
    bleu_n = next(iter(cmp.sides.values())).diversity.self_bleu_n
    rows = [("word tokens in the test vocabulary", "overlap"), ("word types in it", "overlap_types"),
            ("word-bigram types in it", "overlap_bigrams"), ("dist-1", "dist_1"), ("dist-2", "dist_2"),
            (f"self-BLEU-{bleu_n}", "self_bleu"), ("mean words per sample", "mean_words")]
    table = "| | " + " | ".join(sides) + " |\n|---|" + "---:|" * len(sides)
    for label, key in rows:
        table += f"\n| {label} | " + " | ".join(_fmt(cmp.sides[s].figure(key)) for s in sides) + " |"
    out.append(table)
    c = cmp.config
    out.append(f"{cmp.n} samples per model, authors drawn from the training data, the same authors and seeds for "
               f"both; temperature {c.temperature:g}, top-k {c.top_k}, top-p {c.top_p:g}. Overlap is the share "
               f"of generated words (tokens with a letter or digit, TweetTokenizer, lower-cased) found in the test set.")
    if "base" in cmp.sides and "tuned" in cmp.sides:
        b, t = cmp.sides["base"].figure("overlap"), cmp.sides["tuned"].figure("overlap")
        more = "more" if t > b else "less" if t < b else "as"
        out.append(f"The tuned model's words are {more} often test-set words ({t:.1%} vs {b:.1%} for the base model).")
    return "\n\n".join(out)


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _sweeps(run_dir: Path, paths: RunPaths, params: Sequence[str]) -> str:
    out = ["## 4. Diversity against temperature, top-k and top-p"]
    for param in params:
        result = cached_sweep(run_dir, param)
        if result is None:
            out.append(f"### {param}\n\nNot computed yet: run `tweetsmith sweep {run_dir} --param {param}`.")
            continue
        png = plot_sweep(result, paths.plots / f"sweep-{param}.png")
        table = (f"| {param} | model | dist-1 | dist-2 | self-BLEU-{result.bleu_n} | overlap | mean words |"
                 "\n|---:|---|---:|---:|---:|---:|---:|")
        for side, points in result.curves.items():
            for point in points:
                p: SampleFigures = point.figures
                value = "off" if param == "top_k" and point.value == 0 else f"{point.value:g}"
                table += (f"\n| {value} | {side} | {p.figure('dist_1'):.3f} | {p.figure('dist_2'):.3f} | {_fmt(p.figure('self_bleu'))} "
                          f"| {_fmt(p.figure('overlap'))} | {p.figure('mean_words'):.1f} |")
        out.append(f"### {param}\n\n![{param} sweep]({png.relative_to(run_dir)})\n\n{table}\n\n"
                   f"{result.n} samples per point (self-BLEU grows with the count: compare at equal counts).")
    return "\n\n".join(out)


def _excerpts(run_dir: Path, per_author: int = 2) -> str:
    out = ["## 5. Samples per author"]
    cmp = cached_samples(run_dir)
    side = "tuned" if cmp and "tuned" in cmp.sides else "base"
    file = cmp.sides[side].file if cmp and side in cmp.sides else None
    try:
        samples = load_samples(file) if file else []
    except Exception:  # a moved or deleted samples file only loses the excerpts
        samples = []
    if not samples:
        out.append(f"No samples yet: run `tweetsmith compare {run_dir}`.")
        return "\n\n".join(out)
    by_author: dict[str, list] = {}
    for s in samples:
        if s.text.strip() and len(by_author.setdefault(s.author, [])) < per_author:
            by_author[s.author].append(s)
    out.append(f"From the {side} model ({samples[0].config.short()}, seeds recorded in `{Path(file).name}`):")
    out.append("\n".join(f"- **{a}**: {s.text.strip()[:200]}" for a in sorted(by_author) for s in by_author[a]))
    return "\n\n".join(out)


def _training(run_dir: Path, paths: RunPaths, cfg: dict) -> str:
    out = ["## 6. Training flags used"]
    flat = {k: v for k, v in cfg.items() if not isinstance(v, (dict, list))}
    nested = {k: v for k, v in cfg.items() if isinstance(v, dict)}
    for section in nested.values():
        flat.update({k: v for k, v in section.items() if not isinstance(v, (dict, list))})
    out.append("| flag | value |\n|---|---|\n" + "\n".join(f"| {k} | `{v}` |" for k, v in flat.items()))
    rows = read_metrics(run_dir)
    if rows:
        last = rows[-1]
        summary = [f"{len(rows)} logged steps, last step {last.get('step')}"]
        if last.get("loss") is not None:
            summary.append(f"final train loss {last['loss']:.3f}")
        speeds = [r["tokens_per_s"] for r in rows if r.get("tokens_per_s")]
        if speeds:
            summary.append(f"median {sorted(speeds)[len(speeds) // 2]:.0f} tokens/s")
        out.append("Training: " + ", ".join(summary) + ".")
        png = plot_training(run_dir, paths.plots / "training.png")
        if png:
            out.append(f"![training]({png.relative_to(run_dir)})")
    out.append("Flags that matter for this task: the end-of-text token is trained on and never used as padding "
               "(else the model never learns to stop); records are packed into full blocks (more useful tokens per "
               "second than one padded line per example); the learning rate and the number of steps set how far the "
               "model moves from the base (compare the perplexity table above).")
    return "\n\n".join(out)

