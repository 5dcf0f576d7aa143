"""``tweetsmith score TEXT... --model SPEC [--adapter RUN]``: per-token log-probabilities under base and tuned.

Each TEXT is a record, ``\\author- text`` or bare text (``--author`` gives bare texts an author); the
``\\author- `` prefix is context, not scored. ``--file FILE`` scores a split file exactly as ``tweetsmith
eval`` does (its mean NLL over every predicted token is eval's), with each record's text mean beside.
"""

from __future__ import annotations

import argparse

HELP = "per-token log-probability of texts under base and tuned, their means, and the tokens where the models disagree most"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .eval_cmd import add_model_arguments

    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to score: \\author- text, or bare text")
    add_model_arguments(parser)
    parser.add_argument(
        "--run",
        dest="run_dir",
        default=None,
        metavar="RUN",
        help="score under a run's base and tuned models instead of --model/--adapter",
    )
    parser.add_argument("--author", default="", help="author of the bare TEXTs (their context: \\author- )")
    parser.add_argument("--file", default=None, metavar="FILE", help="score a split file as `tweetsmith eval` does")
    parser.add_argument(
        "--stride",
        type=int,
        default=512,
        dest="stride_tokens",
        help="--file: sliding-window stride in tokens (default: 512)",
    )
    parser.add_argument("--top", type=int, default=5, help="how many most-disagreeing tokens to show (default: 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _models(args):
    """{"base": LoadedModel or None, "tuned": LoadedModel or None}: an adapter model stands for both."""
    from tweetsmith.engine.models import load_run_model
    from tweetsmith.engine.runs import has_final_model

    from .common import notice
    from .eval_cmd import load_from_args

    if args.run_dir:
        if has_final_model(args.run_dir):
            tuned = load_run_model(args.run_dir, tuned=True, precision=args.precision, progress=notice)
            notice(f"tuned: {tuned.info.describe()}")
            if tuned.info.adapter:
                return {"base": None, "tuned": tuned}
            return {
                "base": load_run_model(args.run_dir, tuned=False, precision=args.precision, progress=notice),
                "tuned": tuned,
            }
        notice(f"{args.run_dir}: no final/ model yet; scoring under its base model only")
        return {
            "base": load_run_model(args.run_dir, tuned=False, precision=args.precision, progress=notice),
            "tuned": None,
        }
    loaded = load_from_args(args)
    return {"base": None, "tuned": loaded} if args.adapter else {"base": loaded, "tuned": None}


def run(args: argparse.Namespace) -> int:
    import json

    from tweetsmith.data.records import Record, parse_line
    from tweetsmith.engine.errors import ConfigError

    if args.file and args.texts:
        raise ConfigError("give TEXTs or --file FILE, not both")
    if not args.file and not args.texts:
        raise ConfigError(
            "give TEXT(s) to score, e.g. tweetsmith score '\\paulg- The best startups' --model smollm2-135m"
        )
    if args.stride_tokens < 1 or args.top < 0:
        raise ConfigError("--stride must be 1 or more and --top 0 or more")
    if args.run_dir and (args.model or args.adapter):
        raise ConfigError("--run RUN names both models; drop --model/--adapter")
    models = _models(args)
    if args.file:
        return _score_file(args, models)
    records = []
    for text in args.texts:
        record = parse_line(text)
        records.append(
            record if record.author or not args.author else Record(args.author.strip().lstrip("@"), record.text)
        )
    result = score_records(records, models, top=args.top)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else render(result))
    return 0


def score_records(records, models: dict, top: int = 5) -> dict:
    from tweetsmith.engine.surprisal import disagreements, score_base_and_tuned

    scores = score_base_and_tuned(records, base=models.get("base"), tuned=models.get("tuned"))
    texts = []
    for i, record in enumerate(records):
        entry = {"author": record.author, "text": record.text}
        for side, per_text in scores.items():
            entry[side] = per_text[i].to_dict()
        if {"base", "tuned"} <= set(scores):
            entry["disagreements"] = [d.to_dict() for d in disagreements(scores["base"][i], scores["tuned"][i], top)]
        texts.append(entry)
    return {
        "sides": list(scores),
        "models": {side: per_text[0].model for side, per_text in scores.items() if per_text},
        "texts": texts,
    }


def _mean(side: dict) -> str:
    mean = side.get("mean_logprob")
    return (
        "n/a"
        if mean is None
        else f"{mean:8.3f} nats/token  (perplexity {side['perplexity']:.1f}, {side['scored_tokens']} tokens)"
    )


def render(result: dict) -> str:
    """Per text: each token's log-probability under each side, the means, the biggest disagreements."""
    lines = []
    sides = result["sides"]
    for entry in result["texts"]:
        head = f"\\{entry['author']}- " if entry["author"] else ""
        lines.append(f"{head}{entry['text']}")
        for side in sides:
            lines.append(f"  {side:<6} mean log-prob {_mean(entry[side])}")
        first = entry[sides[0]]["tokens"]
        cells = []
        for k, token in enumerate(first):
            if token["context"]:
                continue
            piece = "<end>" if token["end_of_text"] else token["piece"]
            values = "|".join(f"{entry[s]['tokens'][k]['logprob']:.2f}" for s in sides)
            cells.append(f"{piece!r}:{values}")
        lines.append("  tokens (" + " | ".join(sides) + "): " + "  ".join(cells))
        if entry.get("disagreements"):
            most = ", ".join(f"{d['piece']!r} {d['base']:.2f} -> {d['tuned']:.2f}" for d in entry["disagreements"])
            lines.append(f"  most changed by tuning (base -> tuned): {most}")
        lines.append("")
    lines.append(
        "(natural-log probabilities; the \\author- prefix is context, not scored; <end> is the end-of-text token)"
    )
    return "\n".join(lines)


def _score_file(args, models: dict) -> int:
    import json

    from tweetsmith.engine.surprisal import score_file

    from .common import notice

    out = {"file": args.file, "sides": {}}
    for side in ("base", "tuned"):
        loaded = models.get(side)
        if (
            loaded is None
            and side == "base"
            and models.get("tuned") is not None
            and callable(getattr(models["tuned"].model, "disable_adapter", None))
        ):
            with models["tuned"].model.disable_adapter():
                result = score_file(
                    models["tuned"], args.file, stride_tokens=args.stride_tokens, model_name=models["tuned"].info.spec
                )
        elif loaded is not None:
            result = score_file(loaded, args.file, stride_tokens=args.stride_tokens)
        else:
            continue
        notice(f"scored {args.file} under {side}")
        out["sides"][side] = result.to_dict(with_records=args.json)
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"{'model':<7} {'records':>8} {'tokens':>9} {'nll':>8} {'perplexity':>10} {'text nll':>9}")
    for side, r in out["sides"].items():
        text_nll = "n/a" if r["text_nll"] is None else f"{r['text_nll']:.4f}"
        print(f"{side:<7} {r['records']:>8} {r['tokens']:>9} {r['nll']:>8.4f} {r['perplexity']:>10.2f} {text_nll:>9}")
    print(
        f"(nll: every predicted token, as `tweetsmith eval` computes it; text nll: the prefixes as context only; "
        f"window {next(iter(out['sides'].values()))['max_len_tokens']}, stride {next(iter(out['sides'].values()))['stride_tokens']})"
    )
    return 0
