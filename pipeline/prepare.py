"""The pure stages of a page, in order: extract → language and translation status →
relevance → embedding → fingerprint and index keys (the rest of the stage order is in
`pipeline.runner`).

No I/O, so it runs as well in a worker process: a worker imports this module and the
stages, not the runner with its HTTP client and store, so each worker holds only what
the stages need. A worker runs each stage over its whole chunk of pages before the next
stage (`WorkerPool`'s `stages`): a stage's code and tables (trafilatura's, langdetect's
profiles, the model's weights) are then still in the CPU's caches for the next page:
0.86-0.90 of the CPU of page by page on the generated web, in one process (`python -m
bench.stage_order`, two runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .config import Config
from .errors import ExtractError
from .models import Article, Page
from .relevance import Matcher
from .translate import translation_status

if TYPE_CHECKING:  # numpy, trafilatura and the embedding load on the first page, not before
    import numpy as np

    from . import stories


@dataclass(slots=True)
class Prepared:
    """A page after the pure stages: ready to be placed and stored."""

    article: Article
    fingerprint: stories.Fingerprint
    keys: list[str]


class _Embedded(NamedTuple):
    article: Article
    vector: np.ndarray


class Preparer:
    """The pure stages, in order (`STAGES`, the names of its methods). `installed`: the
    languages with a translation package, as the pass starts (read by the parent: a worker
    looks at no folder). A page without article text raises `ExtractError` in the first
    stage, which ends its way through them (in a worker too: an item whose stage raised
    skips the later ones)."""

    STAGES = ("extract", "language", "relevance", "embedding", "fingerprint")

    def __init__(self, config: Config, installed: frozenset[str]) -> None:
        self.config = config
        self.installed = installed
        self.matcher = Matcher.from_config(config.watch, config.topic)

    def __call__(self, page: Page) -> Prepared | ExtractError:
        done: Any = page
        try:
            for stage in self.STAGES:
                done = getattr(self, stage)(done)
        except ExtractError as exc:  # an outcome (no article here), not a crash
            return exc
        assert isinstance(done, Prepared)
        return done

    def extract(self, page: Page) -> Article:
        from . import extract
        return extract.extract(page, min_chars=self.config.fetch.min_text_chars)

    def language(self, article: Article) -> Article:
        from . import language
        article = language.detect_article(article)
        status, reason = translation_status(article.lang, self.config.translate,
                                            article.lang in self.installed)
        return article.replace(translation_status=status, translation_error=reason)

    def relevance(self, article: Article) -> Article:
        return self.matcher.judge(article)

    def embedding(self, article: Article) -> _Embedded:
        from . import stories
        return _Embedded(article, stories.embedding(article))

    def fingerprint(self, embedded: _Embedded) -> Prepared:
        from . import stories
        article, vector = embedded
        fingerprint = stories.fingerprint(article, vector=vector)
        return Prepared(article, fingerprint, stories.index_keys(fingerprint))
