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
from tweetsmith.engine.models import load_model
from tweetsmith.engine.sampling import SamplingConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FORCE_LOGIT = 100.0  # far above any logit of the random tiny model: the forced token wins under any sampling


class Forced:
    """Forces ``loaded``'s next tokens to ``ids`` (then end-of-text), restarting at every prompt."""

    def __init__(self, loaded):
        self.loaded, self.ids, self.step = loaded, [], 0
        loaded.model.get_output_embeddings().register_forward_hook(self._hook)

    def text(self, *pieces: str) -> list[int]:
        """Force the tokens of ``pieces`` (each encoded alone) and end-of-text; returns each piece's token count."""
        encoded = [self.loaded.tokenizer(p, add_special_tokens=False)["input_ids"] for p in pieces]
        self.ids = [i for ids in encoded for i in ids] + [self.loaded.eot_id]
        return [len(ids) for ids in encoded]

    def _hook(self, module, args, output):
        if args[0].shape[1] > 1:  # the prompt's pass: a new sample starts
            self.step = 0
        output[:, -1, self.ids[min(self.step, len(self.ids) - 1)]] += FORCE_LOGIT
        self.step += 1
        return output


@pytest.fixture(scope="module")
def forced(tiny_llama_dir):
    return Forced(load_model(str(tiny_llama_dir)))


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
    for sample in (stream_sample(forced.loaded, "paulg", "", SAMPLED).sample,
                   generate_samples(forced.loaded, ["paulg"], SAMPLED)[0]):
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


@pytest.mark.parametrize("pieces,text,ending", [
    ((" founders ship", " \\sama", "-", " the next"), "founders ship", 3),  # another author's tag: a new tweet
    ((" ok", " \\paulg", "-", " again"), "ok", 3),  # its own tag again ends it too
    ((" see C", ":\\dir", "-x", " now"), "see C:\\dir-x now", None),  # a backslash inside a word is text
    ((" a \\b", " c-d"), "a \\b c-d", None),  # a backslash-word a space ends before any "-" is text
])
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
