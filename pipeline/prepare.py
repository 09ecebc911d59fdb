"""The pure stages of a page, in order: extract → language → translation status →
relevance → fingerprint and index keys (the rest of the stage order is in
`pipeline.runner`).

No I/O, so it runs as well in a worker process: a worker imports this module and the
stages, not the runner with its HTTP client and store, so each worker holds only what
the stages need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import Config
from .errors import ExtractError
from .models import Article, Page
from .relevance import Matcher
from .translate import translation_status

if TYPE_CHECKING:  # numpy, trafilatura and the embedding load on the first page, not before
    from . import stories


@dataclass(slots=True)
class Prepared:
    """A page after the pure stages: ready to be placed and stored."""

    article: Article
    fingerprint: stories.Fingerprint
    keys: list[str]


class Preparer:
    """The pure stages, in order. `installed`: the languages with a translation package,
    as the pass starts (read by the parent: a worker looks at no folder)."""

    def __init__(self, config: Config, installed: frozenset[str]) -> None:
        self.config = config
        self.installed = installed
        self.matcher = Matcher.from_config(config.watch, config.topic)

    def __call__(self, page: Page) -> Prepared | ExtractError:
        from . import extract, language, stories
        try:
            article = extract.extract(page, min_chars=self.config.fetch.min_text_chars)
        except ExtractError as exc:  # an outcome (no article here), not a crash
            return exc
        article = language.detect_article(article)
        status, reason = translation_status(article.lang, self.config.translate,
                                            article.lang in self.installed)
        article = article.replace(translation_status=status, translation_error=reason)
        article = self.matcher.judge(article)
        fingerprint = stories.fingerprint(article)
        return Prepared(article, fingerprint, stories.index_keys(fingerprint))
