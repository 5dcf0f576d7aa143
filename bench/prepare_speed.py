"""How fast `prepare` turns a million tweets into splits, against a naive baseline measured in the same run.

Generates N synthetic tweets (default 1,000,000: 40 authors, some URLs, entities, retweets, replies and
duplicates, like real data) as a line-format file and as a CSV in a temp dir, then times, each in a fresh
child process so peak RSS (resource.getrusage's ru_maxrss) is per case:
  baseline   read the whole file, clean with the same rules, random.shuffle, slice, write (no
             stratification, no atomic write, everything in memory);
  prepare    tweetsmith.data.prepare on the line-format file;
  prepare-csv the same on the CSV.
Prints `| case | seconds | records/s | peak MB | ratio vs baseline |` (ratio = baseline s / case s).

    python bench/prepare_speed.py [--records N] [--seed S]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the startup founders investors product market users growth build ship team money idea great "
         "hard think time people company work year good best make new world future code data love "
         "today week launch fund raise seed round series hire learn fail win fast slow big small").split()


def generate(directory: Path, records: int, seed: int) -> tuple[Path, Path]:
    """A line-format file and a CSV with the same tweets."""
    rng = random.Random(seed)
    authors = [f"user{i:02d}" for i in range(40)]
    weights = [1 / (i + 1) for i in range(40)]  # a few prolific authors, a long tail
    lines_path, csv_path = directory / "tweets.txt", directory / "tweets.csv"
    with open(lines_path, "w", encoding="utf-8") as lines, open(csv_path, "w", encoding="utf-8", newline="") as c:
        writer = csv.writer(c)
        writer.writerow(["id", "username", "text"])
        previous = "hello world"
        for i in range(records):
            author = rng.choices(authors, weights)[0]
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
            roll = rng.random()
            if roll < 0.05:
                text = "RT @someone: " + text
            elif roll < 0.10:
                text = "@friend " + text
            elif roll < 0.20:
                text += " https://t.co/" + "".join(rng.choice("abcdefghXYZ0123") for _ in range(10))
            elif roll < 0.25:
                text = text.replace(" ", " &amp; ", 1)
            elif roll < 0.27:
                text = previous  # a duplicate
            previous = text
            lines.write(f"\\{author}- {text}\n")
            writer.writerow([i, author, text])
    return lines_path, csv_path


def baseline(path: Path, out: Path, seed: int) -> int:
    """Naive: read all, clean with the same rules, shuffle, slice 80/10/10, write."""
    import html
    import re

    url = re.compile(r"(?:https?://|www\.)\S*")
    seen, records = set(), []
    for line in path.read_text(encoding="utf-8").split("\n"):
        author, _, text = line.partition("- ")
        text = html.unescape(text)
        if not text or text.startswith("RT @") or text.startswith("@"):
            continue
        text = " ".join(url.sub("", text).split())
        if text and (author, text) not in seen:
            seen.add((author, text))
            records.append(f"{author}- {text}")
    random.Random(seed).shuffle(records)
    n = len(records)
    cuts = (0, int(n * 0.8), int(n * 0.9), n)
    out.mkdir(parents=True, exist_ok=True)
    for name, a, b in zip(("train", "valid", "test"), cuts, cuts[1:]):
        (out / f"{name}.txt").write_text("\n".join(records[a:b]) + "\n", encoding="utf-8")
    return n


def run_case(case: str, path: str, out: str, seed: int) -> None:
    """Child process: run one case and print {"seconds", "records", "peak_mb"} as JSON."""
    import resource

    started = time.perf_counter()
    if case == "baseline":
        records = baseline(Path(path), Path(out), seed)
    else:
        from tweetsmith.data import PrepareConfig, prepare

        records = prepare(PrepareConfig(inputs=(path,), out=out, seed=seed)).records
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"seconds": seconds, "records": records, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args.case, args.path, args.out, args.seed)
        return
    with tempfile.TemporaryDirectory(prefix="tweetsmith-bench-") as tmp:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        lines_path, csv_path = generate(tmp_path, args.records, args.seed)
        size_mb = lines_path.stat().st_size / 1e6
        print(f"generated {args.records:,} tweets ({size_mb:.1f} MB line format, "
              f"{csv_path.stat().st_size / 1e6:.1f} MB CSV) in {time.perf_counter() - started:.1f} s")
        results = {}
        for case, path in (("baseline", lines_path), ("prepare", lines_path), ("prepare-csv", csv_path)):
            out = tmp_path / f"out-{case}"
            child = subprocess.run(
                [sys.executable, __file__, "--case", case, "--path", str(path), "--out", str(out),
                 "--seed", str(args.seed)],
                capture_output=True, text=True, check=True,
            )
            results[case] = json.loads(child.stdout.strip().splitlines()[-1])
        base = results["baseline"]["seconds"]
        print("| case | seconds | records/s | peak MB | ratio vs baseline |")
        print("|---|---:|---:|---:|---:|")
        for case, r in results.items():
            rate = args.records / r["seconds"]
            print(f"| {case} | {r['seconds']:.2f} | {rate:,.0f} | {r['peak_mb']:.0f} | {base / r['seconds']:.2f} |")
        print(f"(records/s counts input records; kept: {results['prepare']['records']:,} by prepare, "
              f"{results['baseline']['records']:,} by the baseline)")


if __name__ == "__main__":
    main()
