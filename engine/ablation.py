"""Which training flags mattered, measured: short runs at one step budget (``tweetsmith assignment --ablation``).

The assignment asks which flags mattered. Training the same data with one flag changed at a time
answers it: every variant trains the same number of optimizer steps from the same seed, and all are
scored by the same perplexity pass (the valid split's leading records within ``ABLATION_EVAL_TOKENS``
tokens, so a row costs two minutes on a 2-core CPU, not a whole-split pass), next to the untuned model on those
records. Speed is the training's own median useful tokens per second (padding not counted, so one
padded record per example shows what it wastes).

The variants change one flag of the run's own settings: packed blocks vs one record per example
(the assignment's original recipe), LoRA vs a full fine-tune (each at its default learning rate, as a
user switching method gets), and the learning rate halved and doubled. The pipeline trains them under
DIR/ablation/ by the same keyed, resumable training stage as the main run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from .train_config import DEFAULT_LR, TrainConfig

ABLATION_STEPS = 20  # --ablation without a number
ABLATION_EVAL_TOKENS = 8_192  # ~15 windows of 1,024 tokens at stride 512: ~2 min a row on a 2-core CPU


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
    packing = {"concat": "records packed into full blocks (`--pack concat`)",
               "isolated": "packed, each record attending only to itself (`--pack isolated`)",
               "off": "one record per example (`--pack off`)"}
    for mode, change in packing.items():
        if mode != short.pack:
            name = "no-pack" if mode == "off" else f"pack-{mode}"
            out.append(Variant(name, change, dataclasses.replace(short, pack=mode)))
    if short.method == "full":
        out.append(Variant("lora", f"LoRA (`--lora`, lr {DEFAULT_LR['lora']:g})",
                           dataclasses.replace(short, lora=True, lr=None)))
    else:
        out.append(Variant("full", f"full fine-tune (`--no-lora`, lr {DEFAULT_LR['full']:g})",
                           dataclasses.replace(short, lora=False, quantize=None, lr=None)))
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

    def row(self, name: str) -> AblationRow:
        return next(r for r in self.rows if r.name == name)

    def to_json(self) -> dict[str, Any]:
        return {**{k: v for k, v in dataclasses.asdict(self).items() if k != "rows"},
                "rows": [r.to_json() for r in self.rows]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "AblationResult":
        return cls(steps=int(d["steps"]), seed=int(d["seed"]), records=int(d["records"]), tokens=int(d["tokens"]),
                   base_perplexity=float(d["base_perplexity"]), rows=tuple(AblationRow(**r) for r in d["rows"]))


def median_tokens_per_s(metrics: list[dict]) -> float | None:
    speeds = sorted(m["tokens_per_s"] for m in metrics if m.get("tokens_per_s"))
    return speeds[len(speeds) // 2] if speeds else None


def ablation_table(result: AblationResult) -> str:
    """The report's table: one row a variant, perplexity relative to the baseline's."""
    base = result.row("baseline").valid_perplexity
    table = ("| variant | what changed | valid perplexity | vs baseline | tokens/s | training |\n"
             "|---|---|---:|---:|---:|---:|")
    table += f"\n| untuned | no fine-tuning | {result.base_perplexity:.2f} | {100 * (result.base_perplexity / base - 1):+.1f}% | | |"
    for r in result.rows:
        speed = f"{r.tokens_per_s:,.0f}" if r.tokens_per_s else "n/a"
        table += (f"\n| {r.name} | {r.change} | {r.valid_perplexity:.2f} | {100 * (r.valid_perplexity / base - 1):+.1f}% "
                  f"| {speed} | {r.train_seconds:,.0f} s |")
    return table
