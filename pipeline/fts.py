"""Full-text search that works for Chinese as well as English and Italian, with the
syntax people expect from a search box: words, "quoted phrases" and OR.

SQLite's unicode61 tokenizer treats a run of Chinese characters as one token, so "小米"
would never match "小米汽车". We index a *search form* of each text in which every run of
CJK characters is also written as overlapping bigrams, and turn a user's query into the
same form. Latin words pass through unchanged (diacritics folded by the tokenizer).
"""

from __future__ import annotations

import re

from .han import HAN_RUN, RANGES

_TOKEN = re.compile(f"[{RANGES}]+|\\w+")


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


def search_form(text: str | None) -> str:
    """The text as indexed: CJK runs replaced by their bigrams, everything else kept."""
    if not text:
        return ""
    return HAN_RUN.sub(lambda m: " " + " ".join(_bigrams(m.group())) + " ", text)


class SearchSyntaxError(ValueError):
    """A search the user typed cannot be read; the message says why and how to write it."""


_PART = re.compile(r'"([^"]*)"|(\S+)')
_UNCLOSED = re.compile(r'"[^"]*$')


def fts_query(query: str | None, *, strict: bool = False) -> str:
    """A user's search → an FTS5 MATCH expression.

    Words must all occur (in any order); ``"battery plant"`` is a phrase (its words side by
    side); ``Xiaomi OR BAIC`` is either (OR binds the words beside it:
    ``plant Xiaomi OR BAIC`` is plant and either company). A Chinese word becomes the
    phrase of its bigrams, so 小米 finds 小米汽车. Any other punctuation is ignored, and
    every word is quoted, so no input is an FTS5 syntax error.

    Unreadable input (an unclosed quote, OR with nothing on one side) raises
    `SearchSyntaxError` when `strict`, else is read as plain words."""
    if not query or not query.strip():
        return '""'
    try:
        return _expression(query)
    except SearchSyntaxError:
        if strict:
            raise
        return _expression(" ".join(t for t in query.replace('"', " ").split() if t != "OR"))


def _expression(query: str) -> str:
    unclosed = _UNCLOSED.search(query) if query.count('"') % 2 else None
    if unclosed:
        shown = unclosed.group()[1:30].strip()
        where = f" before “{shown}”" if shown else " at the end"
        raise SearchSyntaxError(
            f"Search: the quote{where} is never closed. Put a phrase between two "
            'double quotes, e.g. "battery plant".')
    groups: list[list[str]] = []  # AND of ORs
    pending_or = False
    for match in _PART.finditer(query):
        phrase, bare = match.group(1), match.group(2)
        if bare == "OR":
            if not groups or pending_or:
                raise SearchSyntaxError(
                    "Search: OR needs a word or a quoted phrase on each side, e.g. "
                    "Xiaomi OR BAIC.")
            pending_or = True
            continue
        if bare == "AND":
            continue
        operand = _phrase(phrase) if phrase is not None else _words(bare or "")
        if operand is None:
            continue
        if pending_or:
            groups[-1].append(operand)
        else:
            groups.append([operand])
        pending_or = False
    if pending_or:
        raise SearchSyntaxError(
            "Search: OR needs a word or a quoted phrase on each side, e.g. Xiaomi OR BAIC.")
    if not groups:
        return '""'
    parts = [group[0] if len(group) == 1 else "(" + " OR ".join(group) + ")"
             for group in groups]
    return " AND ".join(parts)


def _forms(text: str) -> list[str]:
    """The indexed forms of the tokens of `text`: words, and CJK runs as bigrams."""
    out: list[str] = []
    for token in _TOKEN.findall(text):
        out += _bigrams(token) if HAN_RUN.fullmatch(token) else [token]
    return out


def _phrase(text: str) -> str | None:
    forms = _forms(text)
    return '"' + " ".join(forms) + '"' if forms else None


def _words(text: str) -> str | None:
    """A bare word: each token must occur; a CJK run is the phrase of its bigrams."""
    parts = []
    for token in _TOKEN.findall(text):
        if HAN_RUN.fullmatch(token):
            parts.append('"' + " ".join(_bigrams(token)) + '"')
        else:
            parts.append('"' + token + '"')
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"
