"""Memorisation lookups: the engine's suffix-array index against brute-force scans, in the same run.

Generates N synthetic training tweets (default 1,000,000; words drawn from a Zipf-weighted vocabulary
of 30,000 made-up words, 5-30 words each, some punctuation), writes them as train.txt in a temp dir,
builds the index through ``engine.memorisation.index_for_data`` (tokenizing, sorting, caching in a temp
cache) and loads it back from the cache. Samples: a quarter carry a span of 8-15 words copied from a
random training record among fresh words, the rest are fresh tweets. Then, per sample:

  ours         ``MemorisationIndex.match`` (tokenizing the sample included)
  numpy scan   every start word of the sample compared against every word of the training split,
               extended while it matches (vectorised, exact)
  python DP    longest common run against every record, a plain dynamic programme (only on the
               real split and a few samples: it takes minutes at 1M records)

and checks that all give the same longest span. ``--real`` adds the vc_tweets train split, read in place.

    python bench/memorisation_speed.py [--records N] [--samples S] [--scan-samples K] [--real]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "vc_tweets" / "train.txt"
PUNCT = (",", ".", "!", "?", ":")


def make_vocab(size: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))))
    return sorted(words)


def tweet_words(vocab, weights, rng, low=5, high=30) -> list[str]:
    return rng.choices(vocab, cum_weights=weights, k=rng.randint(low, high))


def render(words: list[str], rng: random.Random) -> str:
    """Words as a tweet: some punctuation tokens between them (not words, so not part of spans)."""
    out = []
    for word in words:
        out.append(word)
        if rng.random() < 0.08:
            out.append(rng.choice(PUNCT))
    return " ".join(out)


def generate(records: int, samples: int, seed: int, directory: Path):
    rng = random.Random(seed)
    vocab = make_vocab(30_000, rng)
    cum, total = [], 0.0
    for rank in range(len(vocab)):
        total += 1.0 / (rank + 1)
        cum.append(total)
    record_words = []
    with open(directory / "train.txt", "w", encoding="utf-8") as f:
        for i in range(records):
            words = tweet_words(vocab, cum, rng)
            record_words.append(words)
            f.write(f"\\user{i % 50:02d}- {render(words, rng)}\n")
    sample_texts = []
    for i in range(samples):
        words = tweet_words(vocab, cum, rng, 5, 25)
        if i % 4 == 0:
            source = rng.choice(record_words)
            length = min(len(source), rng.randint(8, 15))
            start = rng.randint(0, len(source) - length)
            cut = rng.randint(0, len(words))
            words = words[:cut] + source[start : start + length] + words[cut:]
        sample_texts.append(render(words, rng))
    return record_words, sample_texts


class Scan:
    """Brute force, vectorised: the longest run of sample words found anywhere in the training words."""

    def __init__(self, record_words):
        import numpy as np

        ids: dict[str, int] = {}
        flat = []
        for words in record_words:
            flat.extend(ids.setdefault(w, len(ids) + 1) for w in words)
            flat.append(0)  # record boundary: matches no word
        self.ids, self.corpus = ids, np.array(flat, dtype=np.int32)

    def longest(self, words: list[str]) -> int:
        import numpy as np

        sample = [self.ids.get(w, -1) for w in words]
        corpus, n, best = self.corpus, len(self.corpus), 0
        for i in range(len(sample)):
            candidates = np.flatnonzero(corpus == sample[i])
            if not candidates.size:
                continue
            k = 1  # every candidate matches sample[i:i + k]
            while i + k < len(sample):
                longer = candidates[candidates + k < n]
                longer = longer[corpus[longer + k] == sample[i + k]]
                if not longer.size:
                    break
                candidates, k = longer, k + 1
            best = max(best, k)
        return best


def python_dp(words, record_words) -> int:
    from tweetsmith.engine.memorisation import longest_common_span

    return max((longest_common_span(words, r)[0] for r in record_words), default=0)


def timed(fn, items):
    times, results = [], []
    for item in items:
        started = time.perf_counter()
        results.append(fn(item))
        times.append(time.perf_counter() - started)
    return times, results


def row(case, records, n, times, base_ms=None):
    mean_ms = 1e3 * statistics.fmean(times)
    p95 = 1e3 * sorted(times)[max(0, int(0.95 * len(times)) - 1)]
    ratio = f"{base_ms / mean_ms:,.0f}x" if base_ms else "1x"
    print(f"| {case} | {records:,} | {n} | {mean_ms:.3f} | {p95:.3f} | {ratio} |")
    return mean_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--scan-samples", type=int, default=20, help="samples timed with the numpy scan (default: 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", action="store_true", help="also the vc_tweets train split, read in place")
    args = parser.parse_args()

    from tweetsmith.data.records import parse_line, read_split_lines
    from tweetsmith.engine.memorisation import MemorisationIndex, index_for_data
    from tweetsmith.engine.memorisation_words import span_words

    print(f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="memo-bench-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        record_words, samples = generate(args.records, args.samples, args.seed, tmp)
        print(f"generated {args.records:,} tweets and {args.samples} samples in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        index = index_for_data(tmp, cache=tmp / "cache")
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        index = index_for_data(tmp, cache=tmp / "cache")
        load_s = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in (tmp / "cache").rglob("*") if p.is_file()) / 1e6
        print(
            f"index: built in {build_s:.1f} s (once per training file), loaded from the cache in {load_s:.2f} s, "
            f"{size_mb:.0f} MB on disk"
        )
        check = random.Random(1).sample(range(len(record_words)), min(1000, len(record_words)))
        with open(tmp / "train.txt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        assert all(span_words(parse_line(lines[i]).text) == record_words[i] for i in check), (
            "tokenizer disagrees with the generator"
        )
        scan = Scan(record_words)

        print(
            "\n| case | records | samples | mean ms/sample | p95 ms | speed-up vs numpy scan |\n|---|---:|---:|---:|---:|---:|"
        )
        scan_items = samples[: args.scan_samples]
        scan_times, scan_lengths = timed(lambda s: scan.longest(span_words(s)), scan_items)
        base = row("numpy scan (brute force)", args.records, len(scan_items), scan_times)
        our_times, matches = timed(index.match, samples)
        row("ours (suffix array)", args.records, len(samples), our_times, base)
        assert [m.words for m in matches[: len(scan_items)]] == scan_lengths, "index and scan disagree"
        copied = sum(m.copied for m in matches)
        print(
            f"\nsame longest span as the scan on all {len(scan_items)} scanned samples; "
            f"{copied} of {len(samples)} samples copied (every 4th carries a copied span of 8-15 words)"
        )

        if args.real:
            lines = read_split_lines(REAL)
            texts = [parse_line(line).text for line in lines]
            real_words = [span_words(t) for t in texts]
            started = time.perf_counter()
            real_index = MemorisationIndex.build(lines)
            print(f"\nvc_tweets train ({len(lines):,} records): index built in {time.perf_counter() - started:.1f} s")
            real_samples = [parse_line(line).text for line in read_split_lines(REAL.with_name("test.txt"))][:200]
            real_scan = Scan(real_words)
            print(
                "| case | records | samples | mean ms/sample | p95 ms | speed-up vs python DP |\n|---|---:|---:|---:|---:|---:|"
            )
            dp_items = real_samples[:5]
            dp_times, dp_lengths = timed(lambda s: python_dp(span_words(s), real_words), dp_items)
            base = row("python DP (brute force)", len(lines), len(dp_items), dp_times)
            scan_times, scan_lengths = timed(lambda s: real_scan.longest(span_words(s)), real_samples)
            row("numpy scan (brute force)", len(lines), len(real_samples), scan_times, base)
            our_times, real_matches = timed(real_index.match, real_samples)
            row("ours (suffix array)", len(lines), len(real_samples), our_times, base)
            assert [m.words for m in real_matches] == scan_lengths and scan_lengths[:5] == dp_lengths
            print(f"test tweets copied from train: {sum(m.copied for m in real_matches)} of {len(real_samples)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
