"""``tweetsmith compare RUN``: samples from the base and the tuned model, overlap with the test set and diversity side by side."""

from __future__ import annotations

import argparse

HELP = "base vs tuned: N samples each, word overlap with the test set and diversity side by side (saved to RUN/compare.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tweetsmith.engine.sampling import SamplingConfig

    from .common import add_config_arguments

    parser.add_argument("run_dir", metavar="RUN", help="a run directory (config.json, final/)")
    parser.add_argument("-n", "--num-samples", type=int, default=100, dest="num_samples", help="samples per model (default: 100)")
    add_config_arguments(parser, SamplingConfig, exclude=("num_samples",))
    parser.add_argument("--batch-size", type=int, default=16, help="samples generated together (default: 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import json

    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.experiments import compare_samples
    from tweetsmith.engine.sampling import SamplingConfig

    from .common import config_from_args, notice
    from .sweep_cmd import progress_printer

    config = config_from_args(SamplingConfig, args).validated()
    if args.num_samples < 2:
        raise ConfigError(f"-n must be 2 or more (self-BLEU needs two samples), got {args.num_samples}")
    progress, close = progress_printer()
    result = compare_samples(args.run_dir, n=args.num_samples, config=config, batch_size=args.batch_size, on_progress=progress)
    close()
    if result.get("note"):
        notice(result["note"])
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(side_by_side(result))
    return 0


def side_by_side(result: dict) -> str:
    """Overlap and diversity of base and tuned samples, one column each."""
    sides = list(result["sides"])
    rows = [
        ("samples", "samples", "{:.0f}"),
        ("overlap (word tokens in test vocab)", "overlap", "{:.3f}"),
        ("overlap (word types)", "overlap_types", "{:.3f}"),
        ("overlap (word-bigram types)", "overlap_bigrams", "{:.3f}"),
        ("dist-1", "dist_1", "{:.3f}"),
        ("dist-2", "dist_2", "{:.3f}"),
        ("dist-3", "dist_3", "{:.3f}"),
        ("self-BLEU-4", "self_bleu_4", "{:.3f}"),
        ("mean words", "mean_words", "{:.1f}"),
    ]
    lines = [f"{'':<36}" + "".join(f"{s:>10}" for s in sides)]
    for label, key, fmt in rows:
        cells = []
        for s in sides:
            value = result["sides"][s].get(key)
            cells.append(f"{'n/a' if value is None else fmt.format(value):>10}")
        lines.append(f"{label:<36}" + "".join(cells))
    config = result["config"]
    lines.append(f"(t={config['temperature']:g} k={config['top_k']} p={config['top_p']:g}, seed {config['seed']}; "
                 f"same authors and seeds for both; reference {result['reference']})")
    for s in sides:
        lines.append(f"{s} samples: {result['sides'][s]['file']}")
    return "\n".join(lines)
