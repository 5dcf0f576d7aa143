"""Training throughput: our trainer against the assignment's approach, side by side in one run.

The baseline is the HF Trainer with its defaults (fp32, lr 5e-5, linear schedule), one line per example
padded to the longest in its batch by DataCollatorForLanguageModeling, no packing: the way the
assignment's run_language_modeling script trains. Ours is ``engine.train.train`` with its defaults
(packed blocks, bf16 where the hardware has it, fused AdamW). Both train the same model on the same
data for the same number of optimizer steps at the same batch size, each in its own process (so peak
memory is its own); useful tokens/s counts non-pad tokens only, measured after warm-up steps. Tokens per
CPU-second (all threads) is printed too: on a machine shared with other jobs it moves far less than
wall-clock time, so compare its ratio when the two disagree.

    python bench/train_throughput.py                 # CPU: the embedded model on vc_tweets, LoRA and full
                                                     # (plus ours in fp32 where auto picked bf16: packing alone)
    python bench/train_throughput.py --gpu           # GPU: gpt2-medium-shaped model (random init), full, MFU

On a GPU nothing is downloaded and no tokenizer is needed: the model is built from
GPT2Config(n_embd=1024, n_layer=24, n_head=16) and the data are random token "words" with a word-level
tokenizer built in the script, lines as long as tweets. Runs from the repo root without installing the
package (it links tweetsmith/{engine,data,scripts} under /tmp/tweetsmith_ns when needed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VC_TWEETS = REPO.parent / "shared" / "data" / "vc_tweets"
NS_ROOT = Path("/tmp/tweetsmith_ns")


def ensure_importable() -> dict[str, str]:
    """Make ``import tweetsmith.engine`` work (symlinked namespace if not installed); returns the env for workers."""
    env = dict(os.environ)
    try:
        import tweetsmith.engine  # noqa: F401

        return env
    except ImportError:
        pass
    package = NS_ROOT / "tweetsmith"
    package.mkdir(parents=True, exist_ok=True)
    for name in ("engine", "data", "scripts"):
        link = package / name
        if not link.exists():
            link.symlink_to(REPO / name, target_is_directory=True)
    sys.path.insert(0, str(NS_ROOT))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NS_ROOT), env.get("PYTHONPATH", "")]))
    return env


# ---------------------------------------------------------------- data and model for the GPU run
def make_gpu_assets(
    root: Path, *, n_layer: int, n_embd: int, n_head: int, vocab: int, lines: int, seed: int
) -> tuple[Path, Path]:
    """A random-init GPT-2 of the given shape with a word-level tokenizer, and random tweet-length lines."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    model_dir, data_dir = root / "model", root / "data"
    words = {f"t{i}": i for i in range(vocab - 1)}
    words["<|endoftext|>"] = vocab - 1
    backend = Tokenizer(models.WordLevel(words, unk_token="t0"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", unk_token="t0")
    torch.manual_seed(seed)
    config = GPT2Config(
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        vocab_size=vocab,
        n_positions=1024,
        bos_token_id=vocab - 1,
        eos_token_id=vocab - 1,
    )
    GPT2LMHeadModel(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    rng = random.Random(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", lines), ("valid", 50)):
        text = "\n".join(
            " ".join(f"t{rng.randrange(1, vocab - 1)}" for _ in range(rng.randint(8, 60))) for _ in range(count)
        )
        (data_dir / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    return model_dir, data_dir


# ---------------------------------------------------------------- workers (one process each)
def peak_memory_bytes(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def steady_rate(times: list[float], tokens: list[int], warmup: int) -> tuple[float, float, int]:
    """Useful tokens/s over the steps after ``warmup``: (tokens/s, seconds, tokens)."""
    if len(times) <= warmup:
        raise SystemExit(f"need more than {warmup} steps to measure")
    seconds = times[-1] - times[warmup - 1]
    counted = sum(tokens[warmup:])
    return counted / seconds, seconds, counted


def worker_ours(args) -> dict:
    from tweetsmith.engine.train import TrainConfig, train
    from tweetsmith.engine.train_events import StepLogged, TrainingStarted

    logged, mfus, losses, plan = [], [], [], {}

    def on_event(event):
        if isinstance(event, TrainingStarted):
            plan.update(
                device=event.device,
                dtype=event.dtype,
                tokens_per_step=event.tokens_per_step,
                memory_estimate=event.memory_estimate_bytes,
            )
        elif isinstance(event, StepLogged):
            logged.append((event.step, time.perf_counter(), time.process_time()))
            if event.step > args.warmup:
                mfus.append(event.mfu)
            losses.append(event.loss)

    with tempfile.TemporaryDirectory(prefix="bench-ours-") as out:
        config = TrainConfig(
            data=str(args.data),
            model=str(args.model),
            out=str(Path(out) / "run"),
            lora=args.method == "lora",
            max_steps=args.steps,
            batch_size=args.batch_size,
            block_size=args.block_size,
            eval_every=0,
            save_every=0,
            logging_steps=args.log_every,
            compile=args.compile,
            precision=args.precision,
        )
        train(config, on_event=on_event)
    # packed: every token of every block is useful; measured from the first log at or after the warm-up
    start_step, start_time, start_cpu = next((entry for entry in logged if entry[0] >= args.warmup), logged[-1])
    end_step, end_time, end_cpu = logged[-1]
    if end_step <= start_step:
        raise SystemExit(f"need logged steps after the {args.warmup} warm-up steps")
    counted = (end_step - start_step) * plan["tokens_per_step"]
    seconds = end_time - start_time
    rate = counted / seconds
    cpu_rate = counted / max(end_cpu - start_cpu, 1e-9)
    measured_mfu = [m for m in mfus if m is not None]
    return dict(
        tokens_per_s=rate,
        tokens_per_cpu_s=cpu_rate,
        seconds=seconds,
        tokens=counted,
        peak_bytes=peak_memory_bytes(plan["device"]),
        mfu=statistics.median(measured_mfu) if measured_mfu else None,
        dtype=plan["dtype"],
        first_loss=losses[0],
        last_loss=losses[-1],
        tokens_per_step=plan["tokens_per_step"],
    )


def worker_baseline(args) -> dict:
    """HF Trainer defaults, one padded line per example (records = line + end-of-text, as ours)."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.memory import flops_per_token, peak_flops
    from tweetsmith.engine.models import load_model

    cuda = torch.cuda.is_available()
    if args.gpu:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).to("cuda" if cuda else "cpu")
        eot = tokenizer.eos_token
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.unk_token
    else:
        loaded = load_model(str(args.model), dtype="float32")
        model, tokenizer = loaded.model, loaded.tokenizer
        eot = tokenizer.convert_ids_to_tokens(loaded.eot_id)
    if args.method == "lora":
        from tweetsmith.engine.lora import apply_lora

        model = apply_lora(model, r=8, alpha=16, dropout=0.05, quantized=False)
    lines = read_split_lines(Path(args.data) / "train.txt")
    examples = [
        {"input_ids": ids}
        for ids in tokenizer(
            [line + eot for line in lines], add_special_tokens=False, truncation=True, max_length=args.block_size
        )["input_ids"]
    ]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    counts, widths = [], []

    def counting_collator(batch):
        out = collator(batch)
        counts.append(int(out["attention_mask"].sum()))
        widths.append(out["input_ids"].shape[1])
        return out

    times, cpu_times = [], []

    class Clock(TrainerCallback):
        def on_step_end(self, args_, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter())
            cpu_times.append(time.process_time())

    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as out:  # nothing is saved (save_strategy="no")
        targs = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=args.batch_size,
            max_steps=args.steps,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=not cuda,
            seed=42,
        )
        trainer = Trainer(
            model=model, args=targs, train_dataset=examples, data_collator=counting_collator, callbacks=[Clock()]
        )
        trainer.train()
    rate, seconds, counted = steady_rate(times, counts[: len(times)], args.warmup)
    cpu_rate, _, _ = steady_rate(cpu_times, counts[: len(cpu_times)], args.warmup)
    device = "cuda" if cuda else "cpu"
    mean_width = statistics.mean(widths[args.warmup : len(times)])
    peak = peak_flops(device)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return dict(
        tokens_per_s=rate,
        tokens_per_cpu_s=cpu_rate,
        seconds=seconds,
        tokens=counted,
        peak_bytes=peak_memory_bytes(device),
        mfu=rate * flops_per_token(model, int(mean_width)) / peak if peak else None,
        dtype="float32",
        first_loss=losses[0],
        last_loss=losses[-1],
        tokens_per_step=counted / max(len(times) - args.warmup, 1),
    )


# ---------------------------------------------------------------- the driver
def run_worker(
    kind: str, method: str, args, env, model, data, *, compile_: bool = False, precision: str | None = None
) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result_path = f.name
    python = [sys.executable] + (["-S"] if sys.flags.no_site else [])
    cmd = python + [
        __file__,
        "--worker",
        kind,
        "--method",
        method,
        "--model",
        str(model),
        "--data",
        str(data),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--batch-size",
        str(args.batch_size),
        "--block-size",
        str(args.block_size),
        "--precision",
        precision or args.precision,
        "--result",
        result_path,
        "--log-every",
        str(args.log_every),
    ]
    cmd += ["--gpu"] if args.gpu else []
    cmd += ["--compile"] if compile_ else []
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {done.returncode}: {tail[0][:150]}"}
    result = json.loads(Path(result_path).read_text())
    Path(result_path).unlink()
    result["wall_s"] = time.perf_counter() - started
    return result


def fmt_bytes(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def print_table(rows: list[tuple[str, str, dict, dict | None]]) -> None:
    """Wall-clock tokens/s, and tokens per CPU-second (all threads): the second barely moves when other
    processes share the cores, so its ratio is the one to trust on a busy machine."""
    header = (
        f"{'method':<6} {'trainer':<22} {'dtype':<9} {'tok/step':>8} {'useful tok/s':>13} {'ratio':>6} "
        f"{'tok/CPU-s':>10} {'ratio':>6} {'peak mem':>10} {'MFU':>6} {'loss first->last':>17} {'wall':>6}"
    )
    print(header)
    print("-" * len(header))
    for method, name, result, base in rows:
        if "error" in result:
            print(f"{method:<6} {name:<22} {result['error']}")
            continue
        ok = base is not None and "error" not in base
        ratio = f"{result['tokens_per_s'] / base['tokens_per_s']:.2f}x" if ok else "1.00x"
        cpu_ratio = f"{result['tokens_per_cpu_s'] / base['tokens_per_cpu_s']:.2f}x" if ok else "1.00x"
        mfu = f"{100 * result['mfu']:.1f}%" if result.get("mfu") is not None else "-"
        print(
            f"{method:<6} {name:<22} {result['dtype']:<9} {result['tokens_per_step']:>8.0f} {result['tokens_per_s']:>13,.0f} "
            f"{ratio:>6} {result['tokens_per_cpu_s']:>10,.0f} {cpu_ratio:>6} {fmt_bytes(result['peak_bytes']):>10} {mfu:>6} "
            f"{result['first_loss']:>7.3f} -> {result['last_loss']:<6.3f} {result['wall_s']:>5.0f}s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="gpt2-medium-shaped model on the GPU, full fine-tuning, MFU")
    parser.add_argument(
        "--methods", default=None, help="comma-separated: lora,full (default: both on CPU, full on GPU)"
    )
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per trainer (default 6 CPU, 30 GPU)")
    parser.add_argument("--warmup", type=int, default=None, help="steps left out of the rate (default 1 CPU, 5 GPU)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--block-size", type=int, default=None, help="ours: tokens per packed block (256 CPU, 1024 GPU)"
    )
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", default=str(VC_TWEETS))
    parser.add_argument(
        "--compile", action="store_true", help="also run ours with torch.compile (default on with --gpu)"
    )
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--tiny", action="store_true", help="--gpu's code path with a tiny model (a dry run on CPU)")
    parser.add_argument("--log-every", type=int, default=None, help="ours: steps between logs (default 1 CPU, 5 GPU)")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--worker", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.set_defaults(compile=None)
    args = parser.parse_args()
    args.steps = args.steps or (30 if args.gpu and not args.tiny else 6)
    args.warmup = max(1, args.warmup if args.warmup is not None else (5 if args.gpu and not args.tiny else 1))
    args.block_size = args.block_size or (1024 if args.gpu and not args.tiny else 256)
    args.log_every = args.log_every or (5 if args.gpu and not args.tiny else 1)  # each log reads the loss: a GPU sync
    env = ensure_importable()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")

    if args.worker:
        result = (worker_ours if args.worker == "ours" else worker_baseline)(args)
        Path(args.result).write_text(json.dumps(result))
        return 0

    import torch

    methods = (args.methods or ("full" if args.gpu else "lora,full")).split(",")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        if args.gpu:
            shape = dict(n_layer=2, n_embd=64, n_head=4) if args.tiny else dict(n_layer=24, n_embd=1024, n_head=16)
            model, data = make_gpu_assets(Path(tmp), vocab=50257, lines=4000 if args.tiny else 80000, seed=0, **shape)
            device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (dry run)"
            print(
                f"# GPU bench on {device}: gpt2-medium shape {shape}, random data, batch {args.batch_size}, "
                f"ours packs {args.block_size}-token blocks; {args.steps} steps, first {args.warmup} not measured"
            )
        else:
            model, data = args.model, Path(args.data)
            print(
                f"# CPU bench ({os.cpu_count()} cores, torch {torch.__version__}): {model} on {data.name}/train.txt, "
                f"batch {args.batch_size}, ours packs {args.block_size}-token blocks; {args.steps} steps, "
                f"first {args.warmup} not measured"
            )
        rows = []
        for method in methods:
            base = run_worker("baseline", method, args, env, model, data)
            rows.append((method, "HF Trainer defaults", base, None))
            ours = run_worker("ours", method, args, env, model, data)
            rows.append((method, "tweetsmith", ours, base))
            if not args.gpu and args.precision == "auto" and ours.get("dtype") == "bfloat16":
                # what packing alone gives, without the CPU's bf16 matrix units
                rows.append(
                    (
                        method,
                        "tweetsmith fp32",
                        run_worker("ours", method, args, env, model, data, precision="fp32"),
                        base,
                    )
                )
            if args.compile or (args.compile is None and args.gpu and not args.tiny):
                rows.append(
                    (
                        method,
                        "tweetsmith + compile",
                        run_worker("ours", method, args, env, model, data, compile_=True),
                        base,
                    )
                )
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
