"""``tweetsmith eval``: perplexity of split files, or a run's base-vs-tuned table (``--compare RUN``)."""

from __future__ import annotations

import argparse

HELP = (
    "perplexity of files (exp mean NLL per token; in a sliding window over the records, and per record as the "
    "chat writes one), or base vs tuned for a run with --compare"
)
DEFINITIONS = (
    "windowed: records scored in sliding windows of their concatenation (earlier records as context; "
    "the assignment's figure); per record: each record alone after end-of-text (what the chat faces)"
)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model / --adapter / --no-fallback / --precision, shared by the commands that load a model."""
    from .common import add_precision_argument

    add_precision_argument(parser)
    parser.add_argument(
        "--model",
        default=None,
        help="model spec: hub id, model dir, .gguf, smollm2-135m or a run dir (default: gpt2-medium)",
    )
    parser.add_argument(
        "--adapter", default=None, metavar="RUN", help="a LoRA run directory (or its final/) to put on the model"
    )
    parser.add_argument(
        "--no-fallback",
        action="store_true",
        help="fail instead of falling back to the embedded model when the hub is unreachable",
    )


def load_from_args(args: argparse.Namespace, spec: str | None = None):
    """Load the model the flags name, printing where it came from on stderr."""
    from tweetsmith.engine.models import DEFAULT_MODEL, load_model

    from .common import notice

    loaded = load_model(
        spec or args.model or DEFAULT_MODEL,
        adapter=args.adapter,
        allow_fallback=not args.no_fallback,
        precision=args.precision,
        progress=notice,
    )  # the precision's decision is one notice line
    if loaded.info.notice:
        notice(loaded.info.notice)
    notice(f"model: {loaded.info.describe()}")
    return loaded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="split files in line format (\\author- text, one a line)"
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--stride", type=int, default=512, dest="stride_tokens", help="sliding-window stride in tokens (default: 512)"
    )
    parser.add_argument("--batch-windows", type=int, default=4, help="windows scored per forward pass (default: 4)")
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=0,
        help="score only the leading records that fit in this many tokens (default: 0, the whole file)",
    )
    parser.add_argument(
        "--compare",
        metavar="RUN",
        default=None,
        help="base vs tuned on the run's valid and test splits; saved to RUN/eval.json",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import json

    from tweetsmith.engine.errors import ConfigError

    if args.stride_tokens < 1 or args.batch_windows < 1:
        raise ConfigError("--stride and --batch-windows must be 1 or more")
    if args.max_tokens < 0:
        raise ConfigError(f"--max-tokens must be 0 (the whole file) or more, got {args.max_tokens}")
    if args.compare:
        if args.files:
            raise ConfigError("--compare RUN evaluates the run's own splits; drop the FILE arguments")
        comparison = _compare(args)
        print(json.dumps(comparison.to_json(), indent=2) if args.json else comparison_table(comparison))
        return 0
    if not args.files:
        raise ConfigError("give FILE(s) to evaluate, or --compare RUN")
    loaded = load_from_args(args)
    results = [(_evaluate(loaded, path, args), _evaluate(loaded, path, args, context="record")) for path in args.files]
    if args.json:
        keys = (
            "file",
            "records",
            "tokens",
            "perplexity",
            "nll",
            "bits_per_byte",
            "word_perplexity",
            "stride_tokens",
            "max_len_tokens",
        )
        rows = [
            {
                **{k: w.to_dict()[k] for k in keys},
                "per_record": {k: r.to_dict()[k] for k in keys if "len" not in k and "stride" not in k},
            }
            for w, r in results
        ]
        print(json.dumps({"model": loaded.info.spec, "adapter": loaded.info.adapter, "results": rows}, indent=2))
        return 0
    print(
        f"{'file':<40} {'tokens':>9} {'perplexity':>10} {'per record':>10} {'nll':>7} {'bits/byte':>9} {'word ppl':>9}"
    )
    for w, r in results:
        print(
            f"{w.file:<40} {w.tokens:>9} {w.perplexity:>10.2f} {r.perplexity:>10.2f} {w.nll:>7.4f} {w.bits_per_byte:>9.4f} "
            f"{w.word_perplexity:>9.1f}"
        )
    print(
        f"(perplexity: sliding window of {results[0][0].max_len_tokens} tokens, stride {results[0][0].stride_tokens}; "
        f"{DEFINITIONS}; bits/byte and word perplexity, windowed, compare across tokenizers)"
    )
    return 0


def _evaluate(loaded, path: str, args, context: str = "windowed"):
    from tweetsmith.engine.perplexity import max_len_for
    from tweetsmith.engine.perplexity_cache import cached_perplexity_of_file

    from .common import ProgressLine, notice

    max_len = max_len_for(loaded.model)
    stride = min(args.stride_tokens, max_len)
    if stride != args.stride_tokens and context == "windowed":
        notice(f"stride {args.stride_tokens} is longer than the model's {max_len}-token window: using {stride}")
    bar = ProgressLine(f"eval {path}" + (" per record" if context == "record" else ""))

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)

    result, cached = cached_perplexity_of_file(
        loaded,
        path,
        stride_tokens=stride,
        batch_windows=args.batch_windows,
        max_tokens=args.max_tokens,
        context=context,
        on_progress=progress,
    )
    bar.close()
    if cached:
        notice(f"{path}: the same text and weights were scored before ({context}); cached figure reused")
    return result


def _compare(args):
    from tweetsmith.engine.errors import ModelError
    from tweetsmith.engine.perplexity_comparison import compare_perplexity
    from tweetsmith.engine.run_record import run_data_dir
    from tweetsmith.engine.runs import has_final_model

    from .common import ProgressLine, notice

    run_data_dir(args.compare)  # a bad run dir fails here, before any notice
    if not has_final_model(args.compare):
        raise ModelError(
            f"{args.compare}: no final/ model yet; finish training first (or evaluate the base with "
            f"`tweetsmith eval --model MODEL FILE...`)"
        )

    bars: dict[str, ProgressLine] = {}

    def progress(event) -> None:  # engine.progress.Progress
        bar = bars.get(event.stage)
        if bar is None:
            for old in bars.values():
                old.close()
            bar = bars[event.stage] = ProgressLine(f"eval {event.stage}", total=event.total)
        bar.update(event.done)

    notice(f"evaluating base and tuned models of {args.compare} on valid and test")
    comparison = compare_perplexity(
        args.compare,
        stride_tokens=args.stride_tokens,
        max_tokens=args.max_tokens,
        precision=args.precision,
        on_notice=notice,
        on_progress=progress,
    )
    for bar in bars.values():
        bar.close()
    notice(f"saved {args.compare.rstrip('/')}/eval.json")
    return comparison


def comparison_table(comparison) -> str:
    """The assignment's table from a ``PerplexityComparison``: perplexity of base and tuned, and the change, per split."""
    lines = [f"{'split':<8} {'perplexity':<11} {'base':>10} {'tuned':>10} {'change':>18}"]
    for split in ("valid", "test"):
        for context, label in (("windowed", "windowed"), ("record", "per record")):
            base = comparison.side("base", context)[split].perplexity
            tuned = comparison.side("tuned", context)[split].perplexity
            change = comparison.change(split, context)
            lines.append(
                f"{split:<8} {label:<11} {base:>10.2f} {tuned:>10.2f} {change.perplexity:>+9.2f} ({change.percent:+.1f}%)"
            )
    lines.append(
        f"({DEFINITIONS}; model {comparison.model}, stride {comparison.stride_tokens} tokens, data {comparison.data})"
    )
    return "\n".join(lines)
