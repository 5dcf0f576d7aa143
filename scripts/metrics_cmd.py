"""``tweetsmith metrics``: dist-n, self-BLEU, overlap with a reference and mean length of a samples file."""

from __future__ import annotations

import argparse

HELP = "diversity (dist-1/2/3, self-BLEU) and overlap with a reference of samples (.jsonl or \\author- text lines)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import add_samples_argument

    add_samples_argument(parser)
    parser.add_argument(
        "--reference", default=None, metavar="FILE", help="text to measure word overlap against (the test split)"
    )
    parser.add_argument("--bleu-n", type=int, default=4, help="n-gram order of self-BLEU (default: 4)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import json
    from collections import defaultdict

    from tweetsmith.engine.diversity import diversity, reference_from_file
    from tweetsmith.engine.errors import ConfigError

    from .common import read_samples_argument

    if args.bleu_n < 1:
        raise ConfigError(f"--bleu-n must be 1 or more, got {args.bleu_n}")
    items = read_samples_argument(args.samples)
    reference = reference_from_file(args.reference) if args.reference else None
    overall = diversity([i.text for i in items], reference=reference, bleu_n=args.bleu_n)
    groups: dict[str, list[str]] = defaultdict(list)
    for item in items:
        groups[item.author or "(none)"].append(item.text)
    per_author = {a: diversity(texts, reference=reference, bleu_n=args.bleu_n) for a, texts in sorted(groups.items())}
    if args.json:
        print(
            json.dumps(
                {
                    **overall.to_dict(),
                    "file": args.samples,
                    "by_author": {a: r.to_dict() for a, r in per_author.items()},
                },
                indent=2,
            )
        )
        return 0
    print(table([("all", overall), *per_author.items()], args.bleu_n, reference is not None))
    print(
        f"(self-BLEU grows with the number of samples: compare values at equal counts"
        f"{'; overlap = share of generated words found in ' + args.reference if reference else ''})"
    )
    return 0


def table(rows, bleu_n: int, with_overlap: bool) -> str:
    head = (
        f"{'author':<14} {'samples':>7} {'dist-1':>7} {'dist-2':>7} {'dist-3':>7} {f'sBLEU-{bleu_n}':>8} {'words':>6}"
    )
    if with_overlap:
        head += f" {'overlap':>8} {'types':>6} {'bigrams':>8}"
    lines = [head]
    for name, r in rows:
        bleu = "n/a" if r.self_bleu is None else f"{r.self_bleu:.3f}"
        line = f"{name:<14} {r.samples:>7} {r.dist_1:>7.3f} {r.dist_2:>7.3f} {r.dist_3:>7.3f} {bleu:>8} {r.mean_words:>6.1f}"
        if with_overlap:
            line += f" {r.overlap:>8.3f} {r.overlap_types:>6.3f} {r.overlap_bigrams:>8.3f}"
        lines.append(line)
    return "\n".join(lines)
