"""After Stop (or the end) of a training the app starts no minutes-long evaluation by itself: the panel shows
base vs tuned perplexity on the first N valid records, says so, and ctrl+e gives the full splits."""

from __future__ import annotations

import asyncio

import pytest

from tweetsmith.tui import messages as msg
from tweetsmith.tui.widgets.perplexity_panel import PerplexityPanel, format_perplexity

QUICK_RECORDS = 8


async def test_stop_then_a_labelled_estimate_on_the_first_valid_records(
    make_app, tiny_llama_dir, splits_factory, tmp_path, settle
):
    from tweetsmith.data.records import read_split_lines
    from tweetsmith.engine.models import load_model, load_run_model
    from tweetsmith.engine.perplexity import perplexity_of_lines
    from tweetsmith.engine.train import TrainConfig

    splits = splits_factory(tmp_path / "splits", (120, 30, 30))
    stepped, computed = asyncio.Event(), asyncio.Event()

    def hook(message) -> None:
        seen.append(message)
        if isinstance(message, msg.TrainingEventArrived) and type(message.event).__name__ == "StepLogged":
            stepped.set()
        if isinstance(message, (msg.PerplexityComputed, msg.PerplexityFailed)):
            computed.set()

    seen: list = []
    app = make_app(data_dir=splits)
    app.quick_eval_records = QUICK_RECORDS
    out = tmp_path / "runs" / "stopped"
    async with app.run_test(size=(130, 48), message_hook=hook) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        app.screen.start(
            TrainConfig(
                data=str(splits),
                model=str(tiny_llama_dir),
                out=str(out),
                lora=True,
                max_steps=5000,
                batch_size=2,
                block_size=32,
                eval_every=0,
                logging_steps=1,
            )
        )
        await asyncio.wait_for(stepped.wait(), 300)
        await pilot.click("#stop")
        await asyncio.wait_for(computed.wait(), 300)  # the training ended, then the quick estimate came
        await settle(pilot)
        assert not [m for m in seen if isinstance(m, msg.PerplexityFailed)]
        ended = [m.finished for m in seen if isinstance(m, msg.TrainingEnded)]
        assert ended and ended[0].outcome == "stopped"
        panel = app.main.query_one(PerplexityPanel)
        table = panel.table
        assert not panel.busy and table.splits == ("valid",)
        note = str(panel.query_one("#ppl-note").content)
        assert f"first {QUICK_RECORDS} of 30 records" in note and "ctrl+e" in note
        assert "tuned" in app.workspace.models  # the tuned model it loaded is kept for ctrl+b
        assert not (out / "eval.json").exists()  # no full evaluation ran

        head = read_split_lines(splits / "valid.txt")[:QUICK_RECORDS]
        for side, loaded in (("base", load_model(str(tiny_llama_dir))), ("tuned", load_run_model(out, tuned=True))):
            expected = perplexity_of_lines(
                loaded.model, loaded.tokenizer, head, eot_id=loaded.eot_id, pad_id=loaded.pad_id
            )
            assert table.get(side, "valid") == pytest.approx(expected.perplexity, rel=1e-6), side
            assert table.get(side, "test") is None
        shown = str(panel.query_one("#ppl-table").content)
        assert format_perplexity(table.get("tuned", "valid")) in shown and "test" not in shown

        # ctrl+e: the full splits, cached in the run
        computed.clear()
        await pilot.press("escape")
        await pilot.press("ctrl+e")
        await asyncio.wait_for(computed.wait(), 300)
        await settle(pilot)
        full = panel.table
        assert full.splits == ("valid", "test") and full.get("tuned", "test") is not None
        assert (out / "eval.json").is_file() and "first" not in str(panel.query_one("#ppl-note").content)
