"""Story clustering: near-duplicates, stories across languages, merges, evidence, F1 floors.

The labelled set and the evaluation live in tests/stories_eval.py (in memory) and
scripts/eval_stories.py (through `tidings run`); docs/stories.md has the tables these
floors come from. A change that lowers a figure must lower the floor here, visibly.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from pipeline import embed
from pipeline.config import StoriesConfig
from pipeline.models import Article
from pipeline.store import Store
from pipeline.stories import (
    MERGE_MARGIN,
    Candidate,
    Fingerprint,
    Placement,
    compare,
    fingerprint,
    flag_now,
    index_keys,
    key_weights,
    normalised_sentences,
    place,
)
from tests import stories_eval as ev

CONFIG = ev.default_config()


@pytest.fixture(scope="module")
def items() -> list[ev.Item]:
    return ev.load_items()


@pytest.fixture(scope="module")
def by_id(items: list[ev.Item]) -> dict[str, ev.Item]:
    return {it.id: it for it in items}


@pytest.fixture(scope="module")
def plain(items: list[ev.Item]) -> ev.Run:
    return ev.run(items, translated=False)


def _groups(result: ev.Run, ids: list[str]) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for i in ids:
        groups.setdefault(result.story_of[i], set()).add(i)
    return {frozenset(g) for g in groups.values()}


# ------------------------------------------------------------------------------ seeds
SEEDS_EXPECTED = {frozenset({"seed-002", "seed-003", "seed-004"}), frozenset({"seed-000"}),
                  frozenset({"seed-001"})}


@pytest.mark.parametrize("dated", [True, False])
def test_seeds_make_exactly_three_stories(items: list[ev.Item], dated: bool) -> None:
    seeds = [it for it in items if it.group == "seeds"]
    result = ev.run(seeds, translated=False, dated=dated)
    assert _groups(result, [s.id for s in seeds]) == SEEDS_EXPECTED
    assert all(result.duplicate_of[s.id] is None for s in seeds)


def test_seeds_without_titles_or_dates(items: list[ev.Item]) -> None:
    """As the pipeline may see them: all fetched at once, no headline, no date."""
    seeds = [ev.Item(id=it.id, story=it.story, lang=it.lang, published="", title="",
                     text=it.text) for it in items if it.group == "seeds"]
    result = ev.run(seeds, translated=False, dated=False)
    assert _groups(result, [s.id for s in seeds]) == SEEDS_EXPECTED


# ------------------------------------------------------------------------------ floors
# Measured (docs/stories.md; `python tests/stories_eval.py`), untranslated, as production
# places articles (translation runs after placement and does not re-place them), in time
# order, pairwise F1 / B³ F1 (precision 1.000 in every subset): all languages 0.951 /
# 0.977; English + Italian 1.000 / 1.000; English ↔ Italian pairs 1.000 / 1.000; pairs
# with a Chinese side 0.904 / 0.977. The issue asks 0.95 of this set (all languages),
# reached here and on the mean of 10 orders through `tidings run` (0.953), not in every
# order (docs/stories.md says which stories stay split, and why).
FLOORS = {
    "all languages": (0.94, 0.97),
    "English + Italian": (0.99, 0.99),
    "cross-language pairs, English ↔ Italian": (0.99, 0.99),
    "Chinese (pairs with a Chinese side)": (0.89, 0.97),
}


@pytest.mark.parametrize("name", list(FLOORS))
def test_f1_floors(items: list[ev.Item], plain: ev.Run, name: str) -> None:
    keep, kind = ev.subsets(items)[name]
    scores = ev.score(plain, keep=keep, pair_filter=kind)
    pairwise_floor, bcubed_floor = FLOORS[name]
    assert scores.f1 >= pairwise_floor, scores
    assert scores.bcubed_f1 >= bcubed_floor, scores
    assert scores.precision >= 0.98, scores  # merging different stories is the worse error


@pytest.mark.parametrize(("lang", "floor", "together"), [("zh", 0.86, 0.95),
                                                          ("it", 0.98, 1.0)])
def test_news_beside_its_human_translation(items: list[ev.Item], lang: str, floor: float,
                                           together: float) -> None:
    """Each Chinese or Italian article and its hand-written English translation, both as
    untranslated articles (news with its human translation, as our held-out
    cross-language sets are): the two must be found and linked by the language-free
    signals, and no two events merged."""
    pairs = ev.parallel(items, lang)
    result = ev.run(pairs, translated=False)
    scores = ev.score(result)
    originals = [it for it in pairs if it.lang == lang]
    linked = sum(result.story_of[it.id] == result.story_of[f"{it.id}@en"] for it in originals)
    assert scores.f1 >= floor and scores.precision >= 0.98, scores
    assert linked >= together * len(originals), (linked, len(originals))


def test_translations_cluster_no_worse_than_originals(items: list[ev.Item],
                                                     plain: ev.Run) -> None:
    """With an Argos package installed, articles are placed with their English (here the
    set's hand-written reference translations stand in for a package's): the words a
    translation shares with an independent English report are fewer than a second
    original's would be, which must not count against the pair; its names and figures
    join those of the original. So translation adds links and loses none."""
    translated = ev.run(items, translated=True)
    before, after = ev.score(plain), ev.score(translated)
    assert after.recall >= before.recall and after.f1 >= before.f1, (before, after)
    assert after.precision >= 0.95, after


def test_a_translated_pair_scores_at_least_as_the_untranslated_pair(
        by_id: dict[str, ev.Item]) -> None:
    """Same event, an English report and one in Chinese or Italian: comparing with its
    translation (words that overlap little, as between independent reports; more names,
    which dilute the shares) gives no less than comparing with the original."""
    pairs = [("seed-000", "cell-zh-1"), ("yu7-en-2", "yu7-zh-2"), ("xmp2-en-1", "xmp2-zh-1"),
             ("mbbaic-en-1", "mbbaic-it-1")]  # the translation names many more people
    for english, other in pairs:
        en = fingerprint(_item_article(by_id[english]))
        original = fingerprint(_item_article(by_id[other]))
        translated = fingerprint(_item_article(by_id[other], translated=True))
        assert translated.text_lang == "en" != original.text_lang
        assert compare(en, translated, window_days=10).logit >= \
            compare(en, original, window_days=10).logit, other


def test_realworld_pages_stay_apart(items: list[ev.Item], plain: ev.Run) -> None:
    real = [it.id for it in items if it.group == "realworld"]
    assert len({plain.story_of[i] for i in real}) == len(real)


# ------------------------------------------------------------------------------ near-duplicates
def test_labelled_near_duplicates_found(items: list[ev.Item], plain: ev.Run) -> None:
    """Every labelled copy is found as a copy of its original, and nothing else is."""
    expected = [(it.id, it.dup_of, it.dup_of) for it in items if it.dup_of]
    assert len(expected) >= 5  # syndicated, truncated, reprinted in zh and it
    assert ev.duplicates_report(plain) == expected


@pytest.mark.parametrize("text", [
    "Xiaomi delivered 40,000 cars. BAIC said no!  Next?\n\nA new line.",
    "小米汽车今天投产。新工厂年产能十五万辆！雷军出席了仪式？完",
    "Full-width ！ marks， and ＡＢＣ letters. \u3000Ideographic space.",
    "e\u0301 accents after a stop.\u0301 and a mark alone",
    "", " \n ", "...!!!",
])
def test_sentences_normalised_one_by_one_make_the_text_normalised_whole(text: str) -> None:
    """Shingles are cut from the sentences joined, so the two must be the same text."""
    from pipeline.dedup import normalise_text
    assert " ".join(normalised_sentences(text)) == normalise_text(text)


def _article(text: str, *, title: str = "Headline", lang: str = "en",
             published: str = "2021-11-28T10:00:00+00:00", entities: list[str] | None = None,
             **extra: object) -> Article:
    from pipeline.dedup import content_hash
    return Article(url="https://example.invalid/" + str(abs(hash(text))), source="t",
                   title=title, text=text, lang=lang, published_at=published,
                   content_hash=content_hash(text), entities=entities or [], **extra)


def _cand(article_id: int, article: Article, story_id: int | None = None,
          duplicate_of: int | None = None) -> Candidate:
    fp = Fingerprint.from_json(json.loads(json.dumps(fingerprint(article).to_json())))
    return Candidate(article_id=article_id, story_id=story_id or article_id,
                     duplicate_of=duplicate_of, seen_at=article.published_at or "",
                     lang=article.lang, fingerprint=fp)


@pytest.fixture(scope="module")
def seed3(by_id: dict[str, ev.Item]) -> ev.Item:
    return by_id["seed-003"]


def _place(article: Article, cands: list[Candidate]) -> Placement:
    return place(article, fingerprint(article), cands, CONFIG)


def test_other_boilerplate_and_headline_is_duplicate(seed3: ev.Item) -> None:
    original = _article(seed3.text, title=seed3.title)
    copy = _article("Menu Home Cars News Login\n\n" + seed3.text +
                    "\n\nShare this article. Copyright 2021 Some Syndicator Ltd. All rights "
                    "reserved. Subscribe to our newsletter for more news every day.",
                    title="A completely different headline about Beijing")
    placement = _place(copy, [_cand(7, original, story_id=3)])
    assert placement.duplicate_of == 7 and placement.story_id == 3
    assert placement.evidence["signal"] == "near_duplicate"


def test_a_copy_of_an_article_stored_before_the_numpy_shingles_is_still_a_copy(
        seed3: ev.Item) -> None:
    """A fingerprint stored before shingles were hashed in numpy (v3: SHA-1 per shingle)
    has a shingle signature that means nothing beside a new one: it is not compared (no
    agreement by chance), and the copy is found by the sentences the two share; its
    content words, hashed as before, still compare."""
    original = _article(seed3.text, title=seed3.title)
    copy = _article("Menu Home Cars News Login\n\n" + seed3.text, title="Another headline")
    stored = _cand(7, original, story_id=3)
    old = stored.fingerprint.to_json() | {"v": 3}
    stored.fingerprint = Fingerprint.from_json(json.loads(json.dumps(old)))
    new = fingerprint(copy)
    pair = compare(new, stored.fingerprint, window_days=10)
    assert pair.jaccard == 0.0 and pair.shared_sentences >= 3 and pair.duplicate >= 0.8
    assert pair.text == compare(new, fingerprint(original), window_days=10).text > 0.5
    placement = _place(copy, [stored])
    assert placement.duplicate_of == 7 and placement.story_id == 3


def test_edited_sentences_is_duplicate(seed3: ev.Item) -> None:
    original = _article(seed3.text)
    edited = (seed3.text.replace("Zone officials indicated that", "Officials said that")
              .replace("An important reason why", "One reason")
              .replace("has established four leading industries", "now has four key industries"))
    assert _place(_article(edited), [_cand(1, original)]).duplicate_of == 1


def test_truncated_copy_is_duplicate(seed3: ev.Item) -> None:
    original = _article(seed3.text)
    half = seed3.text[: len(seed3.text) // 2]
    placement = _place(_article(half + " Read more on our website."), [_cand(1, original)])
    assert placement.duplicate_of == 1
    assert placement.evidence["near_duplicate"]["containment"] >= 0.8


def test_duplicate_points_at_the_original(seed3: ev.Item) -> None:
    original = _article(seed3.text)
    first_copy = _article(seed3.text + " Copyright Syndicator.")
    placement = _place(_article(seed3.text + " (c) Another outlet."),
                       [_cand(5, first_copy, story_id=2, duplicate_of=1)])
    assert placement.duplicate_of == 1
    del original


def test_a_big_storys_least_alike_member_is_still_found_as_the_original(
        seed3: ev.Item, items: list[ev.Item], monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the members of a story most alike the article are compared in full; every
    other member is still checked for being the article's original."""
    from pipeline import stories
    half = _article(seed3.text[: len(seed3.text) // 2] + " Read more on our website.")
    alike = fingerprint(half)
    others = [it for it in items if it.story != seed3.story][:stories.STORY_COMPARED + 4]
    members = []
    for n, item in enumerate(others, start=1):  # more alike than the original
        cand = _cand(n, _item_article(item), story_id=3)
        cand.fingerprint.vector, cand.fingerprint.words = alike.vector, alike.words
        members.append(cand)
    members.append(_cand(99, _article(seed3.text), story_id=3))
    placement = _place(half, members)
    assert placement.duplicate_of == 99 and placement.story_id == 3
    monkeypatch.setattr(stories, "STORY_COMPARED", 10**6)  # every member in full: the same
    assert _place(half, members).evidence == placement.evidence


def test_measures_made_for_all_candidates_at_once_equal_each_pairs_own(
        items: list[ev.Item], monkeypatch: pytest.MonkeyPatch) -> None:
    """The cosines and MinHash agreements computed for an article's candidates together
    (their arrays kept as rows of a ring, reused article after article) are those of each
    pair alone, also after the ring has wrapped round and given rows to others; a
    fingerprint whose shingles were hashed the older way agrees on none of them; an older
    fingerprint without an embedding, or all of more candidates than the ring holds, are
    left to `compare` (unknown here)."""
    from pipeline import stories
    monkeypatch.setattr(stories, "_ROWS", stories._Rows(size=8))
    fps = [fingerprint(_item_article(item)) for item in items[:12]]
    fps.append(stories.Fingerprint(content_hash="old", shingles=fps[0].shingles,
                                   words=fps[0].words))  # no vector
    v3 = Fingerprint.from_json(json.loads(json.dumps(fps[0].to_json() | {"v": 3})))
    fps.insert(3, v3)  # its shingles hashed by SHA-1: they agree with none of the new ones
    rounds = [fps[1:9], fps[5:13], fps[1:9][::-1], fps[::3], fps]  # the last: more than 8
    for others in rounds:
        for article in (fps[0], fps[7]):
            known = stories._known(article, others)
            for i, other in enumerate(others):
                if other.vector.size == 0 or len(others) > 8:
                    assert known.of(i) == stories._UNKNOWN
                    continue
                assert known.cosine[i] == pytest.approx(embed.cosine(article.vector,
                                                                     other.vector), abs=1e-5)
                assert known.shingles[i] == stories._shingled(article, other)
                if other is v3:
                    assert known.shingles[i] == 0.0 and known.words[i] is not None
                assert known.words[i] == stories._jaccard(article.words, other.words)


def test_independent_writeups_are_not_duplicates(by_id: dict[str, ev.Item]) -> None:
    a, b = by_id["seed-002"], by_id["seed-003"]
    placement = _place(_article(b.text, title=b.title, entities=["Xiaomi"]),
                       [_cand(1, _article(a.text, entities=["Xiaomi"]))])
    assert placement.duplicate_of is None and placement.story_id == 1


# ------------------------------------------------------------------------------ stories
def _item_article(item: ev.Item, translated: bool = False) -> Article:
    return ev.to_article(item, translated=translated)


def test_phone_launch_does_not_join_car_launch(by_id: dict[str, ev.Item]) -> None:
    for translated in (False, True):
        car = [_cand(i, _item_article(by_id[k], translated), story_id=1)
               for i, k in enumerate(["su7-en-1", "su7-en-2", "su7-it-1", "su7-zh-1"], 1)]
        for phone in ("civi-en-1", "civi-it-1", "civi-zh-1"):
            placement = _place(_item_article(by_id[phone], translated), car)
            assert placement.story_id is None and placement.duplicate_of is None, phone


def test_two_baic_factory_stories_stay_apart(by_id: dict[str, ev.Item]) -> None:
    za = [_cand(1, _item_article(by_id["baic-za-en-1"]), story_id=1),
          _cand(2, _item_article(by_id["baic-za-it-1"]), story_id=1)]
    for other in ("baic-zj-en-1", "baic-zj-zh-1"):
        assert _place(_item_article(by_id[other]), za).story_id is None


def test_follow_up_a_year_later_is_a_new_story(by_id: dict[str, ev.Item]) -> None:
    first = [_cand(i, _item_article(by_id[k]), story_id=1)
             for i, k in enumerate(["seed-002", "seed-003", "yz-en-1", "yz-zh-1"], 1)]
    later = _item_article(by_id["yz-en-followup"])
    placement = _place(later, first)
    assert placement.story_id is None
    # The same text published with the first coverage would join: time is what separates
    # them (the window, and the days-apart term inside it).
    then = replace(later, published_at=by_id["yz-en-1"].published)
    pair = compare(fingerprint(then), first[2].fingerprint, window_days=CONFIG.window_days)
    assert pair.score >= CONFIG.join


def test_only_a_shared_entity_never_joins() -> None:
    a = _article("Xiaomi said on Monday that its new store in Milan opened to large crowds "
                 "and that more stores would follow in Europe this year.",
                 entities=["Xiaomi"])
    b = _article("Xiaomi shares fell in Hong Kong trading after analysts cut their targets "
                 "for the company's smartphone business this quarter.", entities=["Xiaomi"])
    pair = compare(fingerprint(a), fingerprint(b), window_days=10)
    assert pair.entities == ["Xiaomi"] and pair.score < 0.1
    assert _place(b, [_cand(1, a)]).story_id is None


def test_chinese_joins_through_numbers_without_translation(by_id: dict[str, ev.Item]) -> None:
    english = [_cand(1, _item_article(by_id["seed-003"]), story_id=9)]
    placement = _place(_item_article(by_id["yz-zh-1"]), english)
    assert placement.story_id == 9
    assert {"300000", "150000", "38.8%", "193000000000"} <= set(
        placement.evidence["shared_numbers"])


def test_rounded_figures_and_weekdays_bridge_english_and_chinese(
        by_id: dict[str, ev.Item]) -> None:
    """"Deliveries fell 38% … said on Saturday" (1 November) and "同比下降38.25% … 11月1日":
    the rougher figure and the weekday read from the page's date count as shared; the
    other delivery reports of that Saturday stay apart."""
    english = [_cand(1, _item_article(by_id["li-oct-en-1"]), story_id=7)]
    placement = _place(_item_article(by_id["li-oct-zh-1"]), english)
    assert placement.story_id == 7
    assert {"31800", "~38%"} <= set(placement.evidence["shared_numbers"])
    assert placement.evidence["shared_dates"] == ["11-01"]
    others = [_cand(2, _item_article(by_id["xpeng-oct-en-1"]), story_id=8),
              _cand(3, _item_article(by_id["nio-oct-en-1"]), story_id=9)]
    assert _place(_item_article(by_id["li-oct-zh-1"]), others).story_id is None


def test_reports_whose_figures_all_differ_stay_apart(by_id: dict[str, ev.Item]) -> None:
    """BAIC BluePark's 2024 loss and its March sales, days apart, share the company's
    names (BAIC BluePark, Arcfox) but none of their many figures: the figures count
    against (in the evidence's log-odds), where before they counted nothing. The loss's
    Chinese report shares its figures and joins it."""
    march = _item_article(by_id["bpmar-en-1"])
    loss = _item_article(by_id["bp24-en-1"])
    pair = compare(fingerprint(loss), fingerprint(march), window_days=CONFIG.window_days)
    assert {"baic bluepark", "arcfox"} <= set(pair.names) and not pair.numbers
    assert pair.parts["numbers"] < 0
    chinese = [_cand(3, _item_article(by_id["bp24-zh-1"]), story_id=4)]
    joined = _place(loss, chinese)
    assert joined.story_id == 4 and joined.evidence["log_odds"]["numbers"] > 0


def test_figures_with_their_units_bridge_italian_and_chinese(by_id: dict[str, ev.Item]) -> None:
    """BYD's flash charging: "1.000 kW … 400 km" in Italian, "1,000 kilowatts … 400 km" in
    English, "1000千瓦 … 四百公里" in Chinese. Figures with the same unit count one point
    more than bare ones, and the Italian brief joins the story of the other two."""
    story = [_cand(1, _item_article(by_id["bydc-en-1"]), story_id=5),
             _cand(2, _item_article(by_id["bydc-zh-1"]), story_id=5)]
    italian = _item_article(by_id["bydc-it-1"])
    placement = _place(italian, story)
    assert placement.story_id == 5
    assert {"1000", "400"} <= set(placement.evidence["shared_numbers"])
    bare = compare(replace(fingerprint(italian), units={}), story[0].fingerprint,
                   window_days=CONFIG.window_days)
    assert placement.evidence["log_odds"]["numbers"] > bare.parts["numbers"]


def test_one_shared_model_name_does_not_join_chinese_briefs(
        by_id: dict[str, ev.Item]) -> None:
    """Two Chinese reports whose only Latin name is the YU7 (the plant that will build it;
    the orders after its launch) share one name of one: that is not a name Jaccard of 1."""
    plant = [_cand(1, _item_article(by_id["xmp2-zh-1"]), story_id=3)]
    placement = _place(_item_article(by_id["yu7-zh-2"]), plant)
    assert placement.story_id is None
    assert placement.evidence["closest"]["shared_names"] == ["yu7"]


# ------------------------------------------------------------------------------ evidence
def test_evidence_says_why(by_id: dict[str, ev.Item]) -> None:
    stored = [_cand(11, _item_article(by_id["seed-003"]), story_id=4),
              _cand(12, _item_article(by_id["civi-en-1"]), story_id=5)]
    placement = _place(_item_article(by_id["seed-004"]), stored)
    ev_ = placement.evidence
    assert placement.story_id == 4 and ev_["story"] == 4 and ev_["article"] == 11
    assert ev_["signal"] in {"numbers", "names", "text", "dates", "embedding"}
    assert ev_["score"] == placement.score >= CONFIG.join
    assert 0.5 < ev_["embedding_similarity"] <= 1.0  # Italian and English: one meaning
    assert set(ev_["log_odds"]) == {"embedding", "text", "names", "numbers", "dates"}
    assert "38.8%" in ev_["shared_numbers"] and ev_["shared_entities"] == ["Xiaomi"]
    assert ev_["join"] == CONFIG.join and ev_["candidates"] == 2
    json.dumps(ev_)  # stored as JSON


def test_new_story_evidence_names_the_closest() -> None:
    a = _article("Xiaomi opened a store in Milan with 300,000 visitors expected and Lei Jun "
                 "in attendance at the Corso Buenos Aires flagship.", entities=["Xiaomi"])
    placement = _place(_article("Something else entirely about weather in Rome."), [_cand(1, a)])
    assert placement.story_id is None and placement.evidence["signal"] == "new"


# ------------------------------------------------------------------------------ keys & storage
def test_fingerprint_json_round_trip(by_id: dict[str, ev.Item]) -> None:
    fp = fingerprint(_item_article(by_id["yz-zh-1"]))
    data = json.loads(json.dumps(fp.to_json()))
    again = Fingerprint.from_json(data)
    assert again.to_json() == fp.to_json()
    assert again.vector.shape == (512,) and again.pinyin.size > 0
    assert len(json.dumps(data)) < 8000  # stored per article: 1.4 kB vector, 2.5 kB pinyin


def test_a_chinese_articles_pinyin_keeps_its_stored_values(by_id: dict[str, ev.Item]) -> None:
    """The pinyin grams, hashed together, give each gram's `pinyin_hash` (the values stored
    fingerprints hold, and that a Latin name is looked up by)."""
    from pipeline import figures, stories
    item = by_id["yz-zh-1"]
    grams = figures.pinyin_grams(f"{item.title}\n{item.text}")
    assert len(grams) > 100 and "yizhuang" in grams
    one_by_one = sorted({stories.pinyin_hash(g) for g in grams})
    assert stories.pinyin_hashes(grams).tolist() == one_by_one
    assert fingerprint(_item_article(item)).pinyin.tolist() == one_by_one
    assert stories.pinyin_hashes([]).size == 0


def test_old_fingerprints_still_load() -> None:
    fp = Fingerprint.from_json({"content_hash": "abc"})
    assert fp.content_hash == "abc" and index_keys(fp) == ["hash:abc"]


def test_keys_are_selective(by_id: dict[str, ev.Item]) -> None:
    keys = index_keys(fingerprint(_item_article(by_id["seed-003"])))
    assert "ent:Xiaomi" not in keys and not any(k.startswith("ent:") for k in keys)
    assert any(k.startswith("ent+num:Xiaomi:") for k in keys)
    assert any(k.startswith("hash:") for k in keys) and any(k.startswith("sent:") for k in keys)
    assert any(k.startswith("emb:") for k in keys) and "name:yizhuang" in keys
    assert len(keys) <= 70
    assert {k.split(":", 1)[0] for k in keys} <= set(key_weights())


def test_chinese_headline_meets_latin_names(by_id: dict[str, ev.Item]) -> None:
    """青岛 in a Chinese headline and Qingdao in English coverage share a `pyn:` key."""
    zh = set(index_keys(fingerprint(_item_article(by_id["qd-zh-1"]))))
    en = set(index_keys(fingerprint(_item_article(by_id["qd-en-1"]))))
    assert "pyn:qingdao" in zh & en


def test_cross_language_keys_meet(by_id: dict[str, ev.Item]) -> None:
    zh = set(index_keys(fingerprint(_item_article(by_id["yz-zh-1"]))))
    it = set(index_keys(fingerprint(_item_article(by_id["seed-004"]))))
    en = set(index_keys(fingerprint(_item_article(by_id["seed-003"]))))
    assert zh & en and it & en


def test_config_thresholds_are_used(by_id: dict[str, ev.Item]) -> None:
    stored = [_cand(1, _item_article(by_id["seed-003"]))]
    article = _item_article(by_id["seed-004"])
    strict = StoriesConfig(window_days=10, near_duplicate=0.8, join=1.01)
    assert place(article, fingerprint(article), stored, strict).story_id is None
    narrow = StoriesConfig(window_days=0.01, near_duplicate=0.8, join=0.5)
    assert place(article, fingerprint(article), stored, narrow).story_id is None


# ------------------------------------------------------------------------------ Chinese names
def test_chinese_names_meet_their_latin_form(by_id: dict[str, ev.Item]) -> None:
    """青岛, 山东 and 财联社 are Qingdao, Shandong and Cailian: the Chinese report of the
    Qingdao plant joins its English coverage though it shares no number with it."""
    english = [_cand(1, _item_article(by_id["qd-en-1"]), story_id=7)]
    placement = _place(_item_article(by_id["qd-zh-1"]), english)
    assert placement.story_id == 7
    assert {"qingdao", "shandong"} <= set(placement.evidence["names_by_pinyin"])
    assert placement.evidence["shared_numbers"] == []


# ------------------------------------------------------------------------------ merges
def test_an_article_bridging_two_halves_merges_them(by_id: dict[str, ev.Item]) -> None:
    """Yizhuang coverage split into two stories; seed 004 links both, and they link each
    other: the older story (smaller id) survives and the other is folded into it."""
    stored = [_cand(1, _item_article(by_id["seed-002"]), story_id=3),
              _cand(2, _item_article(by_id["seed-003"]), story_id=5),
              _cand(3, _item_article(by_id["yz-en-1"]), story_id=5),
              _cand(4, _item_article(by_id["civi-en-1"]), story_id=6)]
    placement = _place(_item_article(by_id["seed-004"]), stored)
    assert placement.story_id == 3 and placement.merge == [5]
    assert placement.evidence["merged"] == [5]
    links = placement.evidence["merge_links"]
    assert len(links) == 1 and links[0]["between_stories"] >= CONFIG.join


def test_an_article_that_came_too_early_ends_where_it_would_have_gone_last(
        by_id: dict[str, ev.Item]) -> None:
    """The Yizhuang analysis arrived before the report that ties it to the factory story,
    so it began a story of its own. When that report comes, the analysis's story is folded
    into the factory story, as it would have joined it arriving last, though the two
    stories' members link each other too weakly to merge on their own."""
    story = [_cand(1, _item_article(by_id["seed-004"]), story_id=3),
             _cand(2, _item_article(by_id["yz-it-1"]), story_id=3),
             _cand(3, _item_article(by_id["yz-en-dup"]), story_id=3)]
    early = _cand(4, _item_article(by_id["yz-en-analysis"]), story_id=5)
    bridge = _item_article(by_id["yz-en-1"])
    placement = _place(bridge, [*story, early])
    assert placement.story_id == 3 and placement.merge == [5]
    (link,) = placement.evidence["merge_links"]
    bar = 1 / (1 + math.exp(-math.log(CONFIG.join / (1 - CONFIG.join)) - MERGE_MARGIN))
    assert link["between_stories"] < bar <= link["as_if_last"]
    # Arriving last, the analysis joins the factory story directly.
    last = _place(_item_article(by_id["yz-en-analysis"]), [*story, _cand(5, bridge, story_id=3)])
    assert last.story_id == 3


def test_unrelated_stories_are_not_merged(by_id: dict[str, ev.Item]) -> None:
    stored = [_cand(1, _item_article(by_id["su7-en-1"]), story_id=1),
              _cand(2, _item_article(by_id["civi-en-1"]), story_id=2)]
    placement = _place(_item_article(by_id["su7-en-2"]), stored)
    assert placement.story_id == 1 and placement.merge == []


def _stored(store: Store, item: ev.Item, placement: Placement, *,
            relevant: bool = False) -> Article:
    article = _item_article(item).replace(relevant=relevant)
    fp = fingerprint(article)
    story = store.story(placement.story_id) if placement.story_id else None
    flag = flag_now(article, placement, story, replace(CONFIG, fresh_days=36500))
    return store.save_article(article, placement, fp, index_keys(fp), flag=flag).article


def test_store_merges_stories(tmp_path: Path, by_id: dict[str, ev.Item]) -> None:
    """Articles move to the older story; counts, languages and entities are recounted; a
    merged story is flagged and counts as sent if either half was."""
    store = Store.open(tmp_path / "t.db")
    try:
        first = _stored(store, by_id["seed-002"], Placement(), relevant=True)
        older = first.story_id
        assert older is not None
        _stored(store, by_id["seed-003"], Placement(story_id=older))
        second = _stored(store, by_id["yz-it-1"], Placement())
        newer = second.story_id
        assert newer is not None and newer > older
        digest = store.record_digest([newer], created_at="2021-11-30T08:00:00+00:00",
                                     sent_at="2021-11-30T08:00:00+00:00",
                                     recipients=["a@example.com"], message_id="<m@x>")
        bridge = _stored(store, by_id["yz-zh-1"],
                         Placement(story_id=older, merge=[newer], evidence={"merged": [newer]}))
        assert bridge.story_id == older
        rows = {s.id: s for s in store.stories()}
        assert set(rows) == {older}
        story = rows[older]
        assert story.article_count == 4
        assert story.languages == ["en", "it", "zh"]
        assert story.entities == ["Xiaomi"]
        assert story.flagged and story.digest_id == digest
        assert store.db.execute("SELECT COUNT(*) FROM articles WHERE story_id = ?",
                                [older]).fetchone()[0] == 4
        assert store.digest_stories(since="2000-01-01T00:00:00+00:00") == []  # sent already
    finally:
        store.close()


OLD_ARTICLE_KEYS = """CREATE TABLE article_keys (key TEXT NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id), seen_at TEXT NOT NULL,
    PRIMARY KEY (key, article_id)) WITHOUT ROWID"""


def test_an_older_stores_story_index_is_rebuilt_with_its_keys(tmp_path: Path,
                                                             by_id: dict[str, ev.Item]) -> None:
    """A store whose `article_keys` has the layout tidings made before m006 (a foreign key,
    an index per lookup) keeps every key through the rebuild, and a new article still
    finds the stored one through them."""
    db = tmp_path / "t.db"
    store = Store.open(db)
    try:
        first = _stored(store, by_id["seed-002"], Placement())
        _stored(store, by_id["seed-003"], Placement())
    finally:
        store.close()
    with sqlite3.connect(db) as conn:  # as the previous release left it
        kept = sorted(conn.execute("SELECT key, article_id, seen_at FROM article_keys"))
        conn.execute("ALTER TABLE article_keys RENAME TO newer")
        conn.execute(OLD_ARTICLE_KEYS)
        conn.execute("INSERT INTO article_keys SELECT key, article_id, seen_at FROM newer")
        conn.execute("DROP TABLE newer")
        conn.execute("CREATE INDEX idx_article_keys_article ON article_keys(article_id)")
        conn.execute("CREATE INDEX idx_article_keys_key_seen ON article_keys(key, seen_at)")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm006_article_keys_by_time'")
    assert len(kept) > 20
    store = Store.open(db)
    try:
        assert sorted(store.db.execute(
            "SELECT key, article_id, seen_at FROM article_keys")) == kept
        schema = store.db.execute("SELECT sql FROM sqlite_master WHERE tbl_name = "
                                  "'article_keys' AND sql IS NOT NULL").fetchall()
        assert "REFERENCES" not in str(schema) and "idx_article_keys_key_seen" not in str(schema)
        again = _item_article(by_id["seed-002"])
        keys = index_keys(fingerprint(again))
        found = store.candidates(keys, around=again.published_at or "", window_days=10)
        assert first.id in [c.article_id for c in found]
    finally:
        store.close()


# ------------------------------------------------------------------------------ production
def _eval_script() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "scripts" / "eval_stories.py"
    spec = importlib.util.spec_from_file_location("eval_stories", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_labelled_set_through_tidings_run() -> None:
    """The labelled set as pages and a feed on 127.0.0.1, through the real `tidings run`,
    scored from the store. Order 1 in two passes measured F1 0.934 (P 0.986, R 0.887),
    B³ F1 0.971, twice (`python scripts/eval_stories.py --labelled --orders 1 --passes 2`);
    five orders in one pass: docs/stories.md."""
    script = _eval_script()
    docs = script.load_labelled()
    result = script.run_order(docs, 1, passes=2, feeds=1)
    assert result.missing == []
    assert result.scores["f1"] >= 0.92 and result.scores["p"] >= 0.97, result.scores
    assert result.scores["b3f1"] >= 0.96, result.scores
