"""compare and sweep gain intervals, the human band and the copied share; a model that memorised its
training tweets copies less as the temperature rises."""

from __future__ import annotations

import pytest

from tweetsmith.data.records import parse_line, read_split_lines
from tweetsmith.engine.bootstrap import human_band_for_split, intervals
from tweetsmith.engine.diversity import reference_from_file, tokenize, words_of
from tweetsmith.engine.experiments import compare_samples, sweep
from tweetsmith.engine.samples_io import load_samples
from tweetsmith.engine.sampling import SamplingConfig
from tweetsmith.engine.voice import voice_judge

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def copied_share(texts: list[str], train_path, brute_longest) -> float:
    """Brute force: a sample is copied when it shares 8+ consecutive words (or all of a shorter one) with a record."""
    records = [words_of(tokenize(parse_line(line).text)) for line in read_split_lines(train_path)]
    copied = 0
    for text in texts:
        words = words_of(tokenize(text))
        n = max((brute_longest(words, r) for r in records), default=0)
        copied += n >= 8 or (0 < len(words) == n)
    return copied / len(texts)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    import tweetsmith.engine.memorisation as memorisation

    monkeypatch.setattr(memorisation, "cache_root", lambda: tmp_path / "memorisation")


def test_compare_adds_intervals_band_and_copied(tiny_run, brute_longest):
    from tweetsmith.scripts.compare_cmd import side_by_side

    data = tiny_run.parent / "splits"
    result = compare_samples(tiny_run, n=8, config=SamplingConfig(max_new_tokens=10, seed=2), batch_size=4)
    reference = reference_from_file(data / "test.txt")
    assert result.human == human_band_for_split(data / "test.txt", 8, seed=2)
    judge = voice_judge(data)
    for side in ("base", "tuned"):
        samples = load_samples(result.sides[side].file)
        texts = [s.text for s in samples]
        voice = judge.measure([s.author for s in samples], texts, seed=2)  # the voice column: engine.voice's figures
        expected = {**intervals(texts, reference=reference, seed=2).bounds, **voice.bounds()}
        assert result.sides[side].ci == expected  # the same seeded draws: the same bounds
        assert (result.sides[side].attribution, result.sides[side].authenticity) == (
            voice.figure("attribution"),
            voice.figure("authenticity"),
        )
        assert result.sides[side].copied == pytest.approx(copied_share(texts, data / "train.txt", brute_longest))
    table = side_by_side(result)
    assert "human band" in table and "copied from train" in table and "tuned vs human: overlap " in table


@pytest.fixture()
def memorised_run(tmp_path, tiny_llama_dir, splits_factory, tuned_run_factory):
    """A run whose final/ model learned four training tweets by heart (a few hundred Adam steps)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tweetsmith.engine.tokens import configure_tokenizer

    data = splits_factory(tmp_path / "data", (4, 10, 30))
    run = tuned_run_factory(tmp_path, tiny_llama_dir, data)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    eot = configure_tokenizer(tokenizer).eot_id
    lines = read_split_lines(data / "train.txt")
    rows = [[eot] + tokenizer(line, add_special_tokens=False)["input_ids"] + [eot] for line in lines]
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [eot] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.02:
            break
    model.save_pretrained(run / "final")
    return run, data


def test_a_memorising_model_copies_less_when_hotter(memorised_run, tmp_path, brute_longest):
    from tweetsmith.engine.plots import plot_sweep, terminal_sweep_plot
    from tweetsmith.scripts.sweep_cmd import sweep_table

    run, data = memorised_run
    result = sweep(
        run, "temperature", [0.3, 3.0], n=12, config=SamplingConfig(max_new_tokens=40, top_k=0), batch_size=6
    )
    tuned = [point.figures for point in result.curves["tuned"]]
    for side, points in result.curves.items():
        for point in points:
            texts = [s.text for s in load_samples(point.figures.file)]
            assert point.figures.copied == pytest.approx(copied_share(texts, data / "train.txt", brute_longest)), (
                side,
                point.value,
            )
            assert set(point.figures.ci) >= {"dist_1", "self_bleu", "overlap"}
    assert tuned[0].copied >= 0.5 and tuned[0].copied > tuned[1].copied
    png = plot_sweep(result, tmp_path / "sweep.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "copied from train vs temperature" in terminal_sweep_plot(result, metrics=("dist_1", "copied"), color=False)
    table = sweep_table(result)
    assert table.splitlines()[-2].startswith("(human band: 20 random sets of 12 test tweets")
    assert table.splitlines()[3].split()[:2] == ["0.3", "tuned"]
    assert table.splitlines()[3].endswith(f"{100 * tuned[0].copied:.0f}%")
