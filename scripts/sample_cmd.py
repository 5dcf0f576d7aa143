"""``tweetsmith sample``: generate samples for authors (streamed when there is one), print and save them.

Without ``--seed`` each call draws a fresh seed (two calls, two different tweets) and prints it on stderr
with the samples; ``--seed N`` reproduces them (sample i uses N + i), as it does a card of the app.
"""

from __future__ import annotations

import argparse

from tweetsmith.engine.generate import DEFAULT_BATCH_SIZE

HELP = "generate samples in an author's voice (prompt \\author- TEXT); saved as JSONL with their settings and seeds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tweetsmith.engine.sampling import SamplingConfig

    from .common import add_config_arguments
    from .eval_cmd import add_model_arguments

    add_model_arguments(parser)
    parser.add_argument(
        "--run",
        default=None,
        dest="run_dir",
        help="a run directory: its tuned model (or --base), its data for authors, samples saved in RUN/samples/",
    )
    parser.add_argument(
        "--base", action="store_true", help="with --run: sample the run's base model instead of the tuned one"
    )
    parser.add_argument(
        "--data", default=None, metavar="DIR", help="split directory to draw authors from when no --author is given"
    )
    parser.add_argument(
        "--author",
        action="append",
        default=None,
        help="author to write as (repeat or comma-separate for several); "
        "default: authors drawn at random from the training data",
    )
    parser.add_argument("--prompt", default="", help="text the sample starts with, after the author prefix")
    parser.add_argument(
        "-n",
        "--num-samples",
        type=int,
        default=1,
        dest="num_samples",
        help="samples per --author, or in all when authors are drawn from the data (default: 1)",
    )
    add_config_arguments(parser, SamplingConfig, exclude=("num_samples", "seed"))
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed of the first sample; sample i uses seed + i "
        "(default: a fresh seed each call, printed with the samples)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"samples generated together (default: {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="save to this file: .jsonl (samples with settings) or a text file (\\author- text lines)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with every sample")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --out that `tweetsmith sample` did not "
        "write (a .jsonl of samples is appended to without it)",
    )


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.sampling import SamplingConfig, fresh_seed

    from .common import config_from_args, notice

    config = config_from_args(SamplingConfig, args, seed=fresh_seed() if args.seed is None else args.seed).validated()
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be 1 or more, got {args.batch_size}")
    if args.base and not args.run_dir:
        raise ConfigError("--base needs --run RUN")
    if args.out:  # before the model loads: a file that is not ours is refused at once
        from tweetsmith.engine.samples_io import check_samples_out

        check_samples_out(args.out, force=args.force)
    authors = _authors(args, config)
    loaded = _load(args)
    if len(authors) == 1 and not args.json:
        samples = [_stream(loaded, authors[0], args.prompt, config)]
    else:
        samples = _batched(loaded, authors, args.prompt, config, args.batch_size)
        if samples:
            seeds = f"seed {samples[0].seed}" if len(samples) == 1 else f"seeds {samples[0].seed}..{samples[-1].seed}"
            notice(f"{seeds} (sample i uses seed + i): --seed {config.seed} gives these samples again")
    out = _save(samples, args)
    if args.json:
        print(
            json.dumps(
                {
                    "model": loaded.info.spec,
                    "adapter": loaded.info.adapter,
                    "file": str(out) if out else None,
                    "samples": [s.to_dict() for s in samples],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    elif len(samples) > 1:
        from tweetsmith.data.records import Record, format_line

        for s in samples:
            print(format_line(Record(s.author, s.full_text)))
    if out:
        notice(f"saved {len(samples)} samples to {out}")
    sys.stdout.flush()
    return 0


def _authors(args, config) -> list[str]:
    from pathlib import Path

    from tweetsmith.data.split import SplitDir
    from tweetsmith.engine.errors import ConfigError
    from tweetsmith.engine.experiments import authors_from_split
    from tweetsmith.engine.run_record import run_data_dir

    if args.author:
        names = [a.strip().lstrip("@") for raw in args.author for a in raw.split(",") if a.strip()]
        return [a for a in names for _ in range(args.num_samples)]
    data = Path(args.data) if args.data else run_data_dir(args.run_dir) if args.run_dir else None
    if data is None:
        raise ConfigError("give --author NAME, or --run RUN / --data DIR to draw authors from the training data")
    train = SplitDir(data).train if data.is_dir() else data
    return authors_from_split(train, args.num_samples, seed=config.seed)


def _load(args):
    from tweetsmith.engine.models import load_run_model

    from .common import notice
    from .eval_cmd import load_from_args

    if args.run_dir and not args.model:
        loaded = load_run_model(args.run_dir, tuned=not args.base, precision=args.precision, progress=notice)
        notice(f"model: {loaded.info.describe()} ({'base' if args.base else 'tuned'} model of {args.run_dir})")
        return loaded
    return load_from_args(args)


def _stream(loaded, author: str, text: str, config):
    import sys

    from tweetsmith.engine.generate import stream_sample

    from .common import notice

    stream_text = f"\\{author}- {text}" if author else text
    print(stream_text, end="", flush=True)
    stream = stream_sample(loaded, author, text, config)
    try:
        for piece in stream:
            print(piece, end="", flush=True)
    except KeyboardInterrupt:
        stream.cancel()
        for _ in stream:
            pass
    print(flush=True)
    sample = stream.sample
    first = f"{sample.first_token_s:.2f} s to first token, " if sample.first_token_s is not None else ""
    notice(
        f"{sample.config.short()} seed {sample.seed}: {sample.new_tokens} tokens, {first}{sample.tokens_per_s:.1f} tokens/s"
    )
    sys.stdout.flush()
    return sample


def _batched(loaded, authors, text, config, batch_size):
    import time

    from tweetsmith.engine.generate import generate_samples

    from .common import ProgressLine

    bar = ProgressLine("sampling", total=len(authors))
    began = time.perf_counter()
    samples = generate_samples(
        loaded, authors, config, text=text, batch_size=batch_size, on_progress=lambda done, total: bar.update(done)
    )
    seconds = time.perf_counter() - began
    bar.close(f"{len(samples)} samples, {sum(s.new_tokens for s in samples)} tokens in {seconds:.1f} s")
    return samples


def _save(samples, args):
    from pathlib import Path

    from tweetsmith.engine.runs import RunPaths
    from tweetsmith.engine.samples_io import (
        is_samples_file,
        new_samples_path,
        replace_samples,
        save_sample_lines,
        save_samples,
    )

    if args.out:
        out = Path(args.out)
        if out.suffix != ".jsonl":
            return save_sample_lines(samples, out)
        if out.exists() and not is_samples_file(out):  # checked before generating: only with --force
            return replace_samples(samples, out)
        return save_samples(samples, out)
    if args.run_dir:
        label = "base" if args.base else "tuned"
        return save_samples(samples, new_samples_path(RunPaths(Path(args.run_dir)).samples, f"sample-{label}"))
    return None
