"""Full-text search that works for Chinese as well as English and Italian.

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


def fts_query(query: str | None) -> str:
    """A user's words → an FTS5 MATCH expression: every word must occur; a Chinese word
    becomes the phrase of its bigrams. Quoting every token means no FTS syntax errors."""
    if not query:
        return '""'
    parts = []
    for token in _TOKEN.findall(query):
        if HAN_RUN.fullmatch(token):
            parts.append('"' + " ".join(_bigrams(token)) + '"')
        else:
            parts.append('"' + token.replace('"', "") + '"')
    return " AND ".join(parts) if parts else '""'
