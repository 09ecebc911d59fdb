"""The translation stage: batched CTranslate2 over Argos packages, nothing lost.

`Translator.translate_articles` takes articles and returns updated copies. Per package
(`pipeline.packages` lists and installs them): every title and paragraph is split into
sentences by `pipeline.sentences` (our own splitter: Argos' MiniSBD would download a
model at run time); the cache is asked for all sentences at once; only the misses, each
distinct sentence once, are tokenised with the package's SentencePiece model; sentences
longer than ``translate.max_sentence_tokens`` are cut into chunks at piece boundaries
(never truncated); the chunks of *all* articles are sorted by length and grouped into
batches of at most ``translate.batch_tokens`` padded tokens, one ``translate_batch`` call
each, with ``max_decoding_length`` bounded by the batch's longest input. One
``ctranslate2.Translator`` per package per process, loaded on first use, int8 on CPU.

Statuses (contract), decided by `translation_status` alone:
    ``not_needed``  the article is in the target language;
    ``done``        translated: ``title_en``, ``text_en``, ``translation_package`` set;
    ``pending``     the language is configured but no package is installed: the
                    original text is kept and ``tidings translate`` picks it up later;
    ``failed``      CTranslate2/SentencePiece raised, or the language is not in
                    ``translate.languages``: ``translation_error`` says why, the article
                    is kept.

`TranslationStage` applies a translator to stored articles; `TranslatorKeeper` keeps one
translator (so each model loaded once) for a process that runs many passes.

Importing this module is cheap: CTranslate2 and SentencePiece are imported only when a
package is loaded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .models import Article
from .packages import INSTALL_HINT, PackageInfo, list_packages, version_key
from .sentences import split_sentences

if TYPE_CHECKING:
    from .config import Config, TranslateConfig
    from .store import Store

__all__ = [
    "MemoryCache",
    "TranslateStats",
    "TranslationCache",
    "TranslationStage",
    "Translator",
    "TranslatorKeeper",
    "translation_status",
]

log = logging.getLogger(__name__)

#: Output may be at most this many times the input's pieces, plus a margin: a real model
#: stops far earlier; a broken or random one cannot run away.
DECODE_RATIO = 2
DECODE_MARGIN = 10

_PARAGRAPH_BREAK = re.compile(r"(\s*\n\s*)")
_CHUNK_PUNCT = frozenset(",;:，、；：)")


# ------------------------------------------------------------------------ the rule


def translation_status(lang: str, config: TranslateConfig,
                       installed: bool) -> tuple[str, str | None]:
    """The status of an article in `lang` before it is translated, and why: the one rule
    of the contract's statuses. `installed`: a package for `lang` is installed, so
    ``pending`` (with no reason) means the translator takes it now."""
    base = _base(lang)
    if base == _base(config.target):
        return "not_needed", None
    if lang not in config.languages and base not in config.languages:
        return "failed", (f"untranslatable by configuration: language {lang!r} is not in "
                          "translate.languages")
    if not installed:
        return "pending", (f"no Argos package for {base}→{config.target} in "
                           f"{config.package_dir}; install one with: {INSTALL_HINT}")
    return "pending", None


# ------------------------------------------------------------------------------ cache


class TranslationCache(Protocol):
    """Sentence-level translations keyed by package (``"name version"``) and source."""

    def cached_translations(self, package_key: str, sentences: list[str]) -> dict[str, str]: ...

    def cache_translations(self, package_key: str, pairs: list[tuple[str, str]]) -> None: ...


class MemoryCache:
    """A dict-backed `TranslationCache` for one process (the store has a persistent one)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], str] = {}

    def cached_translations(self, package_key: str, sentences: list[str]) -> dict[str, str]:
        out = {}
        for sentence in sentences:
            hit = self._data.get((package_key, sentence))
            if hit is not None:
                out[sentence] = hit
        return out

    def cache_translations(self, package_key: str, pairs: list[tuple[str, str]]) -> None:
        for source, target in pairs:
            self._data[(package_key, source)] = target

    def __len__(self) -> int:
        return len(self._data)


# ------------------------------------------------------------------------- translator


@dataclass
class TranslateStats:
    """What the translator did, cumulatively (tests and the benchmark read it)."""

    articles_done: int = 0
    articles_pending: int = 0
    articles_failed: int = 0
    sentences: int = 0  # distinct sentences asked for, per call and package
    cache_hits: int = 0
    translated: int = 0  # distinct sentences sent to CTranslate2
    split_sentences: int = 0  # sentences longer than max_sentence_tokens
    chunks: int = 0  # CTranslate2 inputs (a split sentence counts each chunk)
    batches: int = 0  # translate_batch calls
    output_tokens: int = 0  # pieces CTranslate2 produced (decoding work)
    model_loads: int = 0
    model_seconds: float = 0.0  # inside translate_batch


@dataclass
class _Loaded:
    info: PackageInfo
    sp: Any  # sentencepiece.SentencePieceProcessor
    model: Any  # ctranslate2.Translator
    target_prefix: str = ""


@dataclass
class _Plan:
    """One article's text laid out as sentences, to be put back together."""

    index: int
    article: Article
    title: list[str]
    paragraphs: list[list[str]]
    separators: list[str]
    sentences: list[str] = field(default_factory=list)


class Translator:
    """Translates articles with the installed Argos packages; see the module docstring.

    One instance per process: it keeps one loaded CTranslate2 model per package. Thread
    safe (calls are serialised).
    """

    def __init__(self, config: TranslateConfig) -> None:
        self.config = config
        self.memory = MemoryCache()  # used when a call brings no cache of its own
        self.stats = TranslateStats()
        self._loaded: dict[Path, _Loaded] = {}
        self._lock = threading.Lock()

    def package_for(self, lang: str) -> PackageInfo | None:
        """The installed package from `lang` to the target (newest version), if any."""
        return _pick(list_packages(self.config), lang, self.config.target)

    # ---- the stage

    def translate_articles(self, articles: Sequence[Article],
                           cache: TranslationCache | None = None) -> list[Article]:
        """Updated copies of `articles`, in order; never raises for one article's sake.
        `cache` (else the translator's memory) keeps sentences translated before."""
        with self._lock:
            return self._translate_articles(list(articles),
                                            cache if cache is not None else self.memory)

    def _translate_articles(self, articles: list[Article],
                            cache: TranslationCache) -> list[Article]:
        out = list(articles)
        packages = list_packages(self.config)
        jobs: dict[Path, tuple[PackageInfo, list[int]]] = {}
        for i, article in enumerate(articles):
            info = _pick(packages, article.lang or "", self.config.target)
            status, reason = translation_status(article.lang or "", self.config, info is not None)
            if status == "pending" and info is not None:
                jobs.setdefault(info.path, (info, []))[1].append(i)
                continue
            if status == "failed":
                self.stats.articles_failed += 1
            elif status == "pending":
                self.stats.articles_pending += 1
            out[i] = article.replace(translation_status=status, translation_error=reason,
                                     translation_package=None, title_en=None, text_en=None)
        for info, indexes in jobs.values():
            items = [(i, articles[i]) for i in indexes]
            for i, article in self._translate_with(info, items, cache):
                out[i] = article
        return out

    def _translate_with(self, info: PackageInfo, items: list[tuple[int, Article]],
                        cache: TranslationCache) -> list[tuple[int, Article]]:
        def failed(article: Article, reason: str) -> Article:
            self.stats.articles_failed += 1
            return article.replace(translation_status="failed", translation_package=info.key,
                                   translation_error=reason)

        plans = [_plan(i, a) for i, a in items]
        wanted = list(dict.fromkeys(s for plan in plans for s in plan.sentences))
        self.stats.sentences += len(wanted)
        try:
            known = dict(cache.cached_translations(info.key, wanted)) if wanted else {}
        except Exception as exc:  # noqa: BLE001 - a broken cache must not stop translation
            log.warning("translation cache lookup failed, translating everything: %s", exc)
            known = {}
        self.stats.cache_hits += len(known)
        misses = [s for s in wanted if s not in known]
        errors: dict[str, str] = {}
        if misses:  # the model is loaded only when the cache cannot answer everything
            try:
                loaded = self._load(info)
            except Exception as exc:  # noqa: BLE001 - a load error fails these articles only
                reason = f"cannot load Argos package {info.key} from {info.path}: {exc}"
                log.warning(reason)
                fresh: dict[str, str] = {}
                errors = dict.fromkeys(misses, reason)
            else:
                fresh, errors = self._translate_sentences(loaded, misses)
            known.update(fresh)
            if fresh:
                try:
                    cache.cache_translations(info.key, list(fresh.items()))
                except Exception as exc:  # noqa: BLE001
                    log.warning("translation cache store failed: %s", exc)

        results = []
        for plan in plans:
            missing = [s for s in plan.sentences if s not in known]
            if missing:
                reason = errors.get(missing[0], "translation produced nothing")
                results.append((plan.index, failed(plan.article, reason)))
                continue
            self.stats.articles_done += 1
            title_en = " ".join(known[s] for s in plan.title).strip()
            paragraphs = [" ".join(known[s] for s in p).strip() for p in plan.paragraphs]
            text_en = "".join(p + sep for p, sep in zip(paragraphs, plan.separators, strict=True))
            results.append((plan.index, plan.article.replace(
                title_en=title_en, text_en=text_en.strip(), translation_status="done",
                translation_package=info.key, translation_error=None)))
        return results

    def _translate_sentences(self, loaded: _Loaded,
                             sentences: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Translations of `sentences`, and the error of each one that failed."""
        config = self.config
        try:
            pieces = loaded.sp.encode(sentences, out_type=str)
        except Exception as exc:  # noqa: BLE001
            reason = f"{loaded.info.key}: SentencePiece failed: {exc}"
            return {}, dict.fromkeys(sentences, reason)
        units: list[list[str]] = []
        owner: list[int] = []
        for i, tokens in enumerate(pieces):
            chunks = _chunk(tokens, config.max_sentence_tokens)
            if len(chunks) > 1:
                self.stats.split_sentences += 1
            units.extend(chunks)
            owner.extend([i] * len(chunks))
        self.stats.translated += len(sentences)
        self.stats.chunks += len(units)

        outputs: list[str | None] = [None] * len(units)
        errors: dict[str, str] = {}
        prefix = loaded.target_prefix
        for batch in _batches([len(u) for u in units], config.batch_tokens):
            source = [units[k] for k in batch]
            longest = max(len(s) for s in source)
            started = time.perf_counter()
            try:
                results = loaded.model.translate_batch(
                    source,
                    target_prefix=[[prefix]] * len(source) if prefix else None,
                    beam_size=config.beam_size,
                    max_batch_size=config.batch_tokens,
                    batch_type="tokens",
                    max_input_length=0,  # never truncate: long sentences were chunked
                    max_decoding_length=DECODE_RATIO * longest + DECODE_MARGIN,
                    min_decoding_length=1,
                    replace_unknowns=True,
                    length_penalty=0.2,
                )
                texts = [_detok(loaded.sp, r.hypotheses[0], prefix) for r in results]
                self.stats.output_tokens += sum(len(r.hypotheses[0]) for r in results)
            except Exception as exc:  # noqa: BLE001 - CTranslate2 raises RuntimeError & co
                reason = f"{loaded.info.key}: CTranslate2 failed: {exc}"
                log.warning(reason)
                for k in batch:
                    errors[sentences[owner[k]]] = reason
                continue
            finally:
                self.stats.batches += 1
                self.stats.model_seconds += time.perf_counter() - started
            for k, text in zip(batch, texts, strict=True):
                outputs[k] = text

        parts: list[list[str]] = [[] for _ in sentences]
        broken: set[int] = set()
        for k, output in enumerate(outputs):
            if output is None:
                broken.add(owner[k])
            else:
                parts[owner[k]].append(output)
        done = {sentences[i]: " ".join(p for p in parts[i] if p)
                for i in range(len(sentences)) if i not in broken}
        return done, errors

    def _load(self, info: PackageInfo) -> _Loaded:
        loaded = self._loaded.get(info.path)
        if loaded is not None and loaded.info == info:
            return loaded
        import ctranslate2
        import sentencepiece

        sp = sentencepiece.SentencePieceProcessor(
            model_file=str(info.path / "sentencepiece.model"))
        threads = self.config.threads or os.cpu_count() or 1
        model = ctranslate2.Translator(
            str(info.path / "model"), device="cpu", compute_type="int8",
            inter_threads=1, intra_threads=threads)
        metadata = json.loads((info.path / "metadata.json").read_text("utf-8"))
        loaded = _Loaded(info=info, sp=sp, model=model,
                         target_prefix=str(metadata.get("target_prefix") or ""))
        self._loaded[info.path] = loaded
        self.stats.model_loads += 1
        log.info("loaded Argos package %s (%d threads)", info.key, threads)
        return loaded


# --------------------------------------------------------------------------- helpers


def _base(lang: str) -> str:
    """``zh-cn`` → ``zh``; codes compare lower-case."""
    return lang.lower().replace("_", "-").split("-")[0]


def _pick(packages: list[PackageInfo], lang: str, target: str) -> PackageInfo | None:
    for code in dict.fromkeys([lang.lower(), _base(lang)]):
        matches = [p for p in packages if p.from_code.lower() == code
                   and _base(p.to_code) == _base(target)]
        if matches:
            return max(matches, key=lambda p: version_key(p.version))
    return None


def _plan(index: int, article: Article) -> _Plan:
    lang = article.lang or ""
    title = split_sentences(article.title or "", lang)
    pieces = _PARAGRAPH_BREAK.split((article.text or "").strip())
    paragraphs = [split_sentences(p, lang) for p in pieces[0::2]]
    separators = ["\n\n" if sep.count("\n") > 1 else "\n" for sep in pieces[1::2]] + [""]
    sentences = title + [s for p in paragraphs for s in p]
    return _Plan(index, article, title, paragraphs, separators, sentences)


def _chunk(tokens: list[str], limit: int) -> list[list[str]]:
    """`tokens` cut into pieces of at most `limit`, preferring punctuation, then word starts."""
    if not tokens:
        return []
    chunks = []
    while len(tokens) > limit:
        cut = 0
        for k in range(limit, limit // 2, -1):  # after a comma-like piece …
            if tokens[k - 1] and tokens[k - 1][-1] in _CHUNK_PUNCT:
                cut = k
                break
        if not cut:
            for k in range(limit, limit // 2, -1):  # … else before a word start
                if tokens[k].startswith("▁"):
                    cut = k
                    break
        cut = cut or limit
        chunks.append(tokens[:cut])
        tokens = tokens[cut:]
    chunks.append(tokens)
    return chunks


def _batches(lengths: list[int], batch_tokens: int) -> list[list[int]]:
    """Indexes grouped by ascending length; padded size (longest+1 × count) ≤ batch_tokens."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for k in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        size = lengths[k] + 1  # </s>
        if current and max(longest, size) * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(k)
        longest = max(longest, size)
    if current:
        batches.append(current)
    return batches


def _detok(sp: Any, tokens: list[str], prefix: str) -> str:
    if prefix and tokens and tokens[0] == prefix:
        tokens = tokens[1:]
    return str(sp.decode_pieces(tokens)).replace("▁", " ").strip()


# ------------------------------------------------------------------------- the stage


class ArticleTranslator(Protocol):
    """What the stage needs of a translator (`Translator`, or a stand-in in tests)."""

    def translate_articles(self, articles: Sequence[Article],
                           cache: TranslationCache | None = None) -> Sequence[Article]: ...


class TranslationStage:
    """Translates stored articles by id, batched, and records each result in the store
    (whose translation cache the translator then uses)."""

    def __init__(self, translator: ArticleTranslator, store: Store) -> None:
        self.translator = translator
        self.store = store

    def translate_new(self, article: Article) -> Article:
        """An article not stored yet, translated (its sentences batched together), so that
        it is placed among the stories with its English text."""
        return self.translator.translate_articles([article], cache=self.store)[0]

    def translate_ids(self, ids: list[int] | None, *, statuses: tuple[str, ...] = ("pending",),
                      languages: tuple[str, ...] | None = None, batch: int = 64,
                      progress: Progress | None = None,
                      then: Callable[[Article], object] | None = None) -> list[Article]:
        """Translate the stored articles in `statuses` (only `ids`, only `languages`, when
        given), batched across articles; call `then` with each one now ``done`` (the story
        stage places it again); return those."""
        articles = self.store.articles_to_translate(statuses=statuses, ids=ids,
                                                    languages=languages)
        if progress:
            progress.add_total(len(articles))
        done: list[Article] = []
        for i in range(0, len(articles), batch):
            for article in self.translator.translate_articles(articles[i:i + batch],
                                                              cache=self.store):
                self.store.save_translation(article)
                if article.translation_status == "done":
                    done.append(article)
                    if then is not None:
                        then(article)
                if progress:
                    progress.advance(article.lang)
        return done


class Progress(Protocol):
    """What a long job tells a progress display (the CLI passes a rich one on a TTY)."""

    def add_total(self, n: int) -> None: ...
    def advance(self, description: str) -> None: ...


class TranslationStages(Protocol):
    """Gives a pass its translation stage (None: no package, nothing to translate now)."""

    def stage(self, store: Store) -> TranslationStage | None: ...


class TranslatorKeeper:
    """One `Translator` for a process that runs many passes (the daemon): each model is
    loaded once and kept."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._translator: Translator | None = None

    def stage(self, store: Store) -> TranslationStage | None:
        """The stage for `store`, or None when no package is installed (articles then
        stay ``pending`` until ``tidings translate``)."""
        if not list_packages(self.config.translate):
            return None
        if self._translator is None:
            self._translator = Translator(self.config.translate)
        return TranslationStage(self._translator, store)
