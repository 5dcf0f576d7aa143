"""``tweetsmith runs [DIR]``: the runs of a directory from their run cards, newest first."""

from __future__ import annotations

import argparse

HELP = "list the runs of a directory from their cards: model, data, method, steps, best valid perplexity, when"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "root", nargs="?", default=None, metavar="DIR", help="a folder of runs (default: ./runs or $TWEETSMITH_RUNS)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tweetsmith.engine.card import list_runs
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.paths import runs_root

    root = Path(args.root) if args.root else runs_root()
    if not root.is_dir():
        raise ConfigError(
            f"{root}: no such folder; give the folder holding your runs (tweetsmith train --out DIR/NAME)"
        )
    rows = list_runs(root)
    if args.json:
        print(json.dumps({"root": str(root), "runs": [r.to_json() for r in rows]}, indent=2))
        return 0
    if not rows:
        print(f"no runs in {root} (train one: tweetsmith train --data DATA --out {root / 'NAME'})")
        return 0
    print(table(rows))
    return 0


def _short(text, width: int) -> str:
    text = "–" if text in (None, "") else str(text)
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def table(rows) -> str:
    """``results.RunSummary`` rows (``card.list_runs``) as a table, newest first."""
    from pathlib import Path

    lines = [f"{'run':<22} {'model':<22} {'data':<24} {'method':<6} {'steps':>6} {'best ppl':>9} {'status':<10} when"]
    for r in rows:
        best, steps = r.best_valid_perplexity, r.steps
        lines.append(
            f"{_short(Path(r.run).name, 22):<22} {_short(r.model, 22):<22} {_short(r.data, 24):<24} "
            f"{_short(r.method, 6):<6} {'–' if steps is None else steps:>6} "
            f"{'–' if best is None else f'{best:.2f}':>9} {_short(r.status, 10):<10} {r.when or '–'}"
        )
    return "\n".join(lines)
