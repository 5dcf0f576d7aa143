"""What a sample may hold: every line break ends it, control characters never reach its text.

The tiny model is forced, by a hook on its output layer, to produce a chosen token sequence (the pieces
of a text, each encoded alone, then end-of-text), so the real decoding loop, streamer and batch path run
on text holding ``\\r``, escape sequences, U+2028 or NUL. Expected texts and token counts are written
out by hand or counted from the pieces' own tokens, not taken from the engine.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tweetsmith.engine.decode_loop import clean_sample_text
from tweetsmith.engine.generate import cut_at_stop, generate_samples, stream_sample
from tweetsmith.engine.sampling import SamplingConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def forced(forced_model):
    return forced_model()  # tests/conftest.py: Forced


SAMPLED = SamplingConfig(temperature=0.9, top_k=50, max_new_tokens=40, seed=3)

# (pieces the model produces, the sample's text, how many pieces it took to end it: their tokens are its
# new_tokens; None: no line break, the end-of-text token after the pieces ends it)
CASES = [
    ((" Hello", "\r", "world"), "Hello", 2),
    ((" Hello", "\r\n", "world"), "Hello", 2),
    ((" one", "\x0b", "two"), "one", 2),
    ((" one", "\x0c", "two"), "one", 2),
    ((" para", "\u2028", "graph"), "para", 2),  # U+2028 is two tokens, neither a line break alone
    ((" para", "\u2029", "graph"), "para", 2),
    ((" next", "\x85", "line"), "next", 2),  # NEL: two tokens too
    ((" a", "\x00", "\r", "b"), "a", 3),
    ((" red", " \x1b[31mhot\x1b[0m", " day"), "red [31mhot[0m day", None),  # ESC removed, its "[31m" stays
    ((" nul", "\x00", "byte", "\x7f", "\x9b", "s"), "nulbytes", None),  # NUL, DEL and a C1 control removed
    ((" tab", "\t", "bed", "\x1f", "\x1c"), "tab bed", None),  # a tab parts words; unit/file separators go
]


@pytest.mark.parametrize("pieces,text,ending", CASES, ids=[ascii("".join(c[0])) for c in CASES])
def test_line_breaks_end_a_sample_and_control_characters_are_removed(forced, pieces, text, ending):
    counts = forced.text(*pieces)
    new_tokens = sum(counts[:ending]) if ending is not None else sum(counts) + 1
    stream = stream_sample(forced.loaded, "paulg", "", SAMPLED)
    streamed = list(stream)
    sample = stream.sample
    batched = generate_samples(forced.loaded, ["paulg", "sama"], SAMPLED.with_changes(temperature=0))
    assert len(batched) == 2
    for got in (sample, *batched):
        assert got.text == text, repr(got.text)
        assert got.new_tokens == new_tokens
    assert "".join(streamed) == text  # the stream never showed text past the break, nor a control character


def test_cases_cover_every_line_break_and_the_split_ones_are_split(forced):
    """The table above has every break that ends a tweet, and the multi-byte ones really are split across
    tokens that show no break alone (the case the decoding loop must decode to see)."""
    breaks = {p for pieces, _, _ in CASES for p in pieces if p and p[0] in "\r\x0b\x0c\x85\u2028\u2029"}
    assert breaks == {"\r", "\r\n", "\x0b", "\x0c", "\u2028", "\u2029", "\x85"}
    tokenizer = forced.loaded.tokenizer
    for char in ("\u2028", "\u2029", "\x85"):
        ids = tokenizer(char, add_special_tokens=False)["input_ids"]
        assert len(ids) == 2 and all("\ufffd" in tokenizer.decode([i]) for i in ids), char


def test_a_sample_of_only_control_characters_does_not_end_before_it_has_text(forced):
    """The no-empty-sample rule counts what the sample will show: NUL is no text, so a line break right
    after it may not end the sample (it would be empty); the model's next choice takes its place."""
    counts = forced.text(" ", "\x00", "\r", " word")
    assert counts == [1, 1, 1, 1]
    for sample in (
        stream_sample(forced.loaded, "paulg", "", SAMPLED).sample,
        generate_samples(forced.loaded, ["paulg"], SAMPLED)[0],
    ):
        assert sample.text.endswith(" word") and sample.new_tokens == 5, repr(sample.text)
        assert clean_sample_text(sample.text) == sample.text and cut_at_stop(sample.text) == sample.text
    typed = generate_samples(forced.loaded, ["paulg"], SAMPLED, text="Hi")[0]  # typed text: ending at once is fine
    assert typed.text == " " and typed.new_tokens == 3


def _expected_clean(char: str) -> str:
    """Independent of the engine: Unicode's own categories (Cc: control; Zl, Zp: line/paragraph separator)."""
    if char == "\n":
        return char
    if char == "\t":
        return " "
    return "" if unicodedata.category(char) in ("Cc", "Zl", "Zp") else char


def test_clean_text_removes_exactly_the_control_characters():
    for code in range(0x3000):
        char = chr(code)
        assert clean_sample_text(char) == _expected_clean(char), hex(code)


@given(st.text(), st.text())
def test_clean_text_of_a_prefix_is_a_prefix(a, b):
    """So a stream that cleans its growing text shows exactly the final text."""
    assert clean_sample_text(a + b) == clean_sample_text(a) + clean_sample_text(b)
    assert clean_sample_text(a + b) == "".join(_expected_clean(c) for c in a + b)


@pytest.mark.parametrize(
    "pieces,text,ending",
    [
        ((" founders ship", " \\sama", "-", " the next"), "founders ship", 3),  # another author's tag: a new tweet
        ((" ok", " \\paulg", "-", " again"), "ok", 3),  # its own tag again ends it too
        ((" see C", ":\\dir", "-x", " now"), "see C:\\dir-x now", None),  # a backslash inside a word is text
        ((" so it goes...", "\\paulg", "-", " more"), "so it goes...", 3),  # a tag glued to a sentence's end
        ((" a \\b", " c-d"), "a \\b c-d", None),  # a backslash-word a space ends before any "-" is text
    ],
)
def test_a_sample_ends_where_a_new_record_starts(forced, pieces, text, ending):
    """The prefix stop: a generated author tag (``\\sama-``) after some text ends the sample before it, in
    the stream, the batch and the sample alike (the stream never shows the tag it held back)."""
    counts = forced.text(*pieces)
    new_tokens = sum(counts[:ending]) if ending is not None else sum(counts) + 1
    stream = stream_sample(forced.loaded, "paulg", "", SAMPLED)
    streamed = list(stream)
    batched = generate_samples(forced.loaded, ["paulg", "sama"], SAMPLED.with_changes(temperature=0))
    assert len(batched) == 2
    for got in (stream.sample, *batched):
        assert (got.text, got.new_tokens) == (text, new_tokens)
    assert "".join(streamed) == text


def _whole_words_within(typed: str, words: list[str], limit: int = 280) -> str:
    """Independent of the engine: the longest run of leading words whose tweet (typed text + the words,
    space-separated, a space before the first when text was typed) fits in ``limit`` characters."""
    best = ""
    for k in range(1, len(words) + 1):
        text = (" " if typed else "") + " ".join(words[:k])
        if len(typed) + len(text) > limit:
            break
        best = text
    return best


@pytest.mark.parametrize("typed", ["", "Hi there"])
def test_a_tweet_is_cut_at_280_characters_before_the_word_the_limit_falls_in(forced, typed):
    words = [f"tok{i}" for i in range(60)]  # 60 x 6 characters: well past 280
    counts = forced.text(*(f" {w}" for w in words))
    config = SAMPLED.with_changes(max_new_tokens=sum(counts) + 8)
    expected = _whole_words_within(typed, words)
    assert 270 < len(typed) + len(expected) <= 280
    stream = stream_sample(forced.loaded, "paulg", typed, config)
    streamed = "".join(stream)
    batched = generate_samples(forced.loaded, ["paulg"], config.with_changes(temperature=0), text=typed)
    for got in (stream.sample, batched[0]):
        assert got.text == expected and got.cut_at_limit, repr(got.text)
        assert got.to_dict()["cut_at_limit"] is True and type(got).from_dict(got.to_dict()) == got
    assert streamed.startswith(expected) and len(typed) + len(streamed) <= 280  # never showed past the limit
    forced.text(" short", " one")
    short = stream_sample(forced.loaded, "paulg", typed, config).sample
    assert short.text == (" " if typed else "") + "short one" and not short.cut_at_limit


def test_cap_tweet_cuts_a_word_only_when_no_boundary_is_left():
    from tweetsmith.engine.decode_loop import TWEET_MAX_CHARS, cap_tweet

    assert TWEET_MAX_CHARS == 280
    assert cap_tweet("x" * 280) == ("x" * 280, False)
    assert cap_tweet("x" * 300) == ("x" * 280, True)  # one word longer than a tweet: cut at the limit
    assert cap_tweet(" " + "x" * 300, 5) == (" " + "x" * 274, True)  # cutting before it would leave nothing
    assert cap_tweet("a" * 279 + " bc") == ("a" * 279, True)  # the limit falls in "bc"
    assert cap_tweet("a" * 280 + " bc") == ("a" * 280, True)  # the limit falls on the space: the word before stays
    assert cap_tweet("abc", 280) == ("", True) and cap_tweet("", 300) == ("", False)
