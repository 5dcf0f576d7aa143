"""The error of bf16 scoring against fp32, before and after issue 27's fix, on split files given by path.

Three copies of the model score the same leading records of each file: fp32 (``--precision fp32``), bf16
as it was stored before the fix (every weight rounded to bf16, the residual stream bf16 too) and bf16 as
``--precision bf16`` stores it now (``engine.precision.store_for_bf16_inference``: bf16 matmuls, fp32
residual stream, the matmuls that write massive activations kept fp32). One markdown row per file and
figure (per record, windowed): the perplexities, each bf16 figure's error relative to fp32's, and the
seconds of each pass (the two bf16 passes run in the same process, one after the other). ``--sampling N``
adds what sampling costs: N samples (the first records' authors, 24 new tokens each) from each copy, the
seconds per sampled token and the casts (``aten::_to_copy``) per forward pass.

    python bench/bf16_error.py SPLIT.txt [SPLIT.txt ...] [--records 800] [--context record,windowed] [--sampling 16]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("splits", nargs="+", help="split files in the line format (train/valid/test.txt)")
    parser.add_argument("--records", type=int, default=800, help="leading records of each file (0: all)")
    parser.add_argument("--context", default="record,windowed", help="record, windowed or both (comma-separated)")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sampling", type=int, default=0, help="samples from each copy (0: none)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.models import load_model
    from tweetsmith.engine.perplexity import perplexity_of_lines, record_perplexity_of_lines
    from tweetsmith.engine.precision import cast_parameters

    fp32 = load_model(args.model, precision="fp32")
    before = load_model(args.model, precision="fp32")
    cast_parameters(before.model, torch.bfloat16)  # what --precision bf16 loaded before the fix
    after = load_model(args.model, precision="bf16")
    scorers = {"record": record_perplexity_of_lines, "windowed": perplexity_of_lines}
    print(f"{args.model}; {args.threads} threads; load average {os.getloadavg()[0]:.1f}\n")
    print(
        "| corpus | split | figure | records | tokens | fp32 | bf16 before | error | bf16 after | error | s fp32 / before / after |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for split in args.splits:
        path = Path(split)
        lines = read_split_lines(path)
        lines = lines[: args.records] if args.records > 0 else lines
        for context in args.context.split(","):
            figures, seconds = [], []
            for loaded in (fp32, before, after):
                began = time.perf_counter()
                result = scorers[context](
                    loaded.model, loaded.tokenizer, lines, eot_id=loaded.eot_id, pad_id=loaded.pad_id
                )
                seconds.append(time.perf_counter() - began)
                figures.append(result)
            full, old, new = (r.perplexity for r in figures)
            print(
                f"| {path.parent.name} | {path.stem} | {context} | {len(lines)} | {figures[0].tokens} | {full:.3f} | "
                f"{old:.3f} | {100 * (old / full - 1):+.2f}% | {new:.3f} | {100 * (new / full - 1):+.2f}% | "
                + " / ".join(f"{s:.0f}" for s in seconds)
                + " |",
                flush=True,
            )
    if args.sampling:
        authors = [line.split("- ", 1)[0].lstrip("\\") for line in read_split_lines(args.splits[0])[: args.sampling]]
        print("\n| copy | samples | s per sampled token | casts per forward pass |\n|---|---:|---:|---:|")
        for name, loaded in (("fp32", fp32), ("bf16 before", before), ("bf16 after", after)):
            seconds, casts = sampling_cost(loaded, authors)
            print(f"| {name} | {len(authors)} | {seconds:.3f} | {casts:.0f} |", flush=True)
    return 0


def sampling_cost(loaded, authors: list[str], new_tokens: int = 24) -> tuple[float, float]:
    """(seconds per sampled token, ``aten::_to_copy`` calls per forward pass) of one batch of samples."""
    import torch

    from tweetsmith.engine.generate import generate_samples
    from tweetsmith.engine.sampling import SamplingConfig

    config = SamplingConfig(max_new_tokens=new_tokens, seed=0)
    generate_samples(loaded, authors[:2], config)  # warm-up
    forwards = [0]
    hook = loaded.model.register_forward_pre_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    try:
        with torch.profiler.profile() as profile:
            began = time.perf_counter()
            samples = generate_samples(loaded, authors, config)
            seconds = time.perf_counter() - began
    finally:
        hook.remove()
    casts = sum(e.count for e in profile.key_averages() if e.key == "aten::_to_copy")
    return seconds / max(sum(s.new_tokens for s in samples), 1), casts / max(forwards[0], 1)


if __name__ == "__main__":
    raise SystemExit(main())
