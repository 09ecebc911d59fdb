"""The labelled story set itself (tests/data/stories): size, consistent labels, and the
JSONL export that other tools read (`python scripts/export_labelled.py`)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests import stories_eval as ev


@pytest.fixture(scope="module")
def items() -> list[ev.Item]:
    return ev.load_items()


def test_set_is_big_enough_for_issue_11(items: list[ev.Item]) -> None:
    assert len(items) >= 150
    assert ev.cross_language_pairs(items, copies=False) >= 40
    assert {it.lang for it in items} == {"en", "it", "zh"}


def test_cross_language_pairs_counts_pairs_not_items() -> None:
    def item(i: str, story: str, lang: str, dup_of: str | None = None) -> ev.Item:
        return ev.Item(id=i, story=story, lang=lang, published="", title="", text="x",
                       dup_of=dup_of)
    three = [item("a", "s", "en"), item("b", "s", "zh"), item("c", "s", "it"),
             item("d", "s", "en", dup_of="a"), item("e", "t", "it")]
    assert ev.cross_language_pairs(three) == 5  # a-b a-c b-c d-b d-c
    assert ev.cross_language_pairs(three, copies=False) == 3


def test_labels_are_consistent(items: list[ev.Item]) -> None:
    by_id = {it.id: it for it in items}
    assert len(by_id) == len(items), "ids are unique"
    for it in items:
        assert it.lang in {"en", "it", "zh"}, it.id
        assert it.story and it.text, it.id
        if it.dup_of:
            original = by_id[it.dup_of]
            assert original.story == it.story and original.dup_of is None, it.id
        for stamp in (it.published, it.fetched):
            if stamp:
                assert datetime.fromisoformat(stamp).tzinfo is not None, it.id
        if it.group == "written" and it.lang != "en":
            assert it.text_en and it.title_en, f"{it.id}: reference English missing"


def test_file_names_are_ids() -> None:
    for group in ("seeds", "written", "realworld"):
        for path in (ev.DATA / group).glob("*.txt"):
            assert ev.parse_item(path.read_text("utf-8")).id in (path.stem, "rw-" + path.stem)


def test_jsonl_export_matches_the_txt_files(items: list[ev.Item]) -> None:
    lines = (ev.DATA / "labelled.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == [it.id for it in items], (
        "stale: run python scripts/export_labelled.py")
    for record, it in zip(records, items, strict=True):
        assert record == {
            "id": it.id, "event": it.story, "lang": it.lang, "title": it.title or None,
            "text": it.text, "published": it.published or None,
            "fetched": it.fetched or None, "title_en": it.title_en, "text_en": it.text_en,
            "dup_of": it.dup_of, "group": it.group}, f"{it.id}: run scripts/export_labelled.py"
