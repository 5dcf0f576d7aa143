"""What is wrong with a sample, found by computed signals: one rule set for the report, the ablation and
the benches, so "23 of 100 repeat a phrase" means the same thing wherever it is printed.

The signals: empty or very short (fewer than ``SHORT_WORDS`` words), a word 3-gram said twice, cut at the
token limit (the model never ended the record), and a span copied from the training split (a
``engine.memorisation`` match, when one is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SHORT_WORDS = 3  # a sample with fewer words than this is "very short"


def problems(sample, match=None) -> list[str]:
    """The problems of one sample found by computed signals ([] when none)."""
    words = sample.text.split()
    found = []
    if not words:
        found.append("empty")
    elif len(words) < SHORT_WORDS:
        found.append("very short")
    grams = [tuple(w.lower() for w in words[i : i + 3]) for i in range(len(words) - 2)]
    if len(grams) != len(set(grams)):
        found.append("repeats a 3-word phrase")
    if sample.new_tokens >= sample.config.max_new_tokens:
        found.append(f"cut at the {sample.config.max_new_tokens}-token limit")
    if match is not None and match.copied:
        found.append(f"copies {match.words} words from a training record")
    return found


def problem_kind(problem: str) -> str:
    """A problem's kind, without its numbers ("copies 12 words ..." -> "copies from training")."""
    return "copies from training" if problem.startswith("copies") else problem


@dataclass(frozen=True)
class ProblemCounts:
    """How many samples have any problem, and how many have each kind."""

    samples: int
    with_problem: int
    by_kind: tuple[tuple[str, int], ...]  # most frequent first

    def describe(self) -> str:
        listed = ", ".join(f"{kind} {n}" for kind, n in self.by_kind)
        return f"{self.with_problem} of {self.samples} with a problem" + (f" ({listed})" if listed else "")


def count_problems(found: Sequence[Sequence[str]]) -> ProblemCounts:
    counts: dict[str, int] = {}
    for items in found:
        for item in items:
            counts[problem_kind(item)] = counts.get(problem_kind(item), 0) + 1
    return ProblemCounts(
        samples=len(found),
        with_problem=sum(1 for items in found if items),
        by_kind=tuple(sorted(counts.items(), key=lambda kv: -kv[1])),
    )


def problems_of(samples: Sequence, index=None) -> list[list[str]]:
    """Every sample's problems; with a ``MemorisationIndex``, copying from training counts too."""
    matches = index.match_many([s.text for s in samples]) if index is not None else [None] * len(samples)
    return [problems(s, m) for s, m in zip(samples, matches)]
