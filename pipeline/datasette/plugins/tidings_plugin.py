"""tidings' datasette plugin, loaded with `--plugins-dir` by `tidings serve` (the templates
beside it come with `--template-dir`).

What it does, and why:

- `tidings_fts_query(q)`: a SQL function turning a user's words into the FTS5 expression of
  the store's search form (`pipeline.fts.fts_query`: words, "phrases", OR), so search finds
  Chinese words, which are indexed as bigrams. It also stands in for datasette's own
  `escape_fts`, so the search box of the `articles` table understands all this too (and
  reads unreadable input as plain words).
- `:_fts_q` in a canned query (the `search` query) is the same expression made from the
  request's `q`, but a search that cannot be read (an unclosed quote, a lone OR) fails
  with a message saying how to write it, shown above the results (400 in JSON).
- `tidings_plain(text)`: the search form back to readable text (bigram runs joined again),
  for snippets; in HTML the matches are highlighted (<mark>), in JSON marked «».
- `tidings_summary(text, lang)`: two or three content sentences (`pipeline.summary`).
- `/tidings/new_developments.atom`: the `new_developments` query as an Atom feed
  (`pipeline.feed`), its entries exactly the query's rows.
- Read-only by construction: every connection to a store file gets `PRAGMA query_only`,
  so no plugin installed in the environment and no canned query can write to the store;
  and any HTTP method but GET, HEAD and OPTIONS is refused with 405.
- The store is served as `/tidings` whatever its file is called, so documented URLs hold.
- Pages read like a tool: column notes folded away on table pages (the data stays above
  the fold), long texts cut to a few lines in table lists (whole on the row page), the SQL
  editor opening on the `new_developments` query.
- In query results (HTML) a `story_id` or `follows` cell links to the `story_coverage`
  query of that story, an `article_id` cell to the article's row page; JSON lists read
  "BAIC, Xiaomi" (in tables too) and UTC timestamps "2025-06-02 09:37".
"""

from __future__ import annotations

import contextvars
import json
import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from pipeline import feed, fts, han, summary, textwidth

DATABASE = "tidings"
#: Highlight marks of snippets in the search query (kept by `plain`).
MARK_START, MARK_END = "\u00ab", "\u00bb"  # « »
_CJK = han.RANGES
_TOKEN = f"{MARK_START}?[{_CJK}]{{1,2}}{MARK_END}?"
# A run of the search form: CJK bigrams (the first may be a lone character) joined by
# single spaces, some highlighted; "小米 米汽 汽车" is "小米汽车" written as bigrams.
_BIGRAM_RUN = re.compile(f"{_TOKEN}(?: {_TOKEN})*")
_SPACES = re.compile(r" {2,}")
# search_form spaces out every CJK run; Chinese is written without them.
_WIDE = f"{_CJK}\u3000-\u303f\uff00-\uffef"
_MARKS = MARK_START + MARK_END


def _between(left: str, right: str) -> str:
    """Spaces with `left` before and `right` after (a highlight mark may sit between)."""
    return f"(?:(?<=[{left}])|(?<=[{left}][{_MARKS}])) +(?=[{_MARKS}]?[{right}])"


# Spaces the search form put between Chinese and Chinese, or Chinese and digits.
_CJK_SPACE = re.compile(f"{_between(_WIDE, _WIDE + '0-9')}|{_between('0-9', _WIDE)}")
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
FEED_QUERY = "new_developments"
#: Columns whose long texts are cut in table lists (whole on the row page).
LONG_COLUMNS = {"text", "text_en", "fingerprint", "evidence", "report", "body",
                "follows_evidence", "translation_error", "last_error", "error"}
LIST_COLUMNS = 120  # display columns: 120 Latin letters, 60 Chinese characters
# Which kind of page the request in hand renders: render_cell is not told.
_PAGE: contextvars.ContextVar[str] = contextvars.ContextVar("tidings_page", default="")
_LIST_COLUMNS = {"entities", "languages", "sources", "topic_terms", "recipients"}
_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d):\d\d(?:\.\d+)?(?:\+00:00|Z)")


def plain(text: str | None) -> str | None:
    """Undo `fts.search_form` for display: "小米 米汽 汽车" → "小米汽车", and
    "北汽 汽和 和小 «小米» 米汽 汽车" → "北汽和«小米»汽车"."""
    if not text:
        return text

    def join(match: re.Match[str]) -> str:
        chars: list[list[Any]] = []  # [character, highlighted]
        inside = False  # FTS5 marks a matched phrase once: «小米 米汽»
        for token in match.group().split(" "):
            lit = inside or token.startswith(MARK_START)
            inside = lit and not token.endswith(MARK_END)
            core = token.strip(MARK_START + MARK_END)
            if chars and chars[-1][0] == core[0]:
                chars[-1][1] = chars[-1][1] or lit
                core = core[1:]
            chars += [[c, lit] for c in core]
        out, open_ = "", False
        for char, lit in chars:
            if lit != open_:
                out += MARK_START if lit else MARK_END
                open_ = lit
            out += char
        return out + (MARK_END if open_ else "")

    text = _CJK_SPACE.sub("", _BIGRAM_RUN.sub(join, text))
    return _SPACES.sub(" ", text).strip()


def _is_store(datasette: Any, database: str) -> bool:
    db = datasette.databases.get(database)
    return bool(db is not None and db.path and not db.is_memory)


def summarize(text: str | None, lang: str | None) -> str:
    """`tidings_summary()`: the content sentences of a lead article's text."""
    return summary.summarize(text or "", lang or "en")


def _lenient(query: str | None) -> str:
    return fts.fts_query(query)


@hookimpl(trylast=True)  # after datasette's own functions, so escape_fts is ours
def prepare_connection(conn: sqlite3.Connection, database: str, datasette: Any) -> None:
    conn.create_function("tidings_fts_query", 1, _lenient, deterministic=True)
    conn.create_function("escape_fts", 1, _lenient, deterministic=True)
    conn.create_function("tidings_plain", 1, plain, deterministic=True)
    conn.create_function("tidings_summary", 2, summarize, deterministic=True)
    if _is_store(datasette, database):
        conn.execute("PRAGMA query_only = 1")


def search_expression(key: str, request: Any) -> str:
    """`:_fts_KEY`: the FTS5 expression of the request's KEY parameter; a search that
    cannot be read fails the query with a message that says how to write it."""
    try:
        return fts.fts_query(request.args.get(key) if request is not None else None,
                             strict=True)
    except fts.SearchSyntaxError as exc:
        # raised while SQLite binds the parameter: datasette shows it as the query's error
        raise sqlite3.OperationalError(str(exc)) from exc


@hookimpl
def register_magic_parameters(datasette: Any) -> list[tuple[str, Any]]:
    return [("fts", search_expression)]


@hookimpl
def startup(datasette: Any) -> None:
    """Serve the store as /tidings, whatever its file name (metadata is keyed by it)."""
    if DATABASE in datasette.databases:
        return
    files = [name for name in datasette.databases if _is_store(datasette, name)]
    if len(files) == 1:
        db = datasette.databases[files[0]]
        datasette.remove_database(files[0])
        datasette.add_database(db, name=DATABASE)


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Markup | str | None:
    """Tables (HTML only; JSON is untouched): long texts cut in lists, JSON lists as
    "a, b". Query results: highlighted snippets, links, lists, short times."""
    if database != DATABASE:
        return None
    if table is not None:
        if (_PAGE.get() == "table" and column in LONG_COLUMNS and isinstance(value, str)
                and textwidth.width(value[:LIST_COLUMNS + 1]) > LIST_COLUMNS):
            head = " ".join(value[:LIST_COLUMNS * 2].split())
            cut = textwidth.truncate(head, LIST_COLUMNS, ellipsis="")
            return Markup(f'<span class="tidings-cut">{escape(cut)}…</span>')
        if column in _LIST_COLUMNS and isinstance(value, str):
            return _readable(column, value)
        return None
    if column == "snippet" and isinstance(value, str):
        return highlight(value)
    if isinstance(value, str):
        return _readable(column, value)
    if not isinstance(value, int):
        return None
    if column in ("story_id", "follows"):
        href = datasette.urls.query(database, "story_coverage") + f"?story_id={value}"
        return Markup(f'<a href="{escape(href)}" title="the articles of story {value}">'
                      f"story {value}</a>")
    if column == "article_id":
        href = datasette.urls.row(database, "articles", str(value))
        return Markup(f'<a href="{escape(href)}">{value}</a>')
    return None


def highlight(snippet: str) -> Markup:
    """A snippet with its «marks» as <mark> elements, everything else escaped."""
    out, inside = [], False
    for part in re.split(f"([{_MARKS}])", snippet):
        if part == MARK_START and not inside:
            out.append("<mark>")
            inside = True
        elif part == MARK_END and inside:
            out.append("</mark>")
            inside = False
        elif part not in (MARK_START, MARK_END):
            out.append(str(escape(part)))
    if inside:
        out.append("</mark>")
    return Markup("".join(out))


def _readable(column: str, value: str) -> Markup | str | None:
    """A JSON list as "a, b"; a UTC timestamp as "2025-06-02 09:37" (full one on hover)."""
    if column in _LIST_COLUMNS and value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            return None
        return ", ".join(str(i) for i in items) if isinstance(items, list) else None
    match = _TIME.fullmatch(value)
    if match:
        return Markup(f'<span title="{escape(value)}">{match[1]} {match[2]}</span>')
    return None


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    """Visitors read: any request but GET, HEAD and OPTIONS is answered 405. Also notes
    which kind of page is asked for (a table list or a row), for render_cell."""

    def wrap(app: Any) -> Any:
        async def read_only(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope.get("method", "GET") not in _READ_METHODS:
                body = b"tidings serves this store read-only\n"
                await send({"type": "http.response.start", "status": 405,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"allow", b"GET, HEAD, OPTIONS"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            token = _PAGE.set(_page_kind(scope.get("path", "")))
            try:
                await app(scope, receive, send)
            finally:
                _PAGE.reset(token)

        return read_only

    return wrap


def _page_kind(path: str) -> str:
    """"table" for /tidings/TABLE, "row" for /tidings/TABLE/ID, else ""."""
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2 and parts[0] == DATABASE and "." not in parts[1]:
        return "table"
    if len(parts) == 3 and parts[0] == DATABASE:
        return "row"
    return ""


# ------------------------------------------------------------------------------ pages
@hookimpl
def extra_template_vars(template: str, database: str | None, table: str | None,
                        view_name: str, request: Any, datasette: Any) -> Any:
    """Column notes folded away on table pages; the SQL editor of the database page opens
    on the new_developments query (templates/table.html, templates/database.html)."""
    if database != DATABASE:
        return {}
    if view_name == "table" and table:
        meta = dict(datasette.table_metadata(database, table))
        notes = meta.pop("columns", None) or {}
        return {"metadata": meta, "tidings_column_notes": notes}
    if view_name == "database":
        async def database_vars() -> dict[str, Any]:
            allowed = await datasette.permission_allowed(
                request.actor if request else None, "execute-sql", database, default=True)
            queries = (datasette.metadata("queries", database=database) or {})
            sql = (queries.get(FEED_QUERY) or {}).get("sql") or "select sqlite_version()"
            # the page's own form opens on the first table (_sqlite_migrations): ours
            # replaces it
            return {"allow_execute_sql": False, "tidings_allow_sql": allowed,
                    "tidings_sql": sql}
        return database_vars
    return {}


# ------------------------------------------------------------------------------ the feed
@hookimpl
def register_output_renderer(datasette: Any) -> dict[str, Any]:
    return {"extension": "atom", "render": render_atom, "can_render": can_render_atom}


def can_render_atom(query_name: str | None, database: str | None) -> bool:
    return query_name == FEED_QUERY and database == DATABASE


def render_atom(datasette: Any, request: Any, rows: list[Any], columns: list[str],
                query_name: str | None, database: str | None, data: dict[str, Any]) -> Response:
    """The new_developments rows as an Atom feed (pipeline.feed)."""
    if not can_render_atom(query_name, database):
        return Response.text("Only /tidings/new_developments has an Atom feed\n", status=404)
    if data.get("error"):
        return Response.text(f"{data['error']}\n", status=500)
    coverage = datasette.urls.query(DATABASE, "story_coverage")
    entries = []
    for row in rows:
        item = dict(zip(columns, row, strict=False))
        follows = item.get("follows")
        entries.append(feed.FeedEntry(
            story_id=int(item["story_id"]),
            headline=str(item.get("headline") or ""),
            first_seen=str(item["first_seen"]),
            published=str(item.get("published_at") or item["first_seen"]),
            updated=str(item.get("last_seen") or item["first_seen"]),
            summary=str(item.get("summary") or ""),
            link=_web_link(item.get("link")),
            coverage=datasette.absolute_url(request, f"{coverage}?story_id={item['story_id']}"),
            entities=_json_list(item.get("entities")),
            sources=_json_list(item.get("sources")),
            languages=_json_list(item.get("languages")),
            importance=item.get("importance"),
            follows=str(item.get("follows_headline") or f"story {follows}")
            if follows is not None else None,
            follows_link=datasette.absolute_url(request, f"{coverage}?story_id={follows}")
            if follows is not None else None))
    title = (datasette.metadata("queries", database=DATABASE) or {}).get(
        FEED_QUERY, {}).get("title") or "New developments"
    page = datasette.absolute_url(request, datasette.urls.query(DATABASE, FEED_QUERY))
    body = feed.atom_feed(entries, title=f"tidings: {title.lower()}",
                          self_url=page + ".atom", page_url=page, now=datetime.now(UTC))
    return Response(body, content_type=feed.ATOM_TYPE)


def _json_list(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def _web_link(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if re.match(r"https?://[^\s]+$", text) else None
