"""Which training flags mattered, measured: short runs at one step budget (``tweetsmith assignment --ablation``).

The assignment asks which flags mattered. Training the same data with one flag changed at a time
answers it: every variant trains the same number of optimizer steps from the same seed, and all are
scored by the same perplexity pass (the valid split's leading records within ``ABLATION_EVAL_TOKENS``
tokens, so a row costs two minutes on a 2-core CPU, not a whole-split pass), next to the untuned model on those
records. Each row is scored twice on those records, windowed (the assignment's figure) and with each
record alone (what the chat does), and ``ABLATION_SAMPLES`` samples from each variant are checked for the
report's problems. Speed is the training's own median useful tokens per second (padding not counted, so
one padded record per example shows what it wastes).

The variants change one flag of the run's own settings: packed blocks vs one record per example
(the assignment's original recipe), LoRA vs a full fine-tune (each at its default learning rate, as a
user switching method gets), and the learning rate halved and doubled. The pipeline trains them under
DIR/ablation/ by the same keyed, resumable training stage as the main run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .train_config import DEFAULT_LR, TrainConfig

ABLATION_STEPS = 20  # --ablation without a number
ABLATION_EVAL_TOKENS = 8_192  # ~15 windows of 1,024 tokens at stride 512: ~2 min a row on a 2-core CPU
ABLATION_SAMPLES = 50  # samples a variant writes for its problem count (~30 s on a 2-core CPU)


@dataclass(frozen=True)
class Variant:
    """One short run: its directory name under DIR/ablation/, what it changes, and its settings."""

    name: str
    change: str
    config: TrainConfig


def variants(config: TrainConfig, steps: int) -> list[Variant]:
    """The baseline (the run's flags at ``steps`` steps) and one variant per flag the assignment asks about."""
    short = dataclasses.replace(config, max_steps=steps, eval_every=0, merge=False, resume=False)
    lr = short.learning_rate
    out = [Variant("baseline", "none: this run's flags", short)]
    packing = {
        "concat": "records packed into full blocks (`--pack concat`)",
        "isolated": "packed, each record attending only to itself (`--pack isolated`)",
        "off": "one record per example (`--pack off`)",
    }
    for mode, change in packing.items():
        if mode != short.pack:
            name = "no-pack" if mode == "off" else f"pack-{mode}"
            out.append(Variant(name, change, dataclasses.replace(short, pack=mode)))
    if short.method == "full":
        out.append(
            Variant(
                "lora", f"LoRA (`--lora`, lr {DEFAULT_LR['lora']:g})", dataclasses.replace(short, lora=True, lr=None)
            )
        )
    else:
        out.append(
            Variant(
                "full",
                f"full fine-tune (`--no-lora`, lr {DEFAULT_LR['full']:g})",
                dataclasses.replace(short, lora=False, quantize=None, lr=None),
            )
        )
    out.append(Variant("lr-half", f"learning rate x0.5 (`--lr {lr / 2:g}`)", dataclasses.replace(short, lr=lr / 2)))
    out.append(Variant("lr-double", f"learning rate x2 (`--lr {lr * 2:g}`)", dataclasses.replace(short, lr=lr * 2)))
    return out


@dataclass(frozen=True)
class AblationRow:
    name: str
    change: str
    valid_perplexity: float
    tokens_per_s: float | None  # median useful tokens/s of its logged steps; None when none was logged
    train_seconds: float  # wall time of the training that made it
    record_perplexity: float | None = None  # each record alone; None in files written before it was measured
    samples: int = 0  # samples checked for problems
    with_problem: int | None = None  # of them, how many had any of the report's problems

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AblationResult:
    """DIR/ablation/ablation.json: every variant's valid perplexity on the same records, and the untuned model's."""

    steps: int
    seed: int
    records: int  # valid records scored
    tokens: int  # tokens predicted in them
    base_perplexity: float
    rows: tuple[AblationRow, ...]
    base_record_perplexity: float | None = None

    def row(self, name: str) -> AblationRow:
        return next(r for r in self.rows if r.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in dataclasses.asdict(self).items() if k != "rows"},
            "rows": [r.to_json() for r in self.rows],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AblationResult:
        record = d.get("base_record_perplexity")
        return cls(
            steps=int(d["steps"]),
            seed=int(d["seed"]),
            records=int(d["records"]),
            tokens=int(d["tokens"]),
            base_perplexity=float(d["base_perplexity"]),
            rows=tuple(AblationRow(**r) for r in d["rows"]),
            base_record_perplexity=float(record) if record is not None else None,
        )


def median_tokens_per_s(metrics: list[dict]) -> float | None:
    speeds = sorted(m["tokens_per_s"] for m in metrics if m.get("tokens_per_s"))
    return speeds[len(speeds) // 2] if speeds else None


def _vs(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "n/a"
    return f"{value:.2f} ({100 * (value / base - 1):+.1f}%)"


def ablation_table(result: AblationResult) -> str:
    """The report's table: one row a variant, both perplexities relative to the baseline's, and how many of
    its samples had a problem."""
    baseline = result.row("baseline")
    table = (
        "| variant | what changed | windowed perplexity | each record alone | samples with a problem | tokens/s "
        "| training |\n|---|---|---:|---:|---:|---:|---:|"
    )
    table += (
        f"\n| untuned | no fine-tuning | {_vs(result.base_perplexity, baseline.valid_perplexity)} "
        f"| {_vs(result.base_record_perplexity, baseline.record_perplexity)} | | | |"
    )
    for r in result.rows:
        speed = f"{r.tokens_per_s:,.0f}" if r.tokens_per_s else "n/a"
        problems = f"{r.with_problem} of {r.samples}" if r.with_problem is not None else "n/a"
        table += (
            f"\n| {r.name} | {r.change} | {_vs(r.valid_perplexity, baseline.valid_perplexity)} "
            f"| {_vs(r.record_perplexity, baseline.record_perplexity)} | {problems} | {speed} "
            f"| {r.train_seconds:,.0f} s |"
        )
    return table


def count_sample_problems(loaded, data: Path, sampling, *, n: int = ABLATION_SAMPLES, cancel=None) -> tuple[int, int]:
    """(samples drawn, how many had a problem): ``n`` samples for authors drawn from the train split as
    ``compare`` draws them, checked by the report's rules (copying from the train split included)."""
    from tweetsmith.data.split import SplitDir

    from .experiments import authors_from_split
    from .memorisation import index_for_data
    from .sample_cache import cached_generate_samples
    from .sample_problems import problems_of

    authors = authors_from_split(SplitDir(data).train, n, seed=sampling.seed)
    samples = cached_generate_samples(loaded, authors, sampling, cancel=cancel)
    found = problems_of(samples, index_for_data(data))
    return len(found), sum(1 for items in found if items)
