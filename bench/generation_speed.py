"""Generation speed, side by side in one run on the embedded model:

1. streaming (engine.generate.stream_sample: text at every token) against a plain ``generate`` and
   transformers' TextIteratorStreamer: time to first token and tokens/s, same prompts and seeds;
2. the compare workload, 100 samples: the engine's own decoding loop (rows leave the batch as they end)
   at several batch sizes against the previous ``model.generate`` path (bench/generation_baseline.py).

    python bench/generation_speed.py [--samples 100] [--max-new-tokens 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AUTHORS = ("paulg", "sama", "christine")


def plain_generate(loaded, prompt, config, streamer_kind=None):
    """transformers' generate with the config's kwargs; returns (first text s, total s, new tokens)."""
    import torch
    from transformers import TextIteratorStreamer

    ids = torch.tensor([[loaded.eot_id] + loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    kwargs = dict(config.generate_kwargs(), eos_token_id=loaded.eot_id, pad_token_id=loaded.pad_id)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    if streamer_kind is None:
        out = loaded.model.generate(ids, **kwargs)
        total = time.perf_counter() - started
        return total, total, out.shape[1] - ids.shape[1]
    streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=60)
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("out", loaded.model.generate(ids, streamer=streamer, **kwargs))
    )
    thread.start()
    first = None
    for piece in streamer:
        if piece and first is None:
            first = time.perf_counter() - started
    thread.join()
    total = time.perf_counter() - started
    return first if first is not None else total, total, result["out"].shape[1] - ids.shape[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--max-new-tokens", type=int, default=60, help="the sampling default")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared, oversubscribed machine two spin-waiting threads "
        "ran 5-10x slower than one; pass 2 on a quiet 2-core machine)",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from tweetsmith.data.records import prompt_for
    from tweetsmith.engine.generate import generate_samples, stream_sample
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.sampling import SamplingConfig

    loaded = load_model(args.model)
    print(
        f"{args.model} on {loaded.info.device}, {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}"
    )
    config = SamplingConfig(max_new_tokens=args.max_new_tokens)
    generate_samples(loaded, ["warm"], config)  # warm-up

    # 1. streaming vs plain generate (the engine also stops at a newline, so compare tokens/s, not totals)
    rows = {"plain generate (no streaming)": [], "TextIteratorStreamer": [], "engine stream_sample": []}
    for i, author in enumerate(AUTHORS):
        cfg = config.with_changes(seed=i)
        prompt = prompt_for(author, "The")
        rows["plain generate (no streaming)"].append(plain_generate(loaded, prompt, cfg))
        rows["TextIteratorStreamer"].append(plain_generate(loaded, prompt, cfg, "text"))
        stream = stream_sample(loaded, author, "The", cfg)
        for _ in stream:
            pass
        s = stream.sample
        rows["engine stream_sample"].append((s.first_token_s, s.seconds, s.new_tokens))
    print(f"\nStreaming, {len(AUTHORS)} prompts (median over prompts):")
    print("| method | time to first text (s) | tokens/s | ratio tokens/s vs plain |\n|---|---:|---:|---:|")
    base_tps = statistics.median(n / t for _, t, n in rows["plain generate (no streaming)"])
    for name, values in rows.items():
        first = statistics.median(f for f, _, _ in values)
        tps = statistics.median(n / t for _, t, n in values)
        print(f"| {name} | {first:.3f} | {tps:.1f} | {tps / base_tps:.2f}x |")

    # 2. the compare workload: N samples over several authors, the previous model.generate path (batch 16)
    #    against the engine's own loop at several batch sizes; same prompts, seeds and stop rule.
    from generation_baseline import generate_texts

    authors = [AUTHORS[i % len(AUTHORS)] for i in range(args.samples)]
    prompts = [prompt_for(a, "") for a in authors]
    seeds = [config.seed + i for i in range(len(authors))]
    started = time.perf_counter()
    baseline = []
    for start in range(0, len(prompts), 16):
        baseline.extend(generate_texts(loaded, prompts[start : start + 16], seeds[start : start + 16], config))
    baseline_s = time.perf_counter() - started
    rows = [("model.generate, 16 a batch (previous path, baseline)", baseline_s, baseline)]
    for batch in args.batch_sizes:
        started = time.perf_counter()
        samples = generate_samples(loaded, authors, config, batch_size=batch)
        rows.append(
            (f"engine loop, {batch} a batch", time.perf_counter() - started, [(s.text, s.new_tokens) for s in samples])
        )
    print(f"\n{args.samples} samples (max {args.max_new_tokens} new tokens, stop at newline/end-of-text):")
    print("| method | seconds | samples/s | new tokens | same text as baseline | ratio vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, texts in rows:
        same = sum(a[0] == b[0] for a, b in zip(texts, baseline))
        print(
            f"| {name} | {seconds:.1f} | {len(texts) / seconds:.2f} | {sum(n for _, n in texts)} | "
            f"{same}/{len(texts)} | {baseline_s / seconds:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    sys.exit(main())
