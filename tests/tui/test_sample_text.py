"""Control characters never reach the chat: not the card, not the markdown export, not chat.jsonl.

The tiny model is forced, by a hook on its output layer, to produce chosen text holding ``\\r``, an
escape sequence, U+2028, NEL or NUL; the app runs it through its real stream. The expected texts are
written out by hand; the files are checked byte by byte.
"""

from __future__ import annotations

import json

import pytest

from tweetsmith.tui import messages as msg
from tweetsmith.tui.session import ChatEntry, Session
from tweetsmith.tui.widgets.message_card import MessageCard


@pytest.fixture()
def forced(forced_model):
    return forced_model()  # tests/conftest.py: Forced


# (typed line, pieces the model produces, the card's typed text, the card's generated text)
REQUESTS = [
    ("paulg", (" Hello", "\r", "world"), "", "Hello"),
    ("paulg", (" Hello", "\r\n", "world"), "", "Hello"),
    ("sama", (" red", " \x1b[31mhot\x1b[0m", "\u2028", "gone"), "", "red [31mhot[0m"),
    ("sama", (" nul", "\x00", "byte", "\x85", "gone"), "", "nulbyte"),
    ("paulg: Hi\x1b[1m there\x00", (" x", "\u2029", "gone"), "Hi[1m there", " x"),
]
CONTROL = {chr(c) for c in [*range(0x00, 0x0A), *range(0x0B, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]}


def _finished(seen):
    return list({id(m): m.sample for m in seen if isinstance(m, msg.SampleFinished)}.values())


async def test_control_characters_never_reach_card_export_or_session(make_app, forced, settle, submit, tmp_path):
    seen: list = []
    app = make_app(loaded=forced.loaded)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot)
        for line, pieces, _, _ in REQUESTS:
            forced.text(*pieces)
            await submit(pilot, line)
            await settle(pilot)
        samples = _finished(seen)
        cards = list(app.screen.query(MessageCard))
        assert len(samples) == len(cards) == len(REQUESTS)
        for card, sample, (_, _, typed, text) in zip(cards, samples, REQUESTS):
            assert sample.text == text, repr(sample.text)
            assert (card.prompt_text, card.text, card.streamed) == (typed, text, text)
            assert (card.entry.prompt_text, card.entry.text) == (typed, text)
        out = tmp_path / "chat.md"
        await submit(pilot, f"/save {out}")
    markdown = out.read_bytes()
    assert all(byte >= 0x20 or byte == 0x0A for byte in markdown), "a control byte in the export"
    assert not CONTROL & set(markdown.decode("utf-8"))
    quoted = [line.decode() for line in markdown.split(b"\n") if line.startswith(b"> ")]
    assert quoted == [f"> {typed + text}" for _, _, typed, text in REQUESTS]
    raw = (tmp_path / "session" / "chat.jsonl").read_bytes().decode("utf-8")
    lines = raw.split("\n")
    assert lines[-1] == "" and raw.splitlines() == lines[:-1], "only the newline ends a line of the session"
    saved = [json.loads(line) for line in lines[:-1]]
    assert [(e["prompt_text"], e["text"]) for e in saved] == [(typed, text) for _, _, typed, text in REQUESTS]
    assert not CONTROL & set(raw.replace("\n", ""))


def test_a_session_saved_with_raw_control_characters_loads_and_exports_clean(tmp_path):
    """chat.jsonl written before samples were cleaned: U+2028 and NEL (which json.dumps leaves raw) do not
    split its lines, and the card and the export get the clean text."""
    path = tmp_path / "chat.jsonl"
    old = [
        ChatEntry(author="paulg", prompt_text="a\rb", text=" c\x1b[2Jd\u2028e\x85f\x00"),
        ChatEntry(author="sama", prompt_text="", text=" plain"),
    ]
    path.write_text("".join(json.dumps(e.__dict__, ensure_ascii=False) + "\n" for e in old), encoding="utf-8")
    assert len(path.read_text(encoding="utf-8").splitlines()) > len(old)  # what used to break the load
    session = Session(path)
    entries = session.load()
    assert [(e.author, e.prompt_text, e.text) for e in entries] == [("paulg", "ab", " c[2Jdef"), ("sama", "", " plain")]
    exported = session.to_markdown()
    assert [line for line in exported.split("\n") if line.startswith("> ")] == ["> ab c[2Jdef", ">  plain"]
    assert not CONTROL & set(exported.replace("\n", ""))
