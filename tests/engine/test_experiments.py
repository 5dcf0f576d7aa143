"""Experiments on a fake run (tiny Llama base + a perturbed copy as final/): perplexity before/after,
base-vs-tuned samples, sweeps, plots and the report, checked against direct computations."""

from __future__ import annotations

import json
import os
import threading

import pytest

from tweetsmith.engine.decode_loop import DECODE_VERSION
from tweetsmith.engine.diversity import diversity, reference_from_file
from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.experiment_cache import cached_comparison, cached_samples, cached_sweep
from tweetsmith.engine.experiments import Cancelled, authors_from_split, compare_samples, parse_sweep_values, sweep
from tweetsmith.engine.models import load_model
from tweetsmith.engine.perplexity import perplexity_of_file
from tweetsmith.engine.perplexity_comparison import compare_perplexity
from tweetsmith.engine.progress import Progress
from tweetsmith.engine.results import PerplexityComparison, SampleComparison, SweepResult
from tweetsmith.engine.samples_io import load_samples
from tweetsmith.engine.sampling import SamplingConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def make_fake_run(tuned_run_factory, splits_factory):
    """A run dir: config.json naming the tiny model and a small data dir; final/ = the tiny model, perturbed."""

    def make(root, tiny_llama_dir, lines=(120, 30, 30)):
        data = splits_factory(root / "data", lines)
        return tuned_run_factory(root, tiny_llama_dir, data, lr=3e-4, max_steps=10)

    return make


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory, tiny_llama_dir, make_fake_run):
    return make_fake_run(tmp_path_factory.mktemp("fake"), tiny_llama_dir)


def test_compare_perplexity_equals_separate_evaluations(fake_run, tiny_llama_dir):
    events = []
    result = compare_perplexity(fake_run, on_progress=events.append)
    data = fake_run.parent / "data"
    base = load_model(str(tiny_llama_dir))
    tuned = load_model(str(fake_run / "final"))
    for split in ("valid", "test"):
        expected_base = perplexity_of_file(base, data / f"{split}.txt", stride_tokens=256).perplexity
        expected_tuned = perplexity_of_file(tuned, data / f"{split}.txt", stride_tokens=256).perplexity
        assert result.base[split].perplexity == pytest.approx(expected_base, rel=1e-6)
        assert result.tuned[split].perplexity == pytest.approx(expected_tuned, rel=1e-6)
        assert expected_base != pytest.approx(expected_tuned, rel=1e-3)
        assert result.change(split).perplexity == pytest.approx(expected_tuned - expected_base)
        assert result.change(split).percent == pytest.approx(100 * (expected_tuned / expected_base - 1))
        for side, model in (("base", base), ("tuned", tuned)):  # each record alone: the per-record figure
            expected = perplexity_of_file(model, data / f"{split}.txt", context="record")
            got = result.side(side, "record")[split]
            assert got.context == "record" and got.tokens == expected.tokens
            assert got.perplexity == pytest.approx(expected.perplexity, rel=1e-6)
    assert {e.stage for e in events} == {
        f"{side} · {split}{kind}"
        for side in ("base", "tuned")
        for split in ("valid", "test")
        for kind in ("", " · per record")
    }
    assert all(isinstance(e, Progress) and 0 < e.done <= e.total for e in events)
    assert result.stride_tokens == 256  # capped at the tiny model's 256-token window
    saved = json.loads((fake_run / "eval.json").read_text())
    assert PerplexityComparison.from_json(saved) == result
    assert saved["change"]["valid"]["percent"] == pytest.approx(result.change("valid").percent)  # readable as it was
    assert cached_comparison(fake_run) == result


def test_cached_comparison_goes_stale_when_final_changes(fake_run):
    if cached_comparison(fake_run) is None:
        compare_perplexity(fake_run)
    weights = fake_run / "final" / "config.json"
    stat = weights.stat()
    os.utime(weights, (stat.st_atime, stat.st_mtime + 100))
    try:
        assert cached_comparison(fake_run) is None
    finally:
        os.utime(weights, (stat.st_atime, stat.st_mtime))
    assert cached_comparison(fake_run) is not None


def test_cancel_raises_and_caches_nothing(tmp_path, tiny_llama_dir, make_fake_run):
    run = make_fake_run(tmp_path, tiny_llama_dir, lines=(20, 10, 10))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        compare_perplexity(run, cancel=cancel)
    with pytest.raises(Cancelled):
        sweep(run, "temperature", [0.5], n=2, cancel=cancel)
    assert not (run / "eval.json").exists() and not (run / "sweep-temperature.json").exists()


def test_compare_samples_side_by_side(fake_run):
    config = SamplingConfig(max_new_tokens=12, seed=3)
    result = compare_samples(fake_run, n=10, config=config, batch_size=4)
    reference = reference_from_file(fake_run.parent / "data" / "test.txt")
    files = {side: load_samples(result.sides[side].file) for side in ("base", "tuned")}
    assert [s.author for s in files["base"]] == [s.author for s in files["tuned"]]
    assert [s.seed for s in files["base"]] == list(range(3, 13))
    assert [s.author for s in files["base"]] == authors_from_split(fake_run.parent / "data" / "train.txt", 10, seed=3)
    for side, samples in files.items():
        assert result.sides[side].diversity == diversity([s.text for s in samples], reference=reference)
    assert files["base"][0].model != files["tuned"][0].model
    assert json.loads((fake_run / "compare.json").read_text())["n"] == 10
    assert cached_samples(fake_run) == result == SampleComparison.from_json(json.loads(json.dumps(result.to_json())))
    # samples drawn by another decoding loop are stale: recomputed, not served
    stored = json.loads((fake_run / "compare.json").read_text())
    assert stored["decode_version"] == DECODE_VERSION
    (fake_run / "compare.json").write_text(json.dumps({**stored, "decode_version": DECODE_VERSION - 1}))
    assert cached_samples(fake_run) is None


def test_sweep_returns_curves_for_plotting(fake_run):
    events = []
    result = sweep(fake_run, "top_k", "1,0", n=6, config=SamplingConfig(max_new_tokens=10), on_progress=events.append)
    assert result.values == (1, 0) and set(result.curves) == {"base", "tuned"}
    for points in result.curves.values():
        assert [p.value for p in points] == [1, 0]
        for p in points:
            samples = load_samples(p.figures.file)
            assert len(samples) == 6 and all(s.config.top_k == p.value for s in samples)
            assert p.figures.figure("dist_1") == pytest.approx(diversity([s.text for s in samples]).dist_1)
    # top_k 1 is greedy: fewer distinct samples than with top_k off
    assert result.curves["base"][0].figures.figure("dist_2") <= result.curves["base"][1].figures.figure("dist_2")
    assert any("top_k=1" in e.stage for e in events)
    assert cached_sweep(fake_run, "top_k") == result
    stored = json.loads((fake_run / "sweep-top_k.json").read_text())
    (fake_run / "sweep-top_k.json").write_text(json.dumps({k: v for k, v in stored.items() if k != "decode_version"}))
    assert cached_sweep(fake_run, "top_k") is None  # written before the decoding loop had a version: stale


@pytest.mark.parametrize(
    "param,values,message",
    [
        ("temp", "1", "can't sweep 'temp'"),
        ("temperature", "0.5,abc", "must be numbers"),
        ("temperature", "9", "temperature must be in 0..5, got 9"),
        ("top_k", "2.5", "whole numbers"),
        ("top_p", "0", "top_p must be in (0, 1]"),
    ],
)
def test_bad_sweep_values(param, values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_sweep_values(param, values)


def test_plots_write_pngs(fake_run, tmp_path):
    from tweetsmith.engine.plots import plot_sweep, terminal_sweep_plot

    result = _sweep(
        "temperature",
        [0.5, 1.0],
        5,
        {
            "base": [
                _point(0.5, 0.3, dist_2=0.5, self_bleu=0.4, overlap=0.8, mean_words=9),
                _point(1.0, 0.5, dist_2=0.7, self_bleu=0.2, overlap=0.7, mean_words=10),
            ]
        },
    )
    png = plot_sweep(result, tmp_path / "plots" / "s.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = terminal_sweep_plot(result)
    assert "dist-1 vs temperature" in text


def test_report_answers_every_question(tmp_path, tiny_llama_dir, make_fake_run):
    from tweetsmith.engine.report import build_report

    run = make_fake_run(tmp_path, tiny_llama_dir, lines=(60, 20, 20))
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 5 - s / 10, "tokens_per_s": 100.0}) + "\n" for s in range(1, 6))
    )
    path = build_report(run, n=4, sweeps=("temperature",), config=SamplingConfig(max_new_tokens=8))
    text = path.read_text()
    evals = json.loads((run / "eval.json").read_text())
    for heading in (
        "## 1. The dataset",
        "## 2. Perplexity",
        "## 3. Overlap",
        "## 4. Diversity",
        "## 5. Samples",
        "## 6. Training flags",
    ):
        assert heading in text
    assert (
        f"| valid | windowed | {evals['base']['valid']['perplexity']:.2f} | {evals['tuned']['valid']['perplexity']:.2f} |"
        in text
    )
    record = evals["record"]
    assert (
        f"| valid | per record | {record['base']['valid']['perplexity']:.2f} | {record['tuned']['valid']['perplexity']:.2f} |"
        in text
    )
    size = (run.parent / "data" / "train.txt").stat().st_size
    assert f"| train | 60 | {size / 1e6:.2f} | " in text
    assert "## 7. Which training flags mattered" in text and "Only this run has trained on" in text
    assert (
        "![temperature sweep](plots/sweep-temperature.png)" in text
        and (run / "plots" / "sweep-temperature.png").is_file()
    )
    assert (run / "plots" / "training.png").is_file() and "| lr | `0.0003` |" in text
    assert f"tweetsmith sweep {run} --param top_k" in text  # not computed: says how


def test_samples_io_round_trip_append_and_text_files(tmp_path):
    from tweetsmith.data.errors import DataError
    from tweetsmith.engine.sample_record import Sample
    from tweetsmith.engine.samples_io import read_scored_texts, save_sample_lines, save_samples

    def sample(i):
        return Sample(
            author="paulg",
            prompt="\\paulg- Hi",
            text=f" there {i}",
            new_tokens=3,
            seconds=0.5,
            first_token_s=None,
            tokens_per_s=6.0,
            config=SamplingConfig(seed=i),
            model="m",
            adapter=None,
            seed=i,
        )

    path = tmp_path / "deep" / "s.jsonl"
    save_samples([sample(0), sample(1)], path)
    save_samples([sample(2)], path)
    loaded = load_samples(path)
    assert loaded == [sample(0), sample(1), sample(2)]
    assert json.loads(path.read_text().splitlines()[0])["config"]["seed"] == 0
    assert [t.text for t in read_scored_texts(path)] == [" there 0", " there 1", " there 2"]
    assert not list(path.parent.glob(".*.tmp"))  # no temp files left behind
    text_file = save_sample_lines([sample(0)], tmp_path / "s.txt")
    assert text_file.read_text() == "\\paulg- Hi there 0\n"
    (tmp_path / "mixed.txt").write_text("\\sama- hello world\nno prefix here\n\n")
    assert [(t.author, t.text) for t in read_scored_texts(tmp_path / "mixed.txt")] == [
        ("sama", "hello world"),
        ("", "no prefix here"),
    ]
    path.write_text(path.read_text() + '{"author": "paulg", "te')  # an append cut mid-line: left out
    assert load_samples(path) == [sample(0), sample(1), sample(2)]
    path.write_text(path.read_text() + "\nnot json\n")  # a whole line that is not a sample: an error
    with pytest.raises(DataError, match=r"s\.jsonl:4: not a JSON line"):
        load_samples(path)


def test_sweep_without_a_run_uses_the_models_given(fake_run, tiny_llama_dir):
    base = load_model(str(tiny_llama_dir))
    data = fake_run.parent / "data"
    result = sweep(None, "temperature", [0.7], n=4, base=base, data_dir=data, config=SamplingConfig(max_new_tokens=6))
    assert list(result.curves) == ["base"] and result.curves["base"][0].figures.file is None
    compared = compare_samples(None, n=4, base=base, tuned=base, data_dir=data, config=SamplingConfig(max_new_tokens=6))
    assert compared.sides["base"].diversity == compared.sides["tuned"].diversity  # same model, same seeds
    with pytest.raises(ConfigError, match="give a run directory or a data directory"):
        sweep(None, "temperature", [0.7], n=2, base=base)


def test_terminal_plots_do_not_leak_between_calls():
    from tweetsmith.engine.plots import terminal_sweep_plot

    one = _sweep("temperature", [0.5, 1.0], 5, {"base": [_point(0.5, 0.3), _point(1.0, 0.5)]})
    two = _sweep(
        "top_k", [5, 0], 4, {"base": [_point(5, 0.9), _point(0, 1.0)], "tuned": [_point(5, 0.8), _point(0, 1.0)]}
    )
    terminal_sweep_plot(one)
    text = terminal_sweep_plot(two, color=False)  # used to raise IndexError in plotext's legend
    assert "\x1b[" not in text and "dist-1 vs top_k" in text and "off" in text and "tuned" in text


def _point(value, dist_1, **figures):
    """A sweep point with made-up figures (no model needed to plot them)."""
    from tweetsmith.engine.diversity import DiversityResult
    from tweetsmith.engine.results import SampleFigures, SweepPoint

    values = dict(
        samples=5,
        dist_1=dist_1,
        dist_2=0.5,
        dist_3=0.6,
        self_bleu=0.0,
        self_bleu_n=4,
        overlap=None,
        overlap_types=None,
        overlap_bigrams=None,
        mean_words=8.0,
    )
    values.update(figures)
    return SweepPoint(value, SampleFigures(DiversityResult(**values)))


def _sweep(param, values, n, curves):
    return SweepResult(
        run=None,
        param=param,
        values=tuple(values),
        n=n,
        config=SamplingConfig(),
        reference="test.txt",
        human=None,
        curves={side: tuple(points) for side, points in curves.items()},
    )


def test_cached_results_written_before_self_bleu_had_one_name_still_load(tmp_path):
    """compare.json from before: self-BLEU as ``self_bleu_4`` in the figures, the intervals and the band."""
    side = {
        "samples": 3,
        "dist_1": 0.5,
        "dist_2": 0.6,
        "dist_3": 0.7,
        "self_bleu_4": 0.25,
        "self_bleu_n": 4,
        "mean_words": 5.0,
        "ci": {"self_bleu_4": [0.1, 0.3]},
        "copied": 0.0,
        "copied_count": 0,
        "file": None,
    }
    old = {
        "run": str(tmp_path),
        "n": 3,
        "config": SamplingConfig().to_dict(),
        "reference": "test.txt",
        "human": {
            "n": 3,
            "repeats": 2,
            "seed": 0,
            "bounds": {"self_bleu_4": [0.2, 0.4]},
            "means": {"self_bleu_4": 0.3},
        },
        "sides": {"base": side},
    }
    (tmp_path / "compare.json").write_text(json.dumps(old))
    assert cached_samples(tmp_path) is None  # drawn by the first decoding loop: recomputed
    (tmp_path / "compare.json").write_text(json.dumps({**old, "decode_version": DECODE_VERSION}))
    cached = cached_samples(tmp_path)
    base = cached.sides["base"]
    assert (base.figure("self_bleu"), base.interval("self_bleu"), cached.human.bounds["self_bleu"]) == (
        0.25,
        (0.1, 0.3),
        (0.2, 0.4),
    )
    assert (
        cached.to_json()["sides"]["base"]["self_bleu"] == 0.25
        and "self_bleu_4" not in cached.to_json()["sides"]["base"]
    )
    (tmp_path / "sweep-top_p.json").write_text("{not json")
    assert cached_sweep(tmp_path, "top_p") is None and cached_sweep(tmp_path, "temperature") is None
