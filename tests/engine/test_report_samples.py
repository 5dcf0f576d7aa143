"""Section 5 of the report: a seeded random draw of samples with their problems, and problem counts for
each model, not the first samples."""

from __future__ import annotations

import random

import pytest

from tweetsmith.engine.sampling import SamplingConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_excerpts_are_the_seeded_draw_with_their_problems(tiny_run, small_splits):
    from tweetsmith.engine.experiments import compare_samples
    from tweetsmith.engine.memorisation import index_for_data
    from tweetsmith.engine.report_findings import excerpts_section
    from tweetsmith.engine.sample_problems import problems
    from tweetsmith.engine.samples_io import load_samples

    result = compare_samples(tiny_run, n=24, config=SamplingConfig(max_new_tokens=6, seed=3), batch_size=8)
    section = excerpts_section(tiny_run, small_splits, shown=5, seed=11)
    tuned = load_samples(result.sides["tuned"].file)
    assert len(tuned) == 24
    picked = random.Random(11).sample(range(24), 5)  # the draw, computed independently of the engine
    assert picked != list(range(5))
    index = index_for_data(small_splits)
    lines = [line for line in section.splitlines() if line.startswith("- **")]
    expected = []
    for i in picked:
        found = problems(tuned[i], index.match_many([tuned[i].text])[0])
        text = " ".join(tuned[i].text.split())[:200] or "(empty)"
        expected.append(
            f"- **{tuned[i].author}** (seed {tuned[i].seed}): {text}" + (f" *({'; '.join(found)})*" if found else "")
        )
    assert lines == expected
    assert "seed 11" in section and "random.Random(11).sample(range(24), 5)" in section
    # both models' problems are counted over all their samples
    for side in ("base", "tuned"):
        samples = load_samples(result.sides[side].file)
        flagged = sum(1 for s, m in zip(samples, index.match_many([s.text for s in samples])) if problems(s, m))
        assert f"Problems of all 24 {side} samples" in section and f"{flagged} of 24 with a problem" in section
    # the same seed gives the same section; another seed another draw
    assert excerpts_section(tiny_run, small_splits, shown=5, seed=11) == section
    assert excerpts_section(tiny_run, small_splits, shown=5, seed=12) != section
