"""Shared helpers for the fetch-stage tests: a real `Fetcher` pointed at a real local server.

    with SiteServer({"/a.html": Resource(b"<html>…</html>")}) as site:
        outcome = fetch_one(site.url("/a.html"))
        assert outcome.fetched.page.text.startswith("<html>")
        assert [r.status for r in outcome.records] == [200]

Everything runs on 127.0.0.1; timeouts and backoff are small so a failing site costs
fractions of a second.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipeline import charset
from pipeline.config import FetchConfig, build_config
from pipeline.demo.server import SiteServer
from pipeline.errors import ExtractError, FetchError
from pipeline.extract import extract
from pipeline.fetch import Fetched, Fetcher, FetchRecord, make_client
from pipeline.models import Article, Page

T = TypeVar("T")

CORPUS = Path(__file__).resolve().parent / "data" / "realworld"

FAST = {"timeout": 1.0, "backoff": 0.05, "max_retry_wait": 0.2, "host_delay": 0,
        "retries": 2, "robots": False, "user_agent": "tidings-test/0.1 (+http://127.0.0.1/contact)"}


def fetch_config(**overrides: Any) -> FetchConfig:
    """A validated `FetchConfig`: the packaged defaults, made fast, then `overrides`."""
    values = {**FAST, **overrides}
    return build_config({"fetch": values}, path=Path("t.toml"), env={}).fetch


@dataclass
class Outcome:
    """What one logical fetch produced: the result or the error, and the request log."""

    fetched: Fetched | None = None
    error: FetchError | None = None
    records: list[FetchRecord] = field(default_factory=list)
    seconds: float = 0.0


async def with_fetcher(config: FetchConfig,
                       body: Callable[[Fetcher, list[FetchRecord]], Awaitable[T]]) -> T:
    """Run `body(fetcher, records)` with a fresh client and fetcher (one per pass)."""
    records: list[FetchRecord] = []
    async with make_client(config) as client:
        fetcher = Fetcher(config, client, record=records.append)
        return await body(fetcher, records)


def fetch_one(url: str, *, kind: str = "article", config: FetchConfig | None = None,
              validators: tuple[str | None, str | None] = (None, None),
              **overrides: Any) -> Outcome:
    """Fetch `url` once through a real `Fetcher`; capture the result or the `FetchError`."""
    cfg = config or fetch_config(**overrides)

    async def body(fetcher: Fetcher, records: list[FetchRecord]) -> Outcome:
        outcome = Outcome(records=records)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            outcome.fetched = await fetcher.fetch(url, source="test", kind=kind,
                                                  validators=validators)
        except FetchError as exc:
            outcome.error = exc
        outcome.seconds = loop.time() - started
        return outcome

    return asyncio.run(with_fetcher(cfg, body))


# ---------------------------------------------------------------------- the corpus

@dataclass(frozen=True)
class CorpusFile:
    path: str  # relative to the corpus root, e.g. "html/zh/…html"
    declared: str
    actual: str
    language: str
    kind: str
    notes: str
    expected: tuple[str, ...]

    @property
    def name(self) -> str:
        return Path(self.path).name.split(".")[0]

    @property
    def file(self) -> Path:
        return CORPUS / self.path

    def expected_file(self, suffix: str) -> Path | None:
        """`expected/<name><suffix>` when the MANIFEST lists it (suffix like ".txt")."""
        for item in self.expected:
            if item.endswith(suffix) and Path(item).name == self.name + suffix:
                return CORPUS / item
        return None


@functools.cache
def _manifest() -> tuple[CorpusFile, ...]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return tuple(CorpusFile(path=r["path"], declared=r["declared_charset"],
                            actual=r["actual_charset"], language=r["language"],
                            kind=r["kind"], notes=r["notes"],
                            expected=tuple(x for x in r["expected_files"].split(",") if x))
                 for r in rows)


def manifest() -> list[CorpusFile]:
    return list(_manifest())


def pages() -> list[CorpusFile]:
    return [f for f in manifest() if f.path.startswith("html/")]


def feeds() -> list[CorpusFile]:
    return [f for f in manifest() if f.path.startswith("feeds/")]


def settled(site: SiteServer, timeout: float = 2.0) -> SiteServer:
    """Wait until the server has logged every request it received, then return it.

    `SiteServer` appends to `requests` only after the response is written, so a client can
    finish before the log shows its request; assertions on `count()` or `requests` right
    after a fetch would race. Arrivals are counted on entry (`_counts`), so wait for the
    log to catch up with them.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with site._lock:
            arrived = sum(site._counts.values())
            logged = len(site.requests)
        if logged >= arrived:
            break
        time.sleep(0.005)
    return site


# ---------------------------------------------------------------------- cached per session

_WRAPPER_URL = re.compile(r'<text id="([^"]+)"')
_SOURCE_URL = re.compile(r"Source URL: (\S+?)\.?(?:\s|$)")


def page_url(item: CorpusFile) -> str:
    """Where the page lived: expected meta, the dataset wrapper, the MANIFEST notes."""
    meta = item.expected_file(".meta.json")
    if meta is not None:
        url = json.loads(meta.read_text(encoding="utf-8")).get("url")
        if isinstance(url, str) and url.startswith("http"):
            return url
    snippets = item.expected_file(".snippets.json")
    if snippets is not None:
        return str(json.loads(snippets.read_text(encoding="utf-8"))["url"])
    match = _SOURCE_URL.search(item.notes) or _WRAPPER_URL.search(
        item.file.read_bytes()[:400].decode("ascii", "ignore"))
    return match.group(1) if match else f"http://corpus.invalid/{item.name}.html"


@functools.cache
def decoded(path: str) -> tuple[str, str, str]:
    """`charset.decode` of a corpus file, as the fetch stage does with no header."""
    return charset.decode((CORPUS / path).read_bytes(), None)


def as_page(item: CorpusFile) -> Page:
    text, used, origin = decoded(item.path)
    url = page_url(item)
    return Page(url=url, final_url=url, source="corpus", status=200,
                content_type="text/html", text=text, charset=used, charset_origin=origin)


@functools.cache
def extracted(path: str) -> Article | ExtractError:
    """`extract.extract` of a corpus page (cached: trafilatura is the slow part)."""
    item = next(i for i in manifest() if i.path == path)
    try:
        return extract(as_page(item))
    except ExtractError as exc:
        return exc
