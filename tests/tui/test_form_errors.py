"""The training form and ``/assignment key=value`` read strings through the same engine reader
(``engine.config.config_from_strings``): the same bad value gets the same one-line error in both."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tweetsmith.engine.errors import ConfigError
from tweetsmith.tui.commands import CommandError, parse_input

BAD = [
    ("max_steps", "nine", "max_steps: 'nine' is not a whole number"),
    ("lr", "nan", "lr: 'nan' is not a finite number"),
    ("epochs", "lots", "epochs: 'lots' is not a number"),
    ("lr", "-1", "--lr must be positive, got -1.0"),
    ("batch_size", "0", "--batch-size must be at least 1, got 0"),
    ("lora_r", "0", "--lora-r must be a positive rank, got 0"),
    ("report_to", "wandb", "report_to: 'wandb' is not one of none, tensorboard"),
]


@pytest.mark.parametrize("field,value,message", BAD)
def test_the_slash_command_says_it(field, value, message):
    with pytest.raises(CommandError) as raised:
        parse_input(f"/assignment tweets.js {field}={value}")
    assert str(raised.value) == message


async def test_the_form_says_the_same(make_app, small_splits, settle):
    from tweetsmith.tui.screens.training import TrainingScreen

    app = make_app(data_dir=small_splits)
    async with app.run_test(size=(130, 48)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+t")
        screen = app.screen
        assert isinstance(screen, TrainingScreen)
        for field, value, message in BAD:
            box = screen.query_one(f"#f-{field}", Input)
            good = box.value
            box.value = value
            with pytest.raises(ConfigError) as raised:
                screen.read_form()
            with pytest.raises(CommandError) as said:
                parse_input(f"/assignment tweets.js {field}={value}")
            assert str(raised.value) == str(said.value) == message, field
            box.value = good
        screen.query_one("#f-max_steps", Input).value = "nine"
        screen.action_start()  # the start action shows the error under the form, and starts nothing
        await settle(pilot)
        assert str(screen.query_one("#form-error").content) == "max_steps: 'nine' is not a whole number"
        assert not app.workspace.training_running
