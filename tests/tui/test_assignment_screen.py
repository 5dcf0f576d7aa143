"""/assignment from the chat: the whole pipeline in a screen of its own, progress by stage, the report at the end."""

from __future__ import annotations

import pytest

from tweetsmith.tui import messages as msg
from tweetsmith.tui.commands import AssignmentRequest, CommandError, parse_input


def test_the_command_reads_sources_settings_and_training_flags():
    command = parse_input("/assignment tweets.js more.csv out=runs/a n=30 max_steps=20 lr=1e-4 lora=false")
    assert command.value == AssignmentRequest(
        ("tweets.js", "more.csv"), None, "runs/a", 30, (("max_steps", 20), ("lr", 1e-4), ("lora", False))
    )
    assert parse_input("/assignment sotu").value == AssignmentRequest((), "sotu")
    assert parse_input("/assignment sotu ablation=15").value == AssignmentRequest((), "sotu", ablation_steps=15)


def test_a_request_becomes_the_engines_config():
    from tweetsmith.engine.sampling import SamplingConfig
    from tweetsmith.tui.screens.assignment import assignment_config

    request = parse_input("/assignment sotu out=runs/s n=30 max_steps=20 ablation=15").value
    config = assignment_config(request, "smollm2-135m", SamplingConfig(temperature=0.7, seed=9))
    assert (config.out, config.samples, config.ablation_steps) == ("runs/s", 30, 15)
    assert config.prepare.builtin == "sotu" and config.prepare.out == "runs/s"
    assert (config.train.model, config.train.lora, config.train.max_steps, config.train.eval_every) == (
        "smollm2-135m",
        True,
        20,
        0,
    )
    assert config.sampling.temperature == 0.7 and config.sampling.seed == 0  # the chat's settings, the pipeline's seeds


@pytest.mark.parametrize(
    "line,message",
    [
        ("/assignment", "needs a source"),
        ("/assignment t.js colour=red", "unknown setting 'colour'"),
        ("/assignment t.js max_steps=ten", "max_steps: 'ten' is not a whole number"),
        ("/assignment t.js n=1", "n=2 or more"),
        ("/assignment t.js lora=maybe", "lora: 'maybe' is not true or false"),
        ("/assignment t.js lr=nan", "lr: 'nan' is not a finite number"),
        ("/assignment t.js ablation=0", "ablation= takes the steps of each short run"),
    ],
)
def test_bad_settings_are_one_line_errors(line, message):
    with pytest.raises(CommandError, match=message):
        parse_input(line)


async def test_the_pipeline_runs_from_the_chat_and_lists_its_stages(
    make_app, tmp_path, tweets_factory, settle, submit, message_log
):
    from tweetsmith.engine.assignment_stages import STAGES
    from tweetsmith.tui.screens.assignment import AssignmentScreen

    source = tmp_path / "tweets.txt"
    source.write_text("\n".join(tweets_factory(120, seed=5)) + "\n", encoding="utf-8")
    out = tmp_path / "assignment"
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        await settle(pilot)
        await submit(pilot, "/max 6")
        await submit(pilot, f"/assignment {source} out={out} n=3 max_steps=2 precision=fp32 block_size=32 batch_size=4")
        assert isinstance(app.screen, AssignmentScreen)
        finished, _ = await message_log.wait_for(
            lambda m: isinstance(m, (msg.AssignmentFinished, msg.AssignmentFailed))
        )
        assert isinstance(finished, msg.AssignmentFinished), finished.error
        await pilot.pause()
        numbers = [m.event.number for m in message_log.of(msg.AssignmentProgressed)]
        assert numbers == sorted(numbers) and numbers[-1] == len(STAGES)
        shown = str(app.screen.query_one("#assignment-stages").content)
        assert all(stage in shown for stage in STAGES)
        assert str(app.screen.query_one("#assignment-status").content) == f"done: {out / 'report.md'}"
        await pilot.press("escape")
        assert app.screen is app.main
    report = (out / "report.md").read_text()
    assert "## 8. How long each stage took" in report and "lora" in report
    assert '"max_new_tokens": 6' in (out / "run" / "compare.json").read_text()  # the chat's sampling settings
