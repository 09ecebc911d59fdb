"""The bundled sample news web: four outlets, each its own `SiteServer` on 127.0.0.1.

Everything it serves is rendered at start from package data under `content/`:

    content/outlets/NAME/outlet.toml   the outlet: language, kind, entry document, pages …
    content/outlets/NAME/*.html|*.xml  its Jinja2 templates (base, article, listing, page,
                                       and its feed or sitemaps)
    content/articles/ID.md             one article: TOML front matter between +++ lines,
                                       then the body, paragraphs separated by blank lines
    content/truth.json                 what a perfect pipeline concludes about each article

The outlets are `evwire` (English, RSS 2.0), `drivelines` (English, Atom; runs a
syndicated copy of an EV Wire story, linked with tracking parameters), `autoblog-it`
(Italian, a sitemap index pointing to a Google News sitemap) and `qiche` (Chinese, a
listing page; every byte GBK and no charset declared anywhere).

The articles are written with their real publication dates (2021–2025), and served dated
relative to the day the web runs: every date moves by the same whole number of days, so
that the newest article was published a day or so before `today` (by default the real
today) and their order and spacing stay as written — `tidings demo` shows a recent story
and old ones. The dates in article URLs (/2025/03/18/…, /news/20250318/…) move with them.
`truth(today)` and `DemoWeb.truth()` give the ground truth dated the same way.
`DemoWeb(now=…)` serves only the articles published by `now` (all of them by default);
`advance(now)` publishes more while running, so a second pass can find new articles while
unchanged feeds answer 304.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from types import SimpleNamespace, TracebackType
from typing import Any, Self

import jinja2

from pipeline.config import dump_toml
from pipeline.demo.server import Resource, SiteServer

__all__ = ["DemoArticle", "DemoWeb", "Outlet", "articles", "content_root", "dated_articles",
           "outlets", "shift_for", "truth"]

ITALIAN_MONTHS = ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio",
                  "agosto", "settembre", "ottobre", "novembre", "dicembre")
FEED_EVERY = "30m"


class DemoContentError(ValueError):
    """The packaged demo content is inconsistent (a bug in the package data)."""


@dataclass(frozen=True)
class Outlet:
    name: str
    language: str
    kind: str  # "feed" | "sitemap" | "page"
    entry_path: str  # the feed / sitemap / listing page path


@dataclass(frozen=True)
class DemoArticle:
    """One article page as written in `content/articles/ID.md`."""

    id: str
    outlet: str
    path: str
    title: str
    author: str
    published: datetime
    category: str
    summary: str
    body: str
    canonical_of: str | None = None  # id of the original (syndicated copies)
    feed_query: str | None = None  # tracking parameters added to its feed/sitemap link
    hot: bool = False  # also linked from the outlet's "hot" box with tracking parameters


# -- package data -----------------------------------------------------------------------------

def content_root() -> Traversable:
    return resources.files("pipeline.demo").joinpath("content")


def truth(today: date | None = None) -> list[dict[str, Any]]:
    """Ground truth for every article page, from `content/truth.json` (a fresh copy),
    dated for `today` as the web serves it (see `shift_for`; default: the real today)."""
    copy: list[dict[str, Any]] = json.loads(json.dumps(_truth()))
    shift = shift_for(today)
    written = {a.id: a for a in _articles()}
    for entry in copy:
        article = written[entry["id"]]
        entry["published"] = (article.published + shift).date().isoformat()
        entry["path"] = _move_path_date(article.path, article.published, shift)
    return copy


def shift_for(today: date | None = None) -> timedelta:
    """The whole number of days every article moves so that the newest one was published
    on the day before `today` (UTC; default: the real today), at its written time."""
    today = today or datetime.now(UTC).date()
    newest = max(a.published for a in _articles()).astimezone(UTC).date()
    return timedelta(days=(today - timedelta(days=1) - newest).days)


def dated_articles(today: date | None = None) -> list[DemoArticle]:
    """The articles as the web serves them for `today`: dates and URL dates moved by
    `shift_for(today)`."""
    shift = shift_for(today)
    return [dataclasses.replace(a, published=a.published + shift,
                                path=_move_path_date(a.path, a.published, shift))
            for a in _articles()]


def _move_path_date(path: str, published: datetime, shift: timedelta) -> str:
    """`path` with the publication date written in it (2021/08/04, 20210804, 2021-08-04)
    moved by `shift`."""
    old, new = published.date(), (published + shift).date()
    for fmt in ("%Y/%m/%d", "%Y%m%d", "%Y-%m-%d"):
        written = old.strftime(fmt)
        if re.search(rf"(?<!\d){re.escape(written)}(?!\d)", path):
            return path.replace(written, new.strftime(fmt), 1)
    return path


@cache
def _truth() -> tuple[dict[str, Any], ...]:
    data = json.loads(content_root().joinpath("truth.json").read_text("utf-8"))
    return tuple(data)


def outlets() -> list[Outlet]:
    return [Outlet(o["name"], o["language"], o["kind"], o["entry_path"]) for o in _outlet_data()]


@cache
def _outlet_data() -> tuple[dict[str, Any], ...]:
    out = []
    for entry in sorted(content_root().joinpath("outlets").iterdir(), key=lambda t: t.name):
        if entry.is_dir():
            data = tomllib.loads(entry.joinpath("outlet.toml").read_text("utf-8"))
            if data.get("name") != entry.name:
                raise DemoContentError(f"outlets/{entry.name}/outlet.toml: name must be "
                                       f"{entry.name!r}, got {data.get('name')!r}")
            out.append(data)
    return tuple(out)


def articles() -> list[DemoArticle]:
    return list(_articles())


@cache
def _articles() -> tuple[DemoArticle, ...]:
    raw: dict[str, tuple[dict[str, Any], str]] = {}
    for entry in content_root().joinpath("articles").iterdir():
        if entry.name.endswith(".md"):
            raw[entry.name[:-3]] = _front_matter(entry.name, entry.read_text("utf-8"))
    out = []
    for article_id, (meta, body) in sorted(raw.items()):
        source = meta.pop("body_from", None)
        if source is not None:
            if source not in raw:
                raise DemoContentError(f"articles/{article_id}.md: body_from {source!r} unknown")
            body = raw[source][1]
        try:
            out.append(DemoArticle(id=article_id, body=body.strip(), **meta))
        except TypeError as exc:
            raise DemoContentError(f"articles/{article_id}.md: {exc}") from exc
    _check(out)
    return tuple(out)


def _front_matter(name: str, text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("+++\n"):
        raise DemoContentError(f"articles/{name}: must start with +++ front matter")
    head, sep, body = text[4:].partition("\n+++\n")
    if not sep:
        raise DemoContentError(f"articles/{name}: front matter is not closed with +++")
    return tomllib.loads(head), body


def _check(items: list[DemoArticle]) -> None:
    """The articles, the outlets and truth.json must agree; fail loudly if they don't."""
    by_id = {a.id: a for a in items}
    outlet_data = {o["name"]: o for o in _outlet_data()}
    seen: set[tuple[str, str]] = set()
    for a in items:
        where = f"articles/{a.id}.md"
        if a.outlet not in outlet_data:
            raise DemoContentError(f"{where}: unknown outlet {a.outlet!r}")
        if (a.outlet, a.path) in seen:
            raise DemoContentError(f"{where}: path {a.path} used twice on {a.outlet}")
        seen.add((a.outlet, a.path))
        if a.published.tzinfo is None:
            raise DemoContentError(f"{where}: published needs a UTC offset")
        slugs = {c["slug"] for c in outlet_data[a.outlet].get("categories", [])}
        if a.category not in slugs:
            raise DemoContentError(f"{where}: category {a.category!r} not in {sorted(slugs)}")
        if a.canonical_of is not None and a.canonical_of not in by_id:
            raise DemoContentError(f"{where}: canonical_of {a.canonical_of!r} unknown")
    entries = {t["id"]: t for t in _truth()}
    if set(entries) != set(by_id):
        raise DemoContentError(f"truth.json and articles/ differ: only in truth "
                               f"{sorted(set(entries) - set(by_id))}, only in articles "
                               f"{sorted(set(by_id) - set(entries))}")
    for article_id, t in entries.items():
        a = by_id[article_id]
        expected = (a.outlet, a.path, outlet_data[a.outlet]["language"],
                    a.published.date().isoformat())
        if (t["outlet"], t["path"], t["lang"], t["published"]) != expected:
            raise DemoContentError(f"truth.json: {article_id} disagrees with its article "
                                   f"(outlet, path, lang, published should be {expected})")


# -- the web ----------------------------------------------------------------------------------

class DemoWeb:
    """Serves every outlet from its own `SiteServer` on 127.0.0.1::

        with DemoWeb() as web:
            config = web.config_toml("state/demo/tidings.db")
            feed = web.server("evwire").url("/feed.xml")
    """

    def __init__(self, now: datetime | None = None, *, today: date | None = None) -> None:
        """`today`: the day the articles are dated for (default: the real today); `now`:
        the web's clock, which hides later articles (default: the real time, or noon
        UTC of `today` when that is given)."""
        real = datetime.now(UTC).replace(microsecond=0)
        self.today = today or real.date()
        if now is None:
            now = real if today is None else datetime.combine(today, time(12), UTC)
        self.now = _aware(now)
        self.outlets: list[Outlet] = outlets()
        self._outlet_data = {o["name"]: o for o in _outlet_data()}
        self._articles = dated_articles(self.today)
        self._servers: dict[str, SiteServer] = {o.name: SiteServer() for o in self.outlets}
        self._started = False

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._started:
            return self
        try:
            for server in self._servers.values():
                server.start()
            self._started = True
            self._publish()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def advance(self, now: datetime) -> list[dict[str, Any]]:
        """Move the clock to `now` and serve what is published by then; returns the truth
        entries that appeared (or, going back, disappeared)."""
        before = {t["id"] for t in self.published()}
        self.now = _aware(now)
        if self._started:
            self._publish()
        return [t for t in self.truth() if (t["id"] in before) != self._visible_id(t["id"])]

    # -- what it offers -----------------------------------------------------------------------

    def server(self, outlet_name: str) -> SiteServer:
        try:
            return self._servers[outlet_name]
        except KeyError:
            raise KeyError(f"no outlet {outlet_name!r} (known: {', '.join(self._servers)})") \
                from None

    def outlet(self, name: str) -> Outlet:
        for o in self.outlets:
            if o.name == name:
                return o
        raise KeyError(f"no outlet {name!r}")

    def url(self, outlet_name: str, path: str) -> str:
        return self.server(outlet_name).url(path)

    def article_url(self, article_id: str) -> str:
        """The absolute URL of an article (a truth id) on its outlet."""
        for a in self._articles:
            if a.id == article_id:
                return self.url(a.outlet, a.path)
        raise KeyError(f"no article {article_id!r}")

    def truth(self) -> list[dict[str, Any]]:
        """The ground truth of every article, dated as this web serves it."""
        return truth(self.today)

    def published(self) -> list[dict[str, Any]]:
        """The truth entries of the articles served at `now`."""
        return [t for t in self.truth() if self._visible_id(t["id"])]

    def sources(self) -> list[dict[str, str]]:
        """`[[sources]]` tables for a tidings config pointing at this web."""
        return [{"name": o.name, "url": self.url(o.name, o.entry_path), "kind": o.kind,
                 "language": o.language, "every": FEED_EVERY} for o in self.outlets]

    def config_toml(self, store_path: str) -> str:
        """A complete tidings config for the demo; [[watch]] and [topic] come from the
        packaged defaults."""
        header = ("# tidings demo: the bundled sample news web, served on 127.0.0.1.\n"
                  "# Generated by pipeline.demo.site.DemoWeb; the ports change on every start."
                  "\n\n")
        return header + dump_toml({"store": {"path": store_path},
                                   "fetch": {"host_delay": 0.05, "robots": True},
                                   "sources": self.sources()})

    # -- rendering ----------------------------------------------------------------------------

    def _visible_id(self, article_id: str) -> bool:
        return any(a.id == article_id and a.published <= self.now for a in self._articles)

    def _publish(self) -> None:
        visible = [a for a in self._articles if a.published <= self.now]
        for name, server in self._servers.items():
            routes = dict(_render_outlet(self._outlet_data[name], visible, self._servers,
                                         self.now, self._articles))
            for path in server.paths:
                if path not in routes:
                    server.remove(path)
            for path, resource in routes.items():
                server.add(path, resource)


def _render_outlet(outlet: dict[str, Any], visible: list[DemoArticle],
                   servers: dict[str, SiteServer], now: datetime,
                   every: list[DemoArticle]) -> Iterator[tuple[str, Resource]]:
    name = outlet["name"]
    base = servers[name].base_url
    directory = content_root().joinpath("outlets", name)
    env = jinja2.Environment(loader=jinja2.FunctionLoader(lambda t: _template(directory, t)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    encoding = outlet["encoding"]
    html_type = outlet["content_type"]
    categories = {c["slug"]: c for c in outlet.get("categories", [])}
    by_id = {a.id: a for a in visible}
    all_by_id = {a.id: a for a in every}

    def view(a: DemoArticle) -> SimpleNamespace:
        own_url = base + a.path
        original = all_by_id.get(a.canonical_of) if a.canonical_of else None
        canonical = (servers[original.outlet].base_url + original.path) if original else own_url
        original_outlet = _outlet_by_name(original.outlet) if original else None
        return SimpleNamespace(
            id=a.id, path=a.path, url=own_url, title=a.title, author=a.author,
            published=a.published, published_iso=a.published.isoformat(),
            published_rfc822=format_datetime(a.published),
            published_display=_display_date(a.published, outlet["language"]),
            summary=a.summary, blocks=_blocks(a.body), category=categories[a.category],
            canonical_url=canonical,
            feed_url=own_url + ("?" + a.feed_query if a.feed_query else ""),
            hot_url=a.path + "?utm_source=hotlist&utm_medium=sidebar",
            original=SimpleNamespace(outlet_title=original_outlet["title"])
            if original_outlet else None,
            related=[],
        )

    mine = sorted((a for a in visible if a.outlet == name), key=lambda a: a.published,
                  reverse=True)
    views = [view(a) for a in mine]
    for v in views:
        near = sorted((o for o in views if o.id != v.id),
                      key=lambda o: abs((o.published - v.published).total_seconds()))
        v.related = near[:3]
    newest = views[0].published if views else None
    oldest = views[-1].published if views else now
    common = {"outlet": outlet, "site_url": base, "most_read": views[:4],
              "hot": [v for v in views if by_id[v.id].hot]}

    def html(template: str, modified: datetime | None, **context: Any) -> Resource:
        text = env.get_template(template).render(**common, **context)
        return Resource(text.encode(encoding), html_type, last_modified=modified)

    robots = outlet.get("robots", "User-agent: *\nDisallow:\n").lstrip("\n")
    robots_type = outlet.get("robots_content_type", "text/plain; charset=utf-8")
    yield "/robots.txt", Resource(robots.replace("{site_url}", base).encode(encoding),
                                  robots_type, last_modified=oldest)

    modified = newest or now
    for doc in outlet.get("documents", []):
        text = env.get_template(doc["template"]).render(
            **common, articles=views, last_modified_iso=modified.isoformat(),
            last_modified_rfc822=format_datetime(modified))
        yield doc["path"], Resource(text.encode("utf-8"), doc["content_type"],
                                    last_modified=modified)

    drafts = [SimpleNamespace(**p) for p in outlet.get("pages", [])
              if p["path"].startswith("/private/")]
    yield "/", html("listing.html", modified, heading=outlet["title"], articles=views, drafts=[])
    if outlet["kind"] == "page":
        yield outlet["entry_path"], html("listing.html", modified, heading=outlet["tagline"],
                                         articles=views, drafts=drafts)
    for category in categories.values():
        listed = [v for v in views if v.category is category]
        yield category["path"], html("listing.html", listed[0].published if listed else modified,
                                     heading=category["title"], articles=listed, drafts=[])
    for page in outlet.get("pages", []):
        page_view = SimpleNamespace(title=page["title"], blocks=_blocks(page["body"]))
        yield page["path"], html("page.html", oldest, page=page_view)
    for v in views:
        yield v.path, html("article.html", v.published, article=v)


def _template(directory: Traversable, name: str) -> str | None:
    entry = directory.joinpath(name)
    return entry.read_text("utf-8") if entry.is_file() else None


def _outlet_by_name(name: str) -> dict[str, Any]:
    for o in _outlet_data():
        if o["name"] == name:
            return o
    raise KeyError(name)


def _blocks(body: str) -> list[tuple[str, str]]:
    out = []
    for chunk in body.strip().split("\n\n"):
        text = " ".join(line.strip() for line in chunk.strip().splitlines())
        if text.startswith("## "):
            out.append(("h2", text[3:]))
        elif text:
            out.append(("p", text))
    return out


def _display_date(moment: datetime, language: str) -> str:
    if language == "zh":
        return moment.strftime("%Y-%m-%d %H:%M")
    if language == "it":
        return f"{moment.day} {ITALIAN_MONTHS[moment.month - 1]} {moment.year}, " \
               f"{moment:%H:%M}"
    return f"{moment:%B} {moment.day}, {moment.year}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

