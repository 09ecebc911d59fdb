"""Identity of an article: canonical URLs and content hashes."""

from __future__ import annotations

import pytest

from pipeline.dedup import canonical_url, content_hash, strip_tracking


@pytest.mark.parametrize(("url", "expected"), [
    ("https://www.example.com/a.html?utm_source=x&utm_medium=rss&id=3",
     "https://www.example.com/a.html?id=3"),
    ("https://example.com/a?fbclid=IwAR0&gclid=1", "https://example.com/a"),
    ("https://example.com/a?spm=1001.2014&from=weibo#comments", "https://example.com/a"),
    ("https://example.com/a?wt_mc=rss.ho.beitrag.rdf", "https://example.com/a"),
    ("https://example.com/news?id=7&page=2", "https://example.com/news?id=7&page=2"),
])
def test_tracking_parameters_are_removed_and_others_kept(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_the_pages_own_canonical_link_is_used_on_the_same_site() -> None:
    assert canonical_url("https://example.com/amp/a?utm_source=x",
                         "https://www.example.com/news/a") == "https://www.example.com/news/a"


def test_a_canonical_link_to_another_site_does_not_steal_the_identity() -> None:
    # a syndicated copy: its own URL stays; the content hash marks it as a duplicate
    assert canonical_url("https://wire.example.org/copy", "https://origin.example.com/story") \
        == "https://wire.example.org/copy"


def test_host_case_and_default_port_do_not_make_a_new_article() -> None:
    assert canonical_url("HTTPS://Example.COM:443/a") == canonical_url("https://example.com/a")


def test_content_hash_ignores_whitespace_quotes_and_case() -> None:
    a = "Xiaomi signed the “agreement” on Saturday.\n\nIt will build 300,000 cars."
    b = "xiaomi signed the \"agreement\" on saturday. It will build 300,000 cars. "
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(a.replace("300,000", "150,000"))


def test_strip_tracking_keeps_paths() -> None:
    assert strip_tracking("http://x.com/a/b/?utm_term=1") == "http://x.com/a/b/"


def test_another_port_is_another_site() -> None:
    assert canonical_url("http://127.0.0.1:8002/copy", "http://127.0.0.1:8001/original") \
        == "http://127.0.0.1:8002/copy"
    assert canonical_url("https://example.com:443/amp", "https://example.com/news") \
        == "https://example.com/news"
