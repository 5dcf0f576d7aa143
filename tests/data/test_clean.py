"""Cleaning rules on hand-written records, each switch on and off."""

from __future__ import annotations

import pytest

from tweetsmith.data import Record
from tweetsmith.data.clean import Cleaner, CleanOptions, author_token, remove_urls


def clean_all(records, **options):
    cleaner = Cleaner(CleanOptions(**options))
    kept = [r for r in (cleaner.clean(record) for record in records) if r is not None]
    return kept, {k: v for k, v in cleaner.skipped.items() if v}


RAW = [
    Record("a", "RT @b: something"),
    Record("a", "  @b thanks!"),
    Record("a", ".@b is not a reply"),
    Record("a", "see https://t.co/abc123 and www.example.com/x?y=1 now"),
    Record("a", "Strangers. (http://t.co/NEt726lm9t)"),
    Record("a", "M…http://t.co/bSKfQeXc39"),
    Record("a", "Q&amp;A &gt; &#39;quotes&#39;"),
    Record("a", "two\nlines\r\nand\u2028more\ttabs"),
    Record("a", "   "),
    Record("a", "https://t.co/only"),
]


def test_defaults():
    kept, skipped = clean_all(RAW)
    assert [r.text for r in kept] == [
        ".@b is not a reply",
        "see and now",
        "Strangers.",
        "M…",
        "Q&A > 'quotes'",
        "two lines and more tabs",
    ]
    assert skipped == {"retweet": 1, "reply": 1, "empty": 2}


def test_every_switch_off():
    kept, skipped = clean_all(
        RAW, keep_retweets=True, keep_replies=True, keep_urls=True, unescape=False, normalize_space=False
    )
    texts = [r.text for r in kept]
    assert texts[:3] == ["RT @b: something", "  @b thanks!", ".@b is not a reply"]
    assert "Q&amp;A &gt; &#39;quotes&#39;" in texts
    assert "https://t.co/only" in texts
    # Even without whitespace normalising, a record is one line: line breaks become spaces, tabs stay.
    assert "two lines  and more\ttabs" in texts
    assert all(len(t.splitlines()) == 1 for t in texts)
    assert skipped == {"empty": 1}


@pytest.mark.parametrize(
    "name,token", [("@PaulG", "PaulG"), ("Van Buren", "Van_Buren"), ("a-b", "a_b"), (" x\\y ", "x_y"), ("", "")]
)
def test_author_tokens(name, token):
    assert author_token(name) == token
    kept, _ = clean_all([Record(name, "text")])
    assert kept[0].author == token


def test_remove_urls_keeps_text_around():
    assert remove_urls("a http://x.io/p b") == "a  b"
    assert remove_urls("[https://x.io]") == ""
    assert remove_urls("no links") == "no links"


def test_mojibake_is_repaired_and_every_change_is_counted_by_step():
    # "don’t" written as UTF-8 and read back as Windows-1252, the way scraped tweets arrive broken.
    broken = "don’t".encode().decode("cp1252")
    records = [
        Record("a", f"I {broken} know"),  # mojibake
        Record("a", "Q&amp;A"),  # entity
        Record("a", f"{broken} &amp; see https://t.co/x  now"),  # all four steps
        Record("a", "café ‘quoted’ stays"),  # non-ASCII that is not mojibake: untouched
        Record("a", "RT @b: " + broken),  # dropped: counted as a retweet, not as changed
    ]
    cleaner = Cleaner(CleanOptions())
    kept = [cleaner.clean(r) for r in records]
    assert [r.text if r else None for r in kept] == [
        "I don’t know",
        "Q&A",
        "don’t & see now",
        "café ‘quoted’ stays",
        None,
    ]
    assert cleaner.changed == {"mojibake": 2, "html_entities": 2, "urls": 1, "whitespace": 1}
    assert cleaner.skipped["retweet"] == 1
    off = Cleaner(CleanOptions(fix_mojibake=False))
    assert off.clean(records[0]).text == f"I {broken} know" and off.changed["mojibake"] == 0
