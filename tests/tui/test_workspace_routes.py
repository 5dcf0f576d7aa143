"""Routes of the published workspace (``tui.workspace``): a model the perplexity panel loaded reaches ``/ab``,
and ``/run OTHER`` moves everything the chat shows to the other run, the old run's tuned model dropped.

Each test waits on what the app says happened (its messages) and reads the App's current workspace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tweetsmith.tui import messages as msg
from tweetsmith.tui.widgets.perplexity_panel import PerplexityPanel
from tweetsmith.tui.widgets.prompt_input import AuthorAutoComplete

QUICK_RECORDS = 8


def _first_arguments(monkeypatch, module, name: str) -> list:
    """The first argument of every call of ``module.name`` from now on, in order (the call goes through)."""
    seen: list = []
    real = getattr(module, name)

    def spy(first, *args, **kwargs):
        seen.append(first)
        return real(first, *args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


def _models_used(monkeypatch) -> list:
    """The model every sample of the chat is generated with (the engine's ``stream_sample``)."""
    from tweetsmith.engine import generate

    return _first_arguments(monkeypatch, generate, "stream_sample")


def _app_loads(monkeypatch) -> list:
    """The sides the App's loading workers load (``start_plan.load_side_model``, as ``tui.loading`` calls it)."""
    from tweetsmith.tui import loading

    return _first_arguments(monkeypatch, loading, "load_side_model")


def _ended(message) -> bool:
    return isinstance(message, msg.GenerationEnded)


def _lora_run(root: Path, base_dir: Path, data: Path, seed: int, write_run_record) -> Path:
    """A run as a LoRA training leaves it (config.json + final/ adapter), its adapter random but not zero."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    run = root / "run"
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    torch.manual_seed(seed)  # before peft draws lora_A: the same adapter whatever ran earlier in the session
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn_like(p))
    peft_model.save_pretrained(run / "final")
    write_run_record(run, model=str(base_dir), data=str(data), method="lora")
    return run


async def test_ab_uses_the_tuned_model_the_perplexity_panel_loaded(
    make_app, tiny_loaded, tiny_run, settle, submit, message_log, monkeypatch
):
    loads = _app_loads(monkeypatch)
    used = _models_used(monkeypatch)
    app = make_app(run_dir=tiny_run)  # the tiny model given as the run's base; its tuned model not loaded
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        await settle(pilot)
        assert set(app.workspace.models) == {"base"} and app.workspace.run_dir == tiny_run
        app.main.post_message(msg.PerplexityRequested(QUICK_RECORDS))  # as after a training
        computed, _ = await message_log.wait_for(lambda m: isinstance(m, msg.PerplexityComputed))
        await settle(pilot)
        assert computed.tuned is not None and app.workspace.models["tuned"] is computed.tuned
        assert app.workspace.side == "base"  # kept for ctrl+b and /ab, not switched to

        await submit(pilot, "/ab paulg: Hello")
        await message_log.wait_for(_ended)
        await settle(pilot)
        assert loads == []  # nothing loaded again
        assert [m.side for m in message_log.of(msg.SampleFinished)] == ["base", "tuned"]
        assert len(used) == 2 and used[0] is tiny_loaded and used[1] is computed.tuned


@pytest.fixture()
def two_runs(tmp_path, tiny_llama_dir, small_splits, startup_tweets, run_record_writer) -> tuple[Path, Path, Path]:
    """Run A on the small splits; run B, another LoRA adapter, on other data (B's) with two other authors."""
    data_b = startup_tweets(tmp_path / "data-b", {"train": 60, "valid": 20, "test": 20}, ("alice", "bob"))
    run_a = _lora_run(tmp_path / "a", tiny_llama_dir, small_splits, 1, run_record_writer)
    return run_a, _lora_run(tmp_path / "b", tiny_llama_dir, data_b, 2, run_record_writer), data_b


async def test_run_other_moves_models_header_data_and_panels_to_it(
    make_app, two_runs, small_splits, settle, submit, message_log, monkeypatch
):
    from tweetsmith.engine.paths import short_path
    from tweetsmith.engine.runs import RunPaths

    run_a, run_b, data_b = two_runs
    used = _models_used(monkeypatch)
    app = make_app(loaded=None, run_dir=run_a, data_dir=None, session_path=None)
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        await settle(pilot)
        ws = app.workspace
        assert (ws.run_dir, ws.side, ws.data_dir) == (run_a, "tuned", small_splits)
        tuned_a = ws.models["tuned"]
        await submit(pilot, "/ab paulg: Hello")  # loads run A's base as well
        await message_log.wait_for(_ended)
        await pilot.press("ctrl+e")  # run A's figures in the perplexity panel
        await message_log.wait_for(lambda m: isinstance(m, msg.PerplexityComputed))
        await settle(pilot)
        panel = app.main.query_one(PerplexityPanel)
        assert set(app.workspace.models) == {"base", "tuned"} and panel.table is not None

        await submit(pilot, f"/run {run_b}")
        await message_log.wait_for(lambda m: isinstance(m, msg.DataReady) and m.data_dir == data_b)
        await settle(pilot)
        ws = app.workspace
        assert (ws.run_dir, ws.model_spec, ws.side, ws.data_dir) == (run_b, None, "tuned", data_b)
        assert set(ws.models) == {"tuned"} and ws.models["tuned"] is not tuned_a
        assert Path(ws.models["tuned"].info.adapter) == RunPaths(run_b).final
        assert set(ws.authors) == {"alice", "bob"}
        header = app.main.header
        assert header.side == "tuned" and f"LoRA ({short_path(run_b)})" in header.title_text
        assert app.main.query_one(AuthorAutoComplete).authors == list(ws.authors)
        assert app.main.prompt.placeholder.startswith(f"{ws.authors[0]}: ")
        assert panel.table is None and not panel.busy  # run A's figures are gone: run B has none yet
        assert app.main.chat.session.path == RunPaths(run_b).samples / "chat.jsonl"

        # Run A's tuned model arriving late (a load or a quick estimate begun before /run) is not run B's.
        app.post_message(msg.ModelLoaded(tuned_a, "tuned", 0.0, True, run_a))
        panel.post_message(msg.PerplexityComputed(panel.table or _any_table(), run_a, tuned_a))
        ended = len(message_log.of(msg.GenerationEnded))
        await submit(pilot, "/ab alice: Hello")  # loads run B's base; its tuned model is the one in use
        await message_log.wait_for(lambda m: len(message_log.of(msg.GenerationEnded)) > ended)
        await settle(pilot)
        ws = app.workspace
        assert ws.models["tuned"] is not tuned_a and panel.table is None
        base, tuned = used[-2:]
        assert base is ws.models["base"] and tuned is ws.models["tuned"] and tuned_a is not base
        assert Path(tuned.info.adapter) == RunPaths(run_b).final


def _any_table():
    from tweetsmith.engine.perplexity_table import PerplexityTable

    return PerplexityTable({("base", "valid"): 1.0})
