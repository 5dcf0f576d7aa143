"""self-BLEU-4: the engine (our own count of each sample's n-grams, nltk's arithmetic) against nltk's sentence_bleu loop, side by side.

Samples are real tweets (the first N lines of the training split, author prefix stripped).

    python bench/self_bleu_speed.py [--sizes 200,1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "vc_tweets" / "train.txt"


def nltk_self_bleu(lists, n=4):
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smooth = SmoothingFunction().method1
    scores = [
        sentence_bleu(lists[:i] + lists[i + 1 :], h, weights=(1 / n,) * n, smoothing_function=smooth)
        for i, h in enumerate(lists)
    ]
    return sum(scores) / len(scores)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000")
    args = parser.parse_args()

    from tweetsmith.data.records import parse_line, read_split_lines
    from tweetsmith.engine.diversity import self_bleu, tokenize

    texts = [parse_line(line).text for line in read_split_lines(DATA)]
    self_bleu([["warm", "up"], ["the", "library"]], 4)  # loads the C++ library once, outside the timings
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(
        "| samples | nltk s | engine s | speed-up | nltk self-BLEU-4 | engine self-BLEU-4 | abs diff |\n|---:|---:|---:|---:|---:|---:|---:|"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        lists = [tokenize(t) for t in texts[:size]]
        started = time.perf_counter()
        ours = self_bleu(lists, 4)
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        theirs = nltk_self_bleu(lists, 4)
        nltk_s = time.perf_counter() - started
        print(
            f"| {size} | {nltk_s:.2f} | {ours_s:.3f} | {nltk_s / ours_s:,.0f}x | {theirs:.6f} | {ours:.6f} | {abs(ours - theirs):.1e} |"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
