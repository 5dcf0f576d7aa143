"""Errors in the app: the project's own errors show their message; anything else is a bug, whose traceback
goes to the log file in the user's state directory (here the test's, through ``TWEETSMITH_STATE``, set by
the ``tui_home`` fixture) and whose notification names that file."""

from __future__ import annotations

from tweetsmith.tui import messages as msg


async def test_a_bug_in_a_worker_leaves_its_traceback_in_the_log(
    make_app, settle, submit, monkeypatch, tmp_path, message_log
):
    from tweetsmith.engine import generate

    def broken_stream(*args, **kwargs):
        raise RuntimeError("boom: an index off by one")

    monkeypatch.setattr(generate, "stream_sample", broken_stream)
    log = tmp_path / "state" / "log" / "tweetsmith.log"
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=message_log) as pilot:
        await settle(pilot)
        assert not log.exists()
        await submit(pilot, "sama")
        failed, _ = await message_log.wait_for(lambda m: isinstance(m, msg.SampleFailed))
        await settle(pilot)
        toasts = [n.message for n in app._notifications]
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom: an index off by one" in text
    assert "in broken_stream" in text and "in stream_jobs" in text  # the frames: where it broke, which work
    assert failed.error.startswith("RuntimeError: boom: an index off by one") and str(log) in failed.error
    assert any(str(log) in toast for toast in toasts), toasts


def test_project_errors_show_their_message_and_log_nothing(tmp_path, monkeypatch):
    from tweetsmith.data.errors import DataError
    from tweetsmith.engine.errors import ModelError
    from tweetsmith.tui.errors import error_text, log_path

    monkeypatch.setenv("TWEETSMITH_STATE", str(tmp_path / "state"))
    for err in (ModelError("no such model: tiny; give a hub id or a directory"), DataError("empty.txt has no tweets")):
        assert error_text(err) == str(err)
    assert not log_path().exists()

    try:
        {}["missing"]
    except KeyError as err:
        line = error_text(err)
    assert line.startswith("KeyError: 'missing'") and str(log_path()) in line
    assert "Traceback" in log_path().read_text(encoding="utf-8")
