"""`--pack isolated`: a packed block whose records each attend only to themselves gives the logits of
separate forward passes (Llama and GPT-2), its loss is the records' per-record NLL, and a run trains."""

from __future__ import annotations

import math

import pytest

from tweetsmith.engine.models import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _block(loaded, lines: list[str], length: int) -> list[int]:
    """``length`` tokens of the stream ``<eot> r1 <eot> r2 <eot> ...`` (a record's segment starts at the
    end-of-text before it, as the chat's context does)."""
    ids = [loaded.eot_id]
    for line in lines:
        ids += loaded.tokenizer(line, add_special_tokens=False)["input_ids"] + [loaded.eot_id]
    assert len(ids) >= length
    return ids[:length]


def _segments(ids: list[int], eot: int) -> list[tuple[int, int]]:
    """(start, end) of each segment: from an end-of-text up to the next one (exclusive)."""
    starts = [i for i, t in enumerate(ids) if t == eot]
    return [(s, e) for s, e in zip(starts, starts[1:] + [len(ids)])]


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_an_isolated_block_gives_the_logits_of_separate_passes(kind, tiny_llama_dir, tiny_gpt2_dir, tweets_factory):
    import torch

    from tweetsmith.engine.train_data import IsolatingCollator

    loaded = load_model(str(tiny_llama_dir if kind == "llama" else tiny_gpt2_dir))
    lines = tweets_factory(12, seed=11)
    rows = [_block(loaded, lines[:6], 120), _block(loaded, lines[6:], 120)]
    batch = IsolatingCollator(loaded.eot_id)([{"input_ids": torch.tensor(r)} for r in rows])
    assert batch["attention_mask"].shape == (2, 1, 120, 120) and batch["attention_mask"].dtype == torch.bool
    with torch.no_grad():
        packed = loaded.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]
        ).logits
        plain = loaded.model(input_ids=batch["input_ids"]).logits  # concat: records see the ones before them
    checked = 0
    for row, ids in enumerate(rows):
        segments = _segments(ids, loaded.eot_id)
        assert len(segments) >= 4
        for start, end in segments:
            with torch.no_grad():
                alone = loaded.model(input_ids=torch.tensor([ids[start:end]])).logits[0]
            assert batch["position_ids"][row, start:end].tolist() == list(range(end - start))
            torch.testing.assert_close(packed[row, start:end], alone, atol=5e-5, rtol=1e-4)
            checked += 1
    assert checked >= 8
    assert (packed - plain).abs().max() > 1e-2  # without isolation the later records' logits differ


def test_the_isolated_loss_is_the_records_per_record_nll(tiny_llama_dir, tweets_factory):
    """Every record whole in the block: the block's mean loss is the per-record ("cold") NLL of its records."""
    import torch

    from tweetsmith.engine.perplexity import record_nll
    from tweetsmith.engine.train_data import IsolatingCollator

    loaded = load_model(str(tiny_llama_dir))
    lines = tweets_factory(5, seed=12)
    encoded = [loaded.tokenizer(x, add_special_tokens=False)["input_ids"] + [loaded.eot_id] for x in lines]
    ids = [loaded.eot_id] + [t for e in encoded for t in e]
    batch = IsolatingCollator(loaded.eot_id)([{"input_ids": torch.tensor(ids)}])
    with torch.no_grad():
        loss = loaded.model(**batch).loss
    nll, count = record_nll(loaded.model, encoded, eot_id=loaded.eot_id, pad_id=loaded.pad_id)
    assert count == len(ids) - 1  # every token after the first is a target, none masked
    assert float(loss) == pytest.approx(nll / count, rel=1e-4)


def test_a_run_trains_with_isolated_packing(tiny_llama_dir, small_splits, tmp_path):
    from tweetsmith.engine.run_record import RunRecord
    from tweetsmith.engine.runs import read_metrics
    from tweetsmith.engine.train import TrainConfig, train

    out = tmp_path / "iso"
    finished = train(
        TrainConfig(
            data=str(small_splits),
            model=str(tiny_llama_dir),
            out=str(out),
            lora=True,
            lora_r=4,
            pack="isolated",
            max_steps=3,
            batch_size=2,
            block_size=64,
            eval_every=0,
            save_every=0,
            logging_steps=1,
            precision="fp32",
            lr=1e-2,
        )
    )
    assert finished.outcome == "completed" and RunRecord.read(out).pack == "isolated"
    metrics = read_metrics(out)
    assert [m["step"] for m in metrics] == [1, 2, 3] and all(math.isfinite(m["loss"]) for m in metrics)
    # every token of a packed block is useful: tokens/s counts 2 x 64 a step, not the 4-D mask's entries
    assert all(m["tokens_per_s"] > 0 for m in metrics)
