"""Perplexity tokens/s: the engine's batched windows against the unbatched loop, measured side by side.

The baseline is the loop of transformers' perplexity guide: one window per forward pass, the context
part of the labels set to -100, loss times predicted tokens summed. Both score the same windows
(docs/definitions.md), so their perplexities must agree; the table shows both.

Rows: the baseline; the engine's path before this change (every position's logits, a LoRA adapter
unmerged); the engine now (logits only where a target is predicted, adapters merged while scoring).

    python bench/perplexity_speed.py [--lines 120] [--model smollm2-135m] [--adapter RUN]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "vc_tweets" / "valid.txt"


def baseline(model, ids, max_len, stride):
    """Unbatched: one window a forward pass, like the transformers perplexity guide."""
    import torch

    from tweetsmith.engine.perplexity import sliding_windows

    total, count = 0.0, 0
    with torch.inference_mode():
        for w in sliding_windows(len(ids), max_len, stride):
            input_ids = torch.tensor([ids[w.begin : w.end]])
            labels = input_ids.clone()
            labels[:, : w.target_begin - w.begin] = -100
            loss = model(input_ids=input_ids, labels=labels).loss
            n = w.end - w.target_begin
            total += float(loss) * n
            count += n
    return total, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=120)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared, oversubscribed machine two spin-waiting threads "
        "ran 5-10x slower than one; pass 2 on a quiet 2-core machine)",
    )
    parser.add_argument("--stride", type=int, default=512)
    parser.add_argument("--adapter", default=None, help="a LoRA run to score with (the tuned model's case)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.encoding import concat, encode_records
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.perplexity import max_len_for, sum_nll

    loaded = load_model(args.model, adapter=args.adapter)
    lines = read_split_lines(DATA)[: args.lines]
    ids = concat(encode_records(loaded.tokenizer, lines, loaded.eot_id))
    max_len = max_len_for(loaded.model)
    print(
        f"{args.model} on {loaded.info.device}, {torch.get_num_threads()} threads, {len(lines)} lines = {len(ids):,} tokens, "
        f"window {max_len}, stride {args.stride}; load average {os.getloadavg()[0]:.1f}"
    )
    baseline(loaded.model, ids[:600], max_len, args.stride)  # warm-up
    rows = []
    started = time.perf_counter()
    nll, n = baseline(loaded.model, ids, max_len, args.stride)
    rows.append(("unbatched loop (baseline)", time.perf_counter() - started, nll, n))
    from tweetsmith.engine import perplexity
    from tweetsmith.engine.lora import adapters_merged

    real = perplexity.accepts_logits_to_keep
    perplexity.accepts_logits_to_keep = lambda model: False  # the previous path: logits at every position
    started = time.perf_counter()
    nll, n = sum_nll(
        loaded.model, ids, stride_tokens=args.stride, max_len_tokens=max_len, batch_windows=4, pad_id=loaded.pad_id
    )
    rows.append(
        (
            "engine before: 4 windows/batch, every logit" + (", adapter unmerged" if args.adapter else ""),
            time.perf_counter() - started,
            nll,
            n,
        )
    )
    perplexity.accepts_logits_to_keep = real
    started = time.perf_counter()
    with adapters_merged(loaded.model) as model:
        nll, n = sum_nll(
            model, ids, stride_tokens=args.stride, max_len_tokens=max_len, batch_windows=4, pad_id=loaded.pad_id
        )
    rows.append(
        (
            "engine now: logits at targets only" + (", adapter merged" if args.adapter else ""),
            time.perf_counter() - started,
            nll,
            n,
        )
    )
    base_s = rows[0][1]
    print("| method | seconds | tokens/s | perplexity | ratio vs baseline |\n|---|---:|---:|---:|---:|")
    for name, seconds, nll, n in rows:
        print(f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {math.exp(nll / n):.3f} | {base_s / seconds:.2f}x |")
    ppls = [math.exp(nll / n) for _, _, nll, n in rows]
    print(f"max relative difference of perplexities: {max(abs(p / ppls[0] - 1) for p in ppls):.1e}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
