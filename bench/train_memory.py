"""Training memory: the plan's estimate against the measured peak, for the shapes users train.

Each row trains for real (one optimizer step through ``engine.train.train``, in a process of its own) and
compares the estimate the run announced (``TrainingStarted.memory_estimate_bytes``, see
engine/train_plan.py) with the measured peak: the process's peak RSS on CPU, ``max_memory_allocated``
on CUDA. The target: the estimate is never under the peak and at most 25% over it. Models: the embedded
SmolLM2-135M with its real weights, and GPT-2 small / medium shapes (random init, word-level tokenizer:
nothing is downloaded). Rows whose estimate would not fit in 70% of the memory available now (the same
bound as the plan's, engine/memory_limits.py) are listed as skipped, not run.

    python bench/train_memory.py            # CPU: the grid below, fp32
    python bench/train_memory.py --quick    # fewer rows
    python bench/train_memory.py --gpu      # the same on CUDA (peak = max_memory_allocated)
    python bench/train_memory.py --cpu-plan --steps 3 --data ../shared/data/vc_tweets
        # what the CPU plan can pick: fp32 and bf16 x LoRA and full, 8 x 256, with and without checkpointing
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

CHILD = r"""
import json, resource, sys
import torch
from tweetsmith.engine.train import TrainConfig, train
from tweetsmith.engine import train_run
from tweetsmith.engine.train_events import Evaluated, StepLogged, TrainingStarted
spec = json.loads(sys.argv[1])
profiles = []
real_probe = train_run.probe_memory

def probe_memory(*args, **kwargs):  # the plan's measured terms, shown with each row
    profile = real_probe(*args, **kwargs)
    profiles.append(profile.__dict__)
    return profile

train_run.probe_memory = probe_memory
torch.manual_seed(0)
started, phases = [], {}

def high_water():
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated()
    status = open("/proc/self/status").read()
    return int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:"))) * 1024

def on_event(e):
    if isinstance(e, TrainingStarted):
        started.append(e)
        phases["start"] = high_water()
    elif isinstance(e, StepLogged):
        phases.setdefault("step1", high_water())
        phases["steps"] = high_water()
    elif isinstance(e, Evaluated):
        phases["eval"] = high_water()

steps = spec.get("steps", 1)
config = TrainConfig(data=spec["data"], model=spec["model"], out=spec["out"], lora=spec["method"] == "lora",
                     max_steps=steps, batch_size=spec["batch"], block_size=spec["block"],
                     eval_every=steps if spec.get("eval") else 0, save_every=0,
                     logging_steps=1, precision=spec.get("precision") or ("fp32" if not torch.cuda.is_available() else "auto"),
                     gradient_checkpointing=spec.get("ckpt", False))
if torch.cuda.is_available():
    torch.cuda.reset_peak_memory_stats()
train(config, on_event=on_event)
s = started[-1]
print(json.dumps({"estimate": s.memory_estimate_bytes, "peak": high_water(), "phases": phases, "batch": s.batch_size,
                  "accum": s.grad_accum, "block": s.block_size, "profiles": profiles}))
"""


def gpt2_shape(root: Path, name: str, n_layer: int, n_embd: int, n_head: int) -> Path:
    """A random-init GPT-2 of a real shape with a 50,257-word tokenizer (the GPT-2 vocabulary size)."""
    from train_throughput import make_gpu_assets

    model_dir, _ = make_gpu_assets(
        root / name, n_layer=n_layer, n_embd=n_embd, n_head=n_head, vocab=50257, lines=10, seed=0
    )
    return model_dir


def tweet_data(root: Path, tokenizer_words: int = 5000, valid_lines: int = 50) -> Path:
    """Tweet-length lines of the random words the GPT-2-shaped tokenizer knows ("t0".."tN"), and for the
    embedded model the same lines read as text: enough for one step of any shape below."""
    rnd = random.Random(0)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", 4000), ("valid", valid_lines), ("test", 50)):
        lines = [
            f"\\u{rnd.randint(0, 11)}- "
            + " ".join(f"t{rnd.randint(0, tokenizer_words)}" for _ in range(rnd.randint(10, 40)))
            for _ in range(count)
        ]
        (data / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data


def available_bytes() -> int:
    from tweetsmith.engine.memory_limits import cpu_memory_budget

    budget = cpu_memory_budget()
    return budget.bytes if budget is not None else 0


def rough_need(params_m: float, method: str, batch: int, block: int, vocab: int, layers: int, hidden: int) -> float:
    """A coarse upper guess to skip rows that cannot fit on this machine (the bench measures the rest)."""
    weights = params_m * 1e6 * 4 * (4 if method == "full" else 1)
    return 1.5e9 + weights + batch * block * (5 * vocab * 4 + layers * hidden * 60 * 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument(
        "--steps", type=int, default=1, help="optimizer steps a row (peaks after the first and the last are shown)"
    )
    parser.add_argument(
        "--eval", action="store_true", help="evaluate the valid split after the last step (its peak is shown)"
    )
    parser.add_argument(
        "--rows",
        default="",
        help="only these rows, e.g. smollm2-135m:lora:8x256,gpt2:full:4x256 "
        "(a row may end in :bf16, :fp32 and/or :ckpt)",
    )
    parser.add_argument(
        "--precisions",
        default="",
        help="comma-separated precisions for every row (CPU: fp32, bf16; default fp32 on CPU, auto on CUDA)",
    )
    parser.add_argument(
        "--cpu-plan",
        action="store_true",
        help="the rows the CPU plan can pick for the embedded model: "
        "fp32 and bf16 x LoRA and full at 8 x 256 (the default), and LoRA with activation checkpointing",
    )
    parser.add_argument(
        "--data",
        default="",
        help="a data directory (train/valid/test .txt) instead of the made-up tweets; "
        "only the embedded model's rows can use it (GPT-2 shapes have a word-level tokenizer)",
    )
    args = parser.parse_args(argv)
    from train_throughput import ensure_importable

    env = ensure_importable()
    if not args.gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    from tweetsmith.engine.embedded import ensure_embedded

    precisions = [p for p in args.precisions.split(",") if p] or [""]
    with tempfile.TemporaryDirectory(prefix="train-memory-") as tmp:
        root = Path(tmp)
        made_up = tweet_data(root, valid_lines=150 if args.eval else 50)  # --eval: full batches of 1,024-token windows
        models = {"smollm2-135m": (str(ensure_embedded()), 135, 49152, 30, 576)}
        # (model, method, batch, block, precision, checkpointing)
        if args.cpu_plan:
            grid = [
                ("smollm2-135m", method, 8, 256, precision, False)
                for precision in ("fp32", "bf16")
                for method in ("lora", "full")
            ]
            grid += [("smollm2-135m", "lora", 8, 256, precision, True) for precision in ("fp32", "bf16")]
        else:
            models["gpt2"] = (str(gpt2_shape(root, "gpt2", 12, 768, 12)), 124, 50257, 12, 768)
            if not args.quick:
                models["gpt2-medium"] = (str(gpt2_shape(root, "gpt2-medium", 24, 1024, 16)), 355, 50257, 24, 1024)
            shapes = [
                ("smollm2-135m", "lora", b, t)
                for t, b in ((128, 16), (256, 1), (256, 4), (256, 8), (512, 4), (1024, 1), (1024, 4))
            ]
            shapes += [("smollm2-135m", "full", 4, 256), ("smollm2-135m", "full", 1, 1024)]
            shapes += [("gpt2", "lora", 8, 256), ("gpt2", "full", 4, 256), ("gpt2", "lora", 2, 1024)]
            if not args.quick:
                shapes += [
                    ("gpt2-medium", "lora", 4, 256),
                    ("gpt2-medium", "full", 1, 512),
                    ("smollm2-135m", "lora", 16, 512),
                ]
            else:
                shapes = shapes[::2]
            grid = [(*shape, precision, False) for shape in shapes for precision in precisions]
        if args.rows:
            grid = []
            for row in args.rows.split(","):
                name, method, shape, *flags = row.split(":")
                batch, block = (int(x) for x in shape.split("x"))
                row_precisions = [f for f in flags if f in ("fp32", "bf16", "fp16", "auto")] or precisions
                grid += [(name, method, batch, block, p, "ckpt" in flags) for p in row_precisions]
        rows = []
        for name, method, batch, block, precision, ckpt in grid:
            path, params_m, vocab, layers, hidden = models[name]
            label = (name, method, batch, block, precision or ("auto" if args.gpu else "fp32"), ckpt)
            need = rough_need(params_m, method, batch, block, vocab, layers, hidden)
            if need > 0.7 * available_bytes():
                rows.append((*label, None, None, None, "skipped: would not fit here"))
                continue
            out = root / f"run-{name}-{method}-{batch}-{block}-{precision}-{ckpt}"
            data = args.data if args.data and name == "smollm2-135m" else str(made_up)
            spec = {
                "data": data,
                "model": path,
                "out": str(out),
                "method": method,
                "batch": batch,
                "block": block,
                "steps": args.steps,
                "eval": args.eval,
                "precision": precision,
                "ckpt": ckpt,
            }
            done = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps(spec)], env=env, capture_output=True, text=True
            )
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
                rows.append((*label, None, None, None, f"failed: {last[:60]}"))
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            note = (
                ""
                if (result["batch"], result["block"]) == (batch, block)
                else f"planned {result['batch']}x{result['accum']}x{result['block']}"
            )
            phases = result["phases"]
            shown = ", ".join(f"{k} {v / 2**30:.2f}" for k, v in phases.items())
            note = "; ".join(x for x in (note, f"high-water GiB: {shown}") if x)
            rows.append((*label, result["estimate"], phases.get("steps", result["peak"]), result["peak"], note))
            terms = ", ".join(
                f"{k} {v / 2**20:.0f}" for k, v in (result["profiles"] or [{}])[0].items() if k.endswith("bytes")
            )
            print(
                f"  {' '.join(map(str, label))}: estimate {result['estimate'] / 2**30:.2f} GiB, "
                f"peak {result['peak'] / 2**30:.2f} GiB ({shown}); profile MiB: {terms}",
                file=sys.stderr,
                flush=True,
            )
    what = "max_memory_allocated" if args.gpu else "peak RSS"
    print(
        f"\n| model | method | precision | batch x block | estimate | measured after {args.steps} steps ({what}) | "
        f"whole run | estimate / measured | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    over = under = 0.0
    for name, method, batch, block, precision, ckpt, estimate, steady, peak, note in rows:
        shape = f"{batch} x {block}" + (" ckpt" if ckpt else "")
        if estimate is None:
            print(f"| {name} | {method} | {precision} | {shape} | | | | | {note} |")
            continue
        ratio = estimate / max(steady, peak)
        over, under = max(over, ratio - 1), max(under, 1 - ratio)
        print(
            f"| {name} | {method} | {precision} | {shape} | {estimate / 2**30:.2f} GiB | {steady / 2**30:.2f} GiB | "
            f"{peak / 2**30:.2f} GiB | {ratio:.2f}x | {note} |"
        )
    print(
        f"\nworst: {100 * over:.0f}% over, {100 * under:.0f}% under the measured peak (target: never under, at most 25% over)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
