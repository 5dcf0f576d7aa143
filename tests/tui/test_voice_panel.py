"""The voice panel: the session's samples measured by a worker, its figures equal to the engine's."""

from __future__ import annotations

from tweetsmith.engine.voice import voice_judge
from tweetsmith.tui import messages as msg
from tweetsmith.tui.widgets.voice_panel import VOICE_SEED, VoicePanel


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(name))


async def test_panel_figures_equal_the_engine(make_app, settle, submit, small_splits, message_log):
    app = make_app()
    async with app.run_test(size=(120, 50), message_hook=message_log) as pilot:
        await settle(pilot)
        await submit(pilot, "/n 6", "sama")
        await message_log.wait_for(lambda m: isinstance(m, msg.VoiceComputed) and m.figures.samples == 6)
        await settle(pilot)
        panel = app.screen.query_one(VoicePanel)
        entries = [e for e in app.main.chat.session.entries if e.text.strip()]
        assert len(entries) == 6 and {e.author for e in entries} == {"sama"}
        judge = voice_judge(small_splits)
        expected = judge.measure(
            [e.author for e in entries], [e.text for e in entries], seed=VOICE_SEED, per_author_test={"sama"}
        )
        assert panel.result.figures == expected and panel.result.fit == judge.classifier.fit
        assert expected.per_author["sama"].authenticity is not None  # six samples, enough test tweets: measured
        text = panel.query_one("#voice-values").content.plain
        mine = expected.per_author["sama"]
        assert _row(text, "voice").split() == [
            "voice",
            f"{expected.attribution.value:.2f}",
            f"{mine.attribution.value:.2f}",
        ]
        fit = judge.classifier.fit
        assert _row(text, "real").split() == [
            "real",
            f"{fit.test_accuracy.value:.2f}",
            f"{fit.test_recall['sama']:.2f}",
        ]
        assert _row(text, "tell-apart").split() == [
            "tell-apart",
            f"{expected.authenticity.value:.2f}",
            f"{mine.authenticity.value:.2f}",
        ]
        assert f"chance {fit.chance:.2f}" in text


async def test_one_author_panel_says_why_there_is_no_attribution(
    make_app, settle, submit, tmp_path, tweets_factory, message_log
):
    lines = [f"\\solo- {line.split('- ', 1)[1]}" for line in tweets_factory(120, seed=8)]
    data = tmp_path / "solo"
    data.mkdir()
    for split, part in (("train", lines[:80]), ("valid", lines[80:100]), ("test", lines[100:])):
        (data / f"{split}.txt").write_text("\n".join(part) + "\n", encoding="utf-8")
    app = make_app(data_dir=data)
    async with app.run_test(size=(120, 50), message_hook=message_log) as pilot:
        await settle(pilot)
        await submit(pilot, "/n 5", "solo")
        message, _ = await message_log.wait_for(lambda m: isinstance(m, msg.VoiceComputed) and m.figures.samples == 5)
        await settle(pilot)
        assert message.fit is None and "attribution needs two or more authors" in message.note
        text = app.screen.query_one(VoicePanel).query_one("#voice-values").content.plain
        assert "one author: no attribution" in text and "voice" not in text.split()
        assert _row(text, "tell-apart").split()[1] == f"{message.figures.authenticity.value:.2f}"
