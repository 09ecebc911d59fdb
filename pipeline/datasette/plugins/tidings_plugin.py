"""tidings' datasette plugin, loaded with `--plugins-dir` by `tidings serve`.

What it does, and why:

- `tidings_fts_query(q)`: a SQL function turning a user's words into the FTS5 expression of
  the store's search form (`pipeline.fts.fts_query`), so the `search` canned query finds
  Chinese words, which are indexed as bigrams. It also stands in for datasette's own
  `escape_fts`, so the search box of the `articles` table understands Chinese too.
- `tidings_plain(text)`: the search form back to readable text (bigram runs joined again),
  for snippets.
- Read-only by construction: every connection to a store file gets `PRAGMA query_only`,
  so no plugin installed in the environment and no canned query can write to the store;
  and any HTTP method but GET, HEAD and OPTIONS is refused with 405.
- The store is served as `/tidings` whatever its file is called, so documented URLs hold.
- In query results (HTML) a `story_id` cell links to the `story_coverage` query of that
  story, an `article_id` cell to the article's row page; JSON lists read "BAIC, Xiaomi"
  and UTC timestamps "2025-06-02 09:37".
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from datasette import hookimpl
from markupsafe import Markup, escape

from pipeline import fts

DATABASE = "tidings"
#: Highlight marks of snippets in the search query (kept by `plain`).
MARK_START, MARK_END = "\u00ab", "\u00bb"  # « »
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
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


@hookimpl(trylast=True)  # after datasette's own functions, so escape_fts is ours
def prepare_connection(conn: sqlite3.Connection, database: str, datasette: Any) -> None:
    conn.create_function("tidings_fts_query", 1, fts.fts_query, deterministic=True)
    conn.create_function("escape_fts", 1, fts.fts_query, deterministic=True)
    conn.create_function("tidings_plain", 1, plain, deterministic=True)
    if _is_store(datasette, database):
        conn.execute("PRAGMA query_only = 1")


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
    """In query results (HTML only; JSON is untouched): links, lists, short times."""
    if table is not None or database != DATABASE:
        return None
    if isinstance(value, str):
        return _readable(column, value)
    if not isinstance(value, int):
        return None
    if column == "story_id":
        href = datasette.urls.query(database, "story_coverage") + f"?story_id={value}"
        return Markup(f'<a href="{escape(href)}" title="the articles of story {value}">'
                      f"story {value}</a>")
    if column == "article_id":
        href = datasette.urls.row(database, "articles", str(value))
        return Markup(f'<a href="{escape(href)}">{value}</a>')
    return None


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
    """Visitors read: any request but GET, HEAD and OPTIONS is answered 405."""

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
            await app(scope, receive, send)

        return read_only

    return wrap
