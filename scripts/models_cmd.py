"""``tweetsmith models``: the known model specs and which load offline."""

from __future__ import annotations

import argparse

HELP = "list the known model specs and which of them are available offline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from tweetsmith.engine.embedded import EMBEDDED_SPEC, embedded_dir
    from tweetsmith.engine.models import DEFAULT_MODEL, KNOWN_SPECS, available_offline

    rows = []
    for spec in KNOWN_SPECS:
        note = "default" if spec == DEFAULT_MODEL else ""
        if spec == EMBEDDED_SPEC:
            note = f"embedded, cached in {embedded_dir()}"
        rows.append({"spec": spec, "offline": available_offline(spec), "note": note})
    if args.json:
        print(json.dumps({"models": rows}))
        return 0
    print(f"{'spec':<16} {'offline':<8} note")
    for row in rows:
        print(f"{row['spec']:<16} {'yes' if row['offline'] else 'no':<8} {row['note']}")
    print("Also: a local Hugging Face model directory, a .gguf file, or a run directory (its final/ model).")
    return 0
