"""The CPU at its own speed: this machine's matmul peak in fp32 and bf16 at the embedded model's shapes, and,
in the same run, what scoring, sampling and LoRA training achieve of it, with the old inference path (fp32)
and the new one (``--precision auto``) side by side.

- matmul: ``tokens x 576 @ 576 x 1536`` (the MLP's up projection) at a sampling step's 64 rows, a training
  micro-batch's 2,048 tokens (8 x 256) and a scoring batch's 4,096 (4 x 1,024), in fp32, in bf16 under
  autocast (training's path: fp32 weights cast per call) and with bf16 weights (inference's path, the model
  loaded in bf16); the best of interleaved rounds. A precision's peak is the best of its rows.
- scoring: one batch of the engine's sliding-window perplexity (``sum_nll``: 4 windows x 1,024 tokens of
  vc_tweets' valid split), the model loaded with ``precision="fp32"`` and with ``"auto"``, interleaved.
- sampling: ``generate_samples``, 64 samples in one batch, at most 60 new tokens, the same prompts and seeds.
- training: ``engine.train.train``, LoRA r16, 8 x 256 packed tokens a step, ``--precision auto``; the median
  useful tokens/s of its steps after the first (from metrics.jsonl).

GFLOP/s are model FLOPs (``engine.memory``): 2 per matmul weight per token forward (4 or 6 in training),
plus attention's 4 x layers x hidden x context per token (12 in training), over wall seconds. "of peak" is
that over the bf16-weights peak for bf16 rows, the fp32 peak for fp32 rows. The issue's targets: scoring
1.8x or more, sampling 1.4x or more, perplexity within 0.5% of fp32.

    python bench/cpu_roofline.py [--threads 1] [--repeats 3] [--train-steps 4] [--no-train] [--train-compile]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VC_TWEETS = REPO.parent / "shared" / "data" / "vc_tweets"
MATMUL_TOKENS = (("sampling step", 64), ("training micro-batch", 2048), ("scoring batch", 4096))
SCORING_WINDOWS, WINDOW_TOKENS, STRIDE_TOKENS = 4, 1024, 512
SAMPLES, MAX_NEW_TOKENS = 64, 60


def matmul_rows(hidden: int, intermediate: int, rounds: int) -> list[tuple[str, int, dict[str, float]]]:
    """(label, tokens, {path: best GFLOP/s}) per shape; the three paths alternate within each round."""
    from tweetsmith.engine.precision import time_matmul

    paths = {
        "fp32": dict(dtype="fp32"),
        "bf16 autocast": dict(dtype="bf16"),
        "bf16 weights": dict(dtype="bf16", stored=True),
    }
    rows = []
    for label, tokens in MATMUL_TOKENS:
        best = {path: math.inf for path in paths}
        for _ in range(rounds):
            for path, kwargs in paths.items():
                best[path] = min(
                    best[path],
                    time_matmul(
                        kwargs["dtype"], tokens, hidden, intermediate, repeats=2, stored=kwargs.get("stored", False)
                    ),
                )
        flops = 2.0 * tokens * hidden * intermediate
        rows.append((label, tokens, {path: flops / seconds / 1e9 for path, seconds in best.items()}))
    return rows


def forward_flops(model, positions: int, head_positions: int, context: int) -> float:
    """Model FLOPs of a forward pass over ``positions`` tokens whose head runs at ``head_positions`` of them."""
    from tweetsmith.engine.memory import matmul_parameters, model_shape

    layers, hidden, vocab = model_shape(model)
    total, _ = matmul_parameters(model)
    head = hidden * vocab
    return 2.0 * (total - head) * positions + 2.0 * head * head_positions + 4.0 * layers * hidden * context * positions


def scoring_ids(loaded, lines) -> list[int]:
    """The leading tokens of the records that make exactly one batch of ``SCORING_WINDOWS`` full windows."""
    from tweetsmith.engine.encoding import concat, encode_records

    ids = concat(encode_records(loaded.tokenizer, lines, loaded.eot_id))
    need = WINDOW_TOKENS + (SCORING_WINDOWS - 1) * STRIDE_TOKENS
    if len(ids) < need:
        raise SystemExit(f"the scoring text has {len(ids)} tokens; {need} are needed")
    return ids[:need]


def score_once(loaded, ids) -> tuple[float, float, int]:
    """(seconds, summed NLL, predicted tokens) of one scoring batch."""
    from tweetsmith.engine.perplexity import sum_nll

    started = time.perf_counter()
    nll, count = sum_nll(
        loaded.model,
        ids,
        stride_tokens=STRIDE_TOKENS,
        max_len_tokens=WINDOW_TOKENS,
        batch_windows=SCORING_WINDOWS,
        pad_id=loaded.pad_id,
    )
    return time.perf_counter() - started, nll, count


def sample_once(loaded, authors) -> tuple[float, list]:
    from tweetsmith.engine.generate import generate_samples
    from tweetsmith.engine.sampling import SamplingConfig

    started = time.perf_counter()
    samples = generate_samples(
        loaded, authors, SamplingConfig(max_new_tokens=MAX_NEW_TOKENS, seed=27), batch_size=SAMPLES
    )
    return time.perf_counter() - started, samples


def train_speed(data: Path, steps: int, compile_: bool = False) -> tuple[float, str, float]:
    """(median useful tokens/s after the first step, the precision training chose, FLOPs per useful token)."""
    from tweetsmith.engine.lora import apply_lora
    from tweetsmith.engine.memory import flops_per_token
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.run_record import RunRecord
    from tweetsmith.engine.runs import read_metrics
    from tweetsmith.engine.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as out:
        train(
            TrainConfig(
                data=str(data),
                model="smollm2-135m",
                out=out,
                lora=True,
                max_steps=steps,
                eval_every=0,
                save_every=0,
                logging_steps=1,
                compile=compile_,
            )
        )
        speeds = [m["tokens_per_s"] for m in read_metrics(out) if "tokens_per_s" in m][1:]
        precision = RunRecord.read(out).precision
    model = apply_lora(load_model("smollm2-135m").model, r=16, alpha=32, dropout=0.0, quantized=False)
    return statistics.median(speeds), precision, flops_per_token(model, 256)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared, oversubscribed machine two spin-waiting threads "
        "ran 5-10x slower than one; pass 2 on a quiet 2-core machine)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved repeats of each inference workload (median)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of each matmul (best)")
    parser.add_argument(
        "--train-steps", type=int, default=4, help="optimizer steps of the training row (the first is warm-up)"
    )
    parser.add_argument("--no-train", action="store_true", help="skip the training row (it takes a minute or two)")
    parser.add_argument(
        "--train-compile",
        action="store_true",
        help="also train with --compile (torch.compile: its first step compiles, 20 s to 2+ min)",
    )
    parser.add_argument(
        "--data", type=Path, default=VC_TWEETS, help="split directory (valid.txt scores, train.txt trains)"
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from tweetsmith.data.records import parse_line, read_split_lines
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.precision import matmul_shape

    old = load_model("smollm2-135m", precision="fp32")
    new = load_model("smollm2-135m", precision="auto")
    hidden, intermediate = matmul_shape(old.model.config)
    print(
        f"{_cpu()}, {torch.get_num_threads()} threads, torch {torch.__version__}; load average "
        f"{os.getloadavg()[0]:.1f} at start\n{new.info.precision_notice}\n"
    )

    rows = matmul_rows(hidden, intermediate, args.rounds)
    peak = {path: max(r[2][path] for r in rows) for path in ("fp32", "bf16 autocast", "bf16 weights")}
    print(
        f"| matmul tokens x {hidden} x {intermediate} | fp32 GFLOP/s | bf16 autocast | bf16 weights | bf16 weights / fp32 |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, tokens, speed in rows:
        print(
            f"| {tokens} ({label}) | {speed['fp32']:.0f} | {speed['bf16 autocast']:.0f} | {speed['bf16 weights']:.0f} | "
            f"{speed['bf16 weights'] / speed['fp32']:.2f}x |"
        )
    print(
        f"| peak | {peak['fp32']:.0f} | {peak['bf16 autocast']:.0f} | {peak['bf16 weights']:.0f} | "
        f"{peak['bf16 weights'] / peak['fp32']:.2f}x |\n"
    )

    lines = read_split_lines(args.data / "valid.txt")
    ids = scoring_ids(old, lines[:400])
    authors = [parse_line(line).author or "paulg" for line in lines[:SAMPLES]]
    prompt_tokens = sum(len(old.tokenizer(f"\\{a}-", add_special_tokens=False)["input_ids"]) + 1 for a in authors)
    sides = {"old (fp32)": old, f"new (auto: {new.info.precision})": new}
    score_s = {side: [] for side in sides}
    sample_s = {side: [] for side in sides}
    nll, texts, new_tokens = {}, {}, {}
    for loaded in sides.values():  # warm-up: kernels, the decoding loop's token table
        score_once(loaded, ids[:WINDOW_TOKENS])
        sample_once(loaded, authors[:4])
    for _ in range(args.repeats):
        for side, loaded in sides.items():
            seconds, total, count = score_once(loaded, ids)
            score_s[side].append(seconds)
            nll[side] = (total, count)
            seconds, samples = sample_once(loaded, authors)
            sample_s[side].append(seconds)
            texts[side] = [s.text for s in samples]
            new_tokens[side] = sum(s.new_tokens for s in samples)

    print("| workload | path | seconds (median) | tokens/s | GFLOP/s | of peak | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    ratios = {}
    for workload, times in (("scoring 4 x 1024", score_s), ("sampling 64 x <=60", sample_s)):
        base = statistics.median(next(iter(times.values())))
        for side, loaded in sides.items():
            seconds = statistics.median(times[side])
            if workload.startswith("scoring"):
                tokens = SCORING_WINDOWS * WINDOW_TOKENS
                flops = forward_flops(loaded.model, tokens, nll[side][1], WINDOW_TOKENS)
            else:
                tokens = new_tokens[side]
                flops = forward_flops(loaded.model, prompt_tokens + tokens, prompt_tokens + tokens, 0)
            of = peak["bf16 weights"] if loaded.info.precision == "bf16" else peak["fp32"]
            ratios[workload] = base / seconds
            print(
                f"| {workload} | {side} | {seconds:.2f} | {tokens / seconds:.0f} | {flops / seconds / 1e9:.0f} | "
                f"{flops / seconds / 1e9 / of:.0%} | {base / seconds:.2f}x |"
            )
    for compile_ in ((False, True) if args.train_compile else (False,)) if not args.no_train else ():
        speed, precision, per_token = train_speed(args.data, args.train_steps, compile_)
        of = peak["bf16 weights"] if precision == "bf16" else peak["fp32"]
        print(
            f"| training LoRA r16 8 x 256{' --compile' if compile_ else ''} | {precision} (auto) | "
            f"{8 * 256 / speed:.2f} a step | {speed:.0f} useful | {speed * per_token / 1e9:.0f} | "
            f"{speed * per_token / 1e9 / of:.0%} | |"
        )
    (old_nll, count), (new_nll, _) = nll.values()
    relative = math.exp(new_nll / count) / math.exp(old_nll / count) - 1
    same = sum(a == b for a, b in zip(*texts.values()))
    print(
        f"\nperplexity of the scoring batch: {math.exp(old_nll / count):.3f} fp32, {math.exp(new_nll / count):.3f} "
        f"{new.info.precision} ({relative:+.3%}); samples identical to fp32's: {same}/{SAMPLES}"
    )
    print(
        f"targets: scoring {ratios['scoring 4 x 1024']:.2f}x (>= 1.8x), sampling {ratios['sampling 64 x <=60']:.2f}x "
        f"(>= 1.4x), perplexity {abs(relative):.2%} (< 0.5%); load average {os.getloadavg()[0]:.1f} at the end"
    )
    return 0


def _cpu() -> str:
    from tweetsmith.engine.precision import _cpu_name

    return _cpu_name()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
