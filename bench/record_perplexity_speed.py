"""Per-record ("cold") perplexity against the windowed pass, measured side by side on the same records.

Rows: the windowed pass (the baseline: the engine's sliding windows, 1,024 tokens, stride 512); the
per-record pass batched by length (``record_perplexity_of_lines``); the per-record pass one record per
forward (what a plain loop costs). Each row scores the same leading records of the assignment's valid
split with the embedded model; the table gives seconds, scored tokens/s, the perplexity and the ratio
of time against the windowed pass.

    python bench/record_perplexity_speed.py [--lines 600] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "vc_tweets" / "valid.txt"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=600)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.encoding import encode_records
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.perplexity import perplexity_of_lines, record_nll, record_perplexity_of_lines

    lines = read_split_lines(args.data)[: args.lines]
    loaded = load_model(args.model)
    model, tok = loaded.model, loaded.tokenizer
    print(
        f"{len(lines)} records of {args.data}; {args.model}; {args.threads} threads; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    perplexity_of_lines(model, tok, lines[:50], eot_id=loaded.eot_id, pad_id=loaded.pad_id)  # warm-up
    rows = []
    began = time.perf_counter()
    windowed = perplexity_of_lines(model, tok, lines, eot_id=loaded.eot_id, pad_id=loaded.pad_id)
    rows.append(
        ("windowed, 1,024 / stride 512 (baseline)", time.perf_counter() - began, windowed.tokens, windowed.perplexity)
    )
    began = time.perf_counter()
    cold = record_perplexity_of_lines(model, tok, lines, eot_id=loaded.eot_id, pad_id=loaded.pad_id)
    rows.append(("per record, batched by length", time.perf_counter() - began, cold.tokens, cold.perplexity))
    encoded = encode_records(tok, lines, loaded.eot_id)
    began = time.perf_counter()
    nll, count = record_nll(model, encoded, eot_id=loaded.eot_id, pad_id=loaded.pad_id, batch_tokens=1)
    rows.append(("per record, one a forward pass", time.perf_counter() - began, count, math.exp(nll / count)))
    base_s = rows[0][1]
    print("| pass | seconds | tokens/s | perplexity | time vs windowed |\n|---|---:|---:|---:|---:|")
    for name, seconds, tokens, ppl in rows:
        print(f"| {name} | {seconds:.1f} | {tokens / seconds:,.0f} | {ppl:.2f} | {seconds / base_s:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
