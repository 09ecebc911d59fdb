"""Relevance: which watched companies an article names, and whether it is car news.

Latin-script aliases match on word boundaries ("SU7" never inside "SU75"), Chinese ones as
substrings (Chinese has no spaces). URLs are removed first, so a link slug is not a mention.
An article is relevant when it names a watched entity and its car-topic terms outweigh
its phone-topic terms ("a Xiaomi phone launch" is not car news).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import TopicConfig, WatchConfig
from .han import HAN
from .models import Article

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def _pattern(terms: tuple[str, ...], *, plural: bool) -> re.Pattern[str] | None:
    """One regex for a list of terms: Latin ones inside a single pair of word-boundary
    lookarounds (one per term would cost ~6× more on long texts), Chinese ones bare."""
    ordered = sorted(set(terms), key=len, reverse=True)
    latin = [re.escape(t).replace(r"\ ", r"\s+") for t in ordered if not HAN.search(t)]
    cjk = [re.escape(t) for t in ordered if HAN.search(t)]
    parts = []
    if latin:
        suffix = r"(?:s|es)?" if plural else ""
        parts.append(rf"(?<!\w)(?:{'|'.join(latin)}){suffix}(?!\w)")
    parts += cjk
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


@dataclass(frozen=True, slots=True)
class Matcher:
    """Compiled once per pass from the watchlist and topic configuration."""

    watch: tuple[tuple[str, re.Pattern[str]], ...]
    topic: re.Pattern[str] | None
    off_topic: re.Pattern[str] | None

    @classmethod
    def from_config(cls, watch: tuple[WatchConfig, ...], topic: TopicConfig) -> Matcher:
        compiled = []
        for item in watch:
            pattern = _pattern(item.aliases, plural=False)
            if pattern is not None:
                compiled.append((item.name, pattern))
        return cls(watch=tuple(compiled), topic=_pattern(topic.terms, plural=True),
                   off_topic=_pattern(topic.off_topic, plural=True))

    def entities(self, text: str, *, unlinked: bool = False) -> list[str]:
        """The watched entities `text` names (`unlinked`: its URLs already removed)."""
        text = text if unlinked else _URL.sub(" ", text)
        return [name for name, pattern in self.watch if pattern.search(text)]

    def topic_terms(self, text: str, *, unlinked: bool = False) -> tuple[list[str], int, int]:
        """(distinct topic terms found, topic hits, off-topic hits)."""
        text = text if unlinked else _URL.sub(" ", text)
        hits = [m.group(0) for m in self.topic.finditer(text)] if self.topic else []
        off = len(self.off_topic.findall(text)) if self.off_topic else 0
        distinct = sorted({h.casefold() for h in hits})
        return distinct, len(hits), off

    def judge(self, article: Article) -> Article:
        text = f"{article.title}\n{article.text}"
        if article.text_en or article.title_en:
            text += f"\n{article.title_en or ''}\n{article.text_en or ''}"
        text = _URL.sub(" ", text)
        entities = self.entities(text, unlinked=True)
        terms, hits, off = self.topic_terms(text, unlinked=True)
        relevant = bool(entities) and hits > 0 and hits > off
        return article.replace(entities=entities, topic_terms=terms, relevant=relevant)
