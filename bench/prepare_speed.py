"""How fast `prepare` turns a million tweets into splits, against a naive baseline measured in the same run.

Generates N synthetic tweets (default 1,000,000: 40 authors, some URLs, entities, retweets, replies and
duplicates, like real data) as a line-format file, a CSV and a Twitter archive's tweets.js (one account's:
the same texts, each in an archive export's tweet object, ~1.5 kB) in a temp dir, then times, each in a
fresh child process so peak RSS (resource.getrusage's ru_maxrss) is per case:
  baseline   read the whole file, clean with the same rules, random.shuffle, slice, write (no
             stratification, no atomic write, everything in memory);
  prepare    tweetsmith.data.prepare on the line-format file;
  prepare-csv the same on the CSV;
  prepare-archive the same on the tweets.js (streamed: its peak should not grow with its size).
Prints `| case | seconds | records/s | peak MB | ratio vs baseline |` (ratio = baseline s / case s).

    python bench/prepare_speed.py [--records N] [--seed S]
    python bench/prepare_speed.py --archive-mb 1000 --archive-dir /tmp/big   # only write DIR/tweets.js
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

WORDS = (
    "the startup founders investors product market users growth build ship team money idea great "
    "hard think time people company work year good best make new world future code data love "
    "today week launch fund raise seed round series hire learn fail win fast slow big small"
).split()


def tweets(seed: int):
    """An endless stream of (author, text), the same for the same seed."""
    rng = random.Random(seed)
    authors = [f"user{i:02d}" for i in range(40)]
    weights = [1 / (i + 1) for i in range(40)]  # a few prolific authors, a long tail
    previous = "hello world"
    while True:
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
        yield author, text


def archive_tweet(number: int, text: str) -> dict:
    """A tweet object shaped like a 2023 archive export's (every field it has, values as strings)."""
    tweet_id = str(1_100_000_000_000_000_000 + number * 7919)
    mentions = (
        [{"name": "Some One", "screen_name": "someone", "indices": ["3", "11"], "id_str": "12", "id": "12"}]
        if text.startswith(("RT @", "@"))
        else []
    )
    urls = [
        {
            "url": word,
            "expanded_url": "https://example.com/" + word[-10:],
            "display_url": "example.com/…",
            "indices": ["0", "23"],
        }
        for word in text.split()
        if word.startswith("https://")
    ]
    return {
        "tweet": {
            "edit_info": {
                "initial": {
                    "editTweetIds": [tweet_id],
                    "editableUntil": "2023-03-05T18:52:45.000Z",
                    "editsRemaining": "5",
                    "isEditEligible": True,
                }
            },
            "retweeted": False,
            "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
            "entities": {"hashtags": [], "symbols": [], "user_mentions": mentions, "urls": urls},
            "display_text_range": ["0", str(len(text))],
            "favorite_count": str(number % 97),
            "id_str": tweet_id,
            "in_reply_to_status_id_str": None,
            "truncated": False,
            "retweet_count": str(number % 13),
            "id": tweet_id,
            "created_at": f"Sun Mar {1 + number % 28:02d} 18:{number % 60:02d}:45 +0000 2023",
            "favorited": False,
            "full_text": text,
            "lang": "en",
        }
    }


def write_archive(directory: Path, stream, *, records: int | None = None, megabytes: float | None = None) -> int:
    """DIR/tweets.js (and account.js, username user00) of ``records`` tweets or about ``megabytes`` MB,
    written as an export writes it (two-space indents, " : "); returns the number of tweets."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "account.js").write_text(
        'window.YTD.account.part0 = [{"account": {"username": "user00"}}]\n', encoding="utf-8"
    )
    limit = None if megabytes is None else megabytes * 1e6
    count = written = 0
    with open(directory / "tweets.js", "w", encoding="utf-8") as f:
        f.write("window.YTD.tweets.part0 = [ ")
        while (records is None or count < records) and (limit is None or written < limit):
            _, text = next(stream)
            item = json.dumps(archive_tweet(count, text), indent=2, separators=(",", " : "), ensure_ascii=False)
            written += f.write(("" if count == 0 else ", ") + item)
            count += 1
        f.write(" ]\n")
    return count


def generate(directory: Path, records: int, seed: int) -> tuple[Path, Path, Path]:
    """A line-format file, a CSV and a tweets.js with the same tweets."""
    lines_path, csv_path = directory / "tweets.txt", directory / "tweets.csv"
    stream = tweets(seed)
    with open(lines_path, "w", encoding="utf-8") as lines, open(csv_path, "w", encoding="utf-8", newline="") as c:
        writer = csv.writer(c)
        writer.writerow(["id", "username", "text"])
        for i in range(records):
            author, text = next(stream)
            lines.write(f"\\{author}- {text}\n")
            writer.writerow([i, author, text])
    write_archive(directory / "archive", tweets(seed), records=records)
    return lines_path, csv_path, directory / "archive" / "tweets.js"


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
    parser.add_argument("--archive-mb", type=float, help="only write a tweets.js of about this many MB ...")
    parser.add_argument("--archive-dir", type=Path, help="... into this directory (with an account.js)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args.case, args.path, args.out, args.seed)
        return
    if args.archive_mb:
        count = write_archive(args.archive_dir, tweets(args.seed), megabytes=args.archive_mb)
        print(
            f"wrote {count:,} tweets, {(args.archive_dir / 'tweets.js').stat().st_size / 1e6:.0f} MB, "
            f"to {args.archive_dir / 'tweets.js'}"
        )
        return
    with tempfile.TemporaryDirectory(prefix="tweetsmith-bench-") as tmp:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        lines_path, csv_path, archive_path = generate(tmp_path, args.records, args.seed)
        size_mb = lines_path.stat().st_size / 1e6
        print(
            f"generated {args.records:,} tweets ({size_mb:.1f} MB line format, "
            f"{csv_path.stat().st_size / 1e6:.1f} MB CSV, {archive_path.stat().st_size / 1e6:.1f} MB tweets.js) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        results = {}
        for case, path in (
            ("baseline", lines_path),
            ("prepare", lines_path),
            ("prepare-csv", csv_path),
            ("prepare-archive", archive_path),
        ):
            out = tmp_path / f"out-{case}"
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--case",
                    case,
                    "--path",
                    str(path),
                    "--out",
                    str(out),
                    "--seed",
                    str(args.seed),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[case] = json.loads(child.stdout.strip().splitlines()[-1])
        base = results["baseline"]["seconds"]
        print("| case | seconds | records/s | peak MB | ratio vs baseline |")
        print("|---|---:|---:|---:|---:|")
        for case, r in results.items():
            rate = args.records / r["seconds"]
            print(f"| {case} | {r['seconds']:.2f} | {rate:,.0f} | {r['peak_mb']:.0f} | {base / r['seconds']:.2f} |")
        print(
            f"(records/s counts input records; kept: {results['prepare']['records']:,} by prepare, "
            f"{results['baseline']['records']:,} by the baseline)"
        )


if __name__ == "__main__":
    main()
