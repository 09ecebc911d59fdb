"""Extraction quality on golden pages: snippets that must (not) appear, token F1 floors.

F1 is a bag-of-tokens F1 between `extract(page).text` and the expected body text: words
for Latin script, single characters for Chinese. Floors sit ~0.02 under the measured means
so quality may not silently drop. Measured (trafilatura 2.3.1, favor_precision):

    zh  21 pages  mean F1 0.945   (sohu-yuhuan-release-2020 0.575: GNE's reference holds
                                   only part of the page's article; recall 0.99)
    en  10 pages  mean F1 0.988
    it   2 pages  mean F1 0.975
    ja   1 page   mean F1 0.947
    dates: 14 of 18 pages with a known date right; titles: 27 of 29.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from pipeline.errors import ExtractError
from pipeline.extract import extract
from pipeline.models import Article, Page

from .fixtures_http import CorpusFile, extracted, pages

FLOORS = {"zh": 0.92, "en": 0.96, "it": 0.95, "ja": 0.92}
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+")

WITH_TXT = [p for p in pages() if p.expected_file(".txt") is not None]
WITH_SNIPPETS = [p for p in pages() if p.expected_file(".snippets.json") is not None]
WITH_META = [p for p in pages() if p.expected_file(".meta.json") is not None]

# Known misses of trafilatura on the trafilatura eval pages, kept visible: a strict xfail
# turns into a failure the day they are fixed, so the list stays true.
KNOWN_SNIPPET_MISSES = {
    ("lastampa-temperature-2020", "tornerà in poche ore"): "the standfirst is dropped",
    ("parcoabruzzo-58354", "Grafico conta femmine con"): "an image caption is kept",
}


def tokens(text: str) -> Counter[str]:
    return Counter(t.casefold() for t in _TOKEN.findall(text))


def f1(got: str, expected: str) -> float:
    a, b = tokens(got), tokens(expected)
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def article(item: CorpusFile) -> Article:
    result = extracted(item.path)
    assert isinstance(result, Article), f"{item.name}: {result}"
    return result


def test_f1_is_sane() -> None:
    assert f1("小米汽车工厂", "小米汽车工厂") == 1.0
    assert f1("the cat sat", "a dog ran") == 0.0
    assert 0.6 < f1("Xiaomi opens a car plant", "Xiaomi opens a new car plant today") < 0.9


@pytest.mark.parametrize("item", WITH_TXT, ids=lambda p: f"{p.language}:{p.name}")
def test_golden_page_recall(item: CorpusFile) -> None:
    """Each golden page keeps most of its article (recall ≥ 0.9) and is not mostly
    boilerplate (F1 ≥ 0.55)."""
    expected = item.expected_file(".txt")
    assert expected is not None
    text = article(item).text
    want = tokens(expected.read_text(encoding="utf-8"))
    recall = sum((tokens(text) & want).values()) / sum(want.values())
    assert recall >= 0.9
    assert f1(text, expected.read_text(encoding="utf-8")) >= 0.55


@pytest.mark.parametrize("lang", sorted(FLOORS))
def test_mean_f1_floor_per_language(lang: str) -> None:
    scores = []
    for item in WITH_TXT:
        if item.language == lang:
            expected = item.expected_file(".txt")
            assert expected is not None
            scores.append(f1(article(item).text, expected.read_text(encoding="utf-8")))
    assert scores, f"no golden {lang} pages"
    mean = sum(scores) / len(scores)
    assert mean >= FLOORS[lang], f"{lang}: mean F1 {mean:.3f} < floor {FLOORS[lang]}"


def _snippet_cases() -> list[object]:
    cases: list[object] = []
    for item in WITH_SNIPPETS:
        path = item.expected_file(".snippets.json")
        assert path is not None
        data = json.loads(path.read_text(encoding="utf-8"))
        for must, key in ((True, "with"), (False, "without")):
            for snippet in data[key]:
                reason = KNOWN_SNIPPET_MISSES.get((item.name, snippet))
                marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
                cases.append(pytest.param(item, snippet, must, marks=marks,
                                          id=f"{item.name}:{key}:{snippet[:12]}"))
    return cases


@pytest.mark.parametrize(("item", "snippet", "must"), _snippet_cases())
def test_golden_snippets(item: CorpusFile, snippet: str, must: bool) -> None:
    text = article(item).text
    assert (snippet in text) is must


def test_every_article_page_extracts() -> None:
    failed = [p.name for p in pages()
              if not p.name.startswith("list-") and isinstance(extracted(p.path), ExtractError)]
    assert failed == []


LISTINGS_REFUSED = {"list-quotidianodipuglia-search", "list-163-rolling-news",
                    "list-tencent-news-center",
                    "list-yahoo-uk-homepage"}  # og:type website and no article id in its URL


@pytest.mark.parametrize("item", [p for p in pages() if p.name.startswith("list-")],
                         ids=lambda p: p.name)
def test_listing_pages(item: CorpusFile) -> None:
    """What tidings does with a listing page fetched as an article. Three have too little
    running text and raise `ExtractError` (reported, skipped); the Yahoo UK homepage says
    og:type website and has no article id in its URL, so it is refused as a section page.
    The other five (CNN and qq.com homepages, three Bari crime sections) have teaser
    paragraphs long enough
    that trafilatura returns them as text: they would be stored as an article. Listing
    pages reach extraction only if a source links to one, since sources of kind "page" are
    read by `discover`, not `extract`; this test pins today's behaviour."""
    result = extracted(item.path)
    if item.name in LISTINGS_REFUSED:
        assert isinstance(result, ExtractError)
        assert "no article text" in str(result) or "section or home page" in str(result)
    else:
        assert isinstance(result, Article)


def test_empty_page_is_an_extract_error_not_an_empty_article() -> None:
    page = Page(url="http://127.0.0.1/a.html", final_url="http://127.0.0.1/a.html",
                source="t", status=200, content_type="text/html",
                text="<html><head><title>Login</title></head><body><form></form></body></html>",
                charset="utf-8", charset_origin="header")
    with pytest.raises(ExtractError, match="no article text") as caught:
        extract(page)
    assert caught.value.url == "http://127.0.0.1/a.html"


# ------------------------------------------------------------------ metadata

def _expected_date(item: CorpusFile) -> str | None:
    path = item.expected_file(".meta.json")
    assert path is not None
    meta = json.loads(path.read_text(encoding="utf-8"))
    value = meta.get("date") or meta.get("publish_date") or meta.get("published")
    if not isinstance(value, str):
        return None
    match = re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})", value)
    return f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}" if match else None


def test_publication_dates_floor() -> None:
    dated = [(p, _expected_date(p)) for p in WITH_META if _expected_date(p)]
    right = [p.name for p, want in dated if (article(p).published_at or "")[:10] == want]
    assert len(dated) >= 18
    assert len(right) >= 14, sorted({p.name for p, _ in dated} - set(right))


@pytest.mark.parametrize("name", ["people-jiangsu-schools-2022", "cnn-thanksgiving-weather-2013",
                                  "time-hansen-geoengineering-2023", "ja-nikkei-trump-2018"])
def test_dates_are_iso_8601(name: str) -> None:
    item = next(p for p in WITH_META if p.name == name)
    published = article(item).published_at or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", published)
    assert published[:10] == _expected_date(item)


def test_titles_floor() -> None:
    right, total = 0, 0
    for item in WITH_META:
        path = item.expected_file(".meta.json")
        assert path is not None
        title = json.loads(path.read_text(encoding="utf-8")).get("title")
        if not isinstance(title, str) or not title:
            continue
        total += 1
        head = re.split(r"[-_|]", title)[0][:8]
        right += head in article(item).title
    assert total >= 29 and right >= 27


def test_title_falls_back_to_the_html_title() -> None:
    """The old sohu capture has a stray dataset line before <html>; trafilatura finds no
    title there, the page's own <title> is used."""
    item = next(p for p in WITH_META if p.name == "sohu-auto-changhe-testdrive-2003")
    assert article(item).title.startswith("对比试车")


@pytest.mark.parametrize(("name", "author"), [
    ("theverge-vision-pro-2023", "Alex Heath"),
    ("engadget-xbox-one-x-2017", "Devindra Hardawar"),
    ("ars-minecraft-exploit-2015", "Dan Goodin"),
])
def test_author_on_pages_that_name_one(name: str, author: str) -> None:
    item = next(p for p in pages() if p.name == name)
    assert article(item).author == author


def test_canonical_url_comes_from_the_page() -> None:
    item = next(p for p in WITH_META if p.name == "time-hansen-geoengineering-2023")
    assert article(item).url.startswith("https://time.com/6330957/")
