"""The report's description of a dataset, computed from its files (never from prose someone wrote).

Records, words, MB and authors per split; a table per author; a histogram of record lengths; example
lines; and, when the splits came from ``tweetsmith prepare``, what cleaning dropped and changed
(its stats.json).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tweetsmith.data.records import Record, parse_line, read_split_lines
from tweetsmith.data.split import SPLIT_NAMES, Split, SplitDir
from tweetsmith.data.stats import STATS_FILE

LENGTH_BUCKETS = (5, 10, 20, 40, 80)  # upper bounds (words) of the histogram's bars; the last bar is "more"
BAR_WIDTH = 40


def dataset_section(data: Path) -> str:
    out = ["## 1. The dataset"]
    per_split: dict[Split, list[Record]] = {}
    splits = SplitDir(data)
    for split in SPLIT_NAMES:
        path = splits.path(split)
        if path.is_file():
            per_split[split] = [parse_line(line) for line in read_split_lines(path)]
    if not per_split:
        out.append(f"No splits in `{data}`.")
        return "\n\n".join(out)
    table = "| split | records | MB | words | authors |\n|---|---:|---:|---:|---:|"
    for split, records in per_split.items():
        size = splits.path(split).stat().st_size
        words = sum(len(r.text.split()) for r in records)
        table += f"\n| {split} | {len(records):,} | {size / 1e6:.2f} | {words:,} | {len({r.author for r in records if r.author})} |"
    out.append(f"From `{data}` (MB = 10^6 bytes of the split file):\n\n{table}")
    out.append(_authors(per_split))
    train = per_split.get("train") or next(iter(per_split.values()))
    out.append(_histogram([len(r.text.split()) for r in train]))
    lines = read_split_lines(splits.train) if splits.train.is_file() else []
    if lines:
        examples = lines[:: max(1, len(lines) // 5)][:5]
        out.append(
            "Example lines (train, line format `\\author- text`):\n\n" + "\n".join(f"    {line}" for line in examples)
        )
    cleaning = _cleaning(data)
    if cleaning:
        out.append(cleaning)
    return "\n\n".join(out)


def _authors(per_split: dict[Split, list[Record]], top: int = 20) -> str:
    counts = {split: Counter(r.author for r in records) for split, records in per_split.items()}
    total: Counter[str] = Counter()
    for c in counts.values():
        total.update(c)
    splits = list(per_split)
    table = "| author | " + " | ".join(splits) + " | total |\n|---|" + "---:|" * (len(splits) + 1)
    for author, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        table += f"\n| {author or '(none)'} | " + " | ".join(f"{counts[s][author]:,}" for s in splits) + f" | {n:,} |"
    more = f"\n\n({len(total) - top:,} more authors not shown.)" if len(total) > top else ""
    return f"Records per author:\n\n{table}{more}"


def _histogram(lengths: list[int]) -> str:
    """Words per record as a text bar chart (a code block renders in any markdown viewer)."""
    if not lengths:
        return ""
    bounds = [*LENGTH_BUCKETS, None]
    labels, counts, low = [], [], 0
    for high in bounds:
        labels.append(f"{low}-{high}" if high else f"{low}+")
        counts.append(sum(1 for n in lengths if n >= low and (high is None or n <= high)))
        low = (high or 0) + 1
    peak = max(counts) or 1
    rows = [
        f"{label:>7} words {'#' * round(BAR_WIDTH * c / peak):<{BAR_WIDTH}} {c:,}" for label, c in zip(labels, counts)
    ]
    ordered = sorted(lengths)
    return f"Record length (train, words; median {ordered[len(ordered) // 2]}, longest {ordered[-1]}):\n\n" + "\n".join(
        f"    {row}" for row in rows
    )


def _cleaning(data: Path) -> str:
    """What `prepare` dropped and changed, from its stats.json; "" when the splits were not made by it."""
    try:
        stats = json.loads((data / STATS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if not isinstance(stats, dict):
        return ""
    dropped = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in (stats.get("skipped") or {}).items() if n) or "none"
    changed = (
        ", ".join(f"{n:,} by {k.replace('_', ' ')}" for k, n in (stats.get("changed") or {}).items() if n) or "none"
    )
    sources = ", ".join(
        f"`{i.get('source')}` ({i.get('format')}, {i.get('records', 0):,} records)" for i in stats.get("inputs") or []
    )
    ratios = stats.get("split") or {}
    if stats.get("split_given"):
        split = "Each input file stayed in the split its name says (`--split given`)."
    else:
        shares = "/".join(f"{float(r):.3g}" for r in ratios.values())
        split = f"Split {shares} by author, seed {stats.get('seed')}." if ratios else ""
    return (
        f"Made by `tweetsmith prepare` from {sources or 'its inputs'}: {stats.get('records_read', 0):,} records read, "
        f"{stats.get('records', 0):,} kept. Dropped: {dropped}. Records changed by cleaning: {changed}. {split}"
    ).rstrip()
