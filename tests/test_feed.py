"""The Atom document on its own: valid for feedparser whatever the pages contained."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser

from pipeline.feed import FeedEntry, atom_feed

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


def entry(**changes: object) -> FeedEntry:
    values: dict[str, object] = {
        "story_id": 7, "headline": "Xiaomi signs deal for second Yizhuang factory",
        "first_seen": "2026-11-28T06:00:00+00:00", "published": "2026-11-27T22:15:00+01:00",
        "updated": "2026-11-28T06:30:00+00:00", "summary": "Xiaomi signed. Capacity grows.",
        "link": "https://evwire.example/xiaomi", "entities": ["Xiaomi"],
        "coverage": "http://127.0.0.1:8001/tidings/story_coverage?story_id=7",
        "sources": ["evwire", "qiche"], "languages": ["en", "zh"], "importance": 3.5}
    values.update(changes)
    return FeedEntry(**values)  # type: ignore[arg-type]


def parse(body: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_an_entry_carries_headline_dates_links_and_summary() -> None:
    parsed = parse(atom_feed([entry()], title="tidings: new developments",
                             self_url="http://x.example/f.atom", page_url="http://x.example/f",
                             now=NOW))
    [e] = parsed.entries
    assert e.title == "Xiaomi signs deal for second Yizhuang factory"
    assert e.published == "2026-11-27T21:15:00Z"  # in UTC
    assert e.updated == "2026-11-28T06:30:00Z"
    assert e.link == "https://evwire.example/xiaomi"
    assert e.summary == "Xiaomi signed. Capacity grows."
    assert e.id == "tag:tidings,2026:story/7/2026-11-28T06:00:00+00:00"
    assert "2 outlets (evwire, qiche) · en, zh · importance 3.5" in e.content[0].value
    assert parsed.feed.updated == "2026-11-28T06:30:00Z"


def test_page_text_cannot_break_the_document() -> None:
    hostile = entry(headline="<script>alert(1)</script> & \x00\x0b BAIC ]]>",
                    summary="A <b>bold</b> claim \x1f & more.", follows="<i>earlier</i>",
                    follows_link='http://x.example/?a=1&b="2"', entities=["<BAIC>"])
    parsed = parse(atom_feed([hostile], title="t", self_url="http://x.example/f.atom",
                             now=NOW))
    [e] = parsed.entries
    assert e.title == "<script>alert(1)</script> &  BAIC ]]>"  # text, control bytes dropped
    assert e.summary == "A <b>bold</b> claim  & more."
    content = e.content[0].value  # HTML for readers: page text escaped inside it
    assert "&lt;i&gt;earlier&lt;/i&gt;" in content and "<i>" not in content
    assert e.tags[0].term == "<BAIC>"


def test_an_empty_feed_and_bad_times_are_still_valid() -> None:
    empty = parse(atom_feed([], title="t", self_url="http://x.example/f.atom", now=NOW))
    assert empty.entries == [] and empty.feed.updated == "2026-11-28T07:00:00Z"
    odd = parse(atom_feed([entry(published="yesterday", updated="soon")], title="t",
                          self_url="http://x.example/f.atom", now=NOW))
    [e] = odd.entries
    assert e.published == e.updated == "2026-11-28T06:00:00Z"  # first seen stands in
