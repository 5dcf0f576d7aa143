"""Samples during training: at every evaluation, the same few prompts with the same seeds, so what changes
between two evaluations is the model.

The prompts are the most frequent authors of the train split (ties broken by name); sample i uses seed
``SAMPLING.seed + i`` (the engine's generator, ``generate.generate_samples``). Sampling must not disturb
training: the global RNG states are forked around it (the generator reseeds torch), and the model's
train/eval mode is restored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tweetsmith.data.records import parse_line

from .sampling import SamplingConfig

DEFAULT_AUTHORS = 3
SAMPLING = SamplingConfig(temperature=0.8, top_k=50, top_p=1.0, max_new_tokens=40, seed=1234)


@dataclass(frozen=True)
class TrainingSample:
    author: str
    seed: int
    text: str

    def to_dict(self) -> dict:
        return {"author": self.author, "seed": self.seed, "text": self.text}


@dataclass(frozen=True)
class SamplesGenerated:
    """A training event: the fixed-prompt samples after ``step`` optimizer steps (sent after ``Evaluated``)."""

    step: int
    samples: tuple[TrainingSample, ...]


def fixed_authors(train_lines: Sequence[str], n: int = DEFAULT_AUTHORS) -> list[str]:
    """The ``n`` most frequent authors of the train split (ties by name); ``[""]`` when no line has one."""
    counts = Counter(parse_line(line).author for line in train_lines)
    counts.pop("", None)
    ranked = sorted(counts, key=lambda a: (-counts[a], a))[:n]
    return ranked or [""]


def training_samples(
    model,
    tokenizer,
    authors: Sequence[str],
    *,
    eot_id: int,
    pad_id: int,
    config: SamplingConfig = SAMPLING,
    spec: str = "training",
) -> list[TrainingSample]:
    """One sample per author from the model as it is now (the trainer's model and tokenizer)."""
    import torch

    from .generate import generate_samples
    from .models import LoadedModel, ModelInfo
    from .tokens import SpecialTokens

    device = next(model.parameters()).device
    info = ModelInfo(spec=spec, name=spec, source="training", location="", parameters=0, device=str(device), dtype="")
    special = SpecialTokens(eot_id=eot_id, eot_token=tokenizer.convert_ids_to_tokens(eot_id), pad_id=pad_id)
    loaded = LoadedModel(model=model, tokenizer=tokenizer, info=info, special=special)
    was_training = model.training
    devices = [device] if device.type == "cuda" else []
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices):
            samples = generate_samples(loaded, list(authors), config, batch_size=max(len(authors), 1))
    finally:
        model.train(was_training)
    return [TrainingSample(s.author, s.seed, s.text) for s in samples]
