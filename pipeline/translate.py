"""The translation stage: Argos Translate packages, batched CTranslate2, nothing lost.

Packages
    An Argos package (``.argosmodel``) is a zip of one directory holding ``metadata.json``,
    ``sentencepiece.model`` and ``model/`` (a CTranslate2 model). Installed packages live
    in ``translate.package_dir`` (which honours ``$ARGOS_PACKAGES_DIR``), one directory
    each. `list_packages` reads their ``metadata.json`` directly, `install_from_file`
    unpacks a local file (offline), `install_from_index` downloads from the Argos index.

Translation
    `Translator.translate_articles` takes the articles of a pass and returns updated
    copies. Per package: every title and paragraph is split into sentences by
    `pipeline.sentences` (MiniSBD, Argos' own splitter, downloads at run time); the
    cache is asked for all sentences at once; only the misses, each distinct sentence
    once, are tokenised with the package's SentencePiece model; sentences longer than
    ``translate.max_sentence_tokens`` are cut into chunks at piece boundaries (never
    truncated); the chunks of *all* articles are sorted by length and grouped into
    batches of at most ``translate.batch_tokens`` padded tokens, one ``translate_batch``
    call each, with ``max_decoding_length`` bounded by the batch's longest input. One
    ``ctranslate2.Translator`` per package per process, loaded on first use, int8 on CPU.

Statuses (contract)
    ``not_needed``  the article is in the target language;
    ``done``        translated: ``title_en``, ``text_en``, ``translation_package`` set;
    ``pending``     the language is configured but no package is installed: the
                    original text is kept and ``tidings translate`` picks it up later;
    ``failed``      CTranslate2/SentencePiece raised, or the language is not in
                    ``translate.languages``: ``translation_error`` says why, the article
                    is kept.

Importing this module is cheap: CTranslate2, SentencePiece and argostranslate are
imported only when a package is loaded or the index is used.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import IndexUnreachable, ModelMissing, TranslateError
from .models import Article
from .sentences import split_sentences

if TYPE_CHECKING:
    from .config import TranslateConfig

__all__ = [
    "DEFAULT_INDEX_URL",
    "MemoryCache",
    "PackageInfo",
    "TranslateStats",
    "TranslationCache",
    "Translator",
    "install_from_file",
    "install_from_index",
    "list_packages",
]

log = logging.getLogger(__name__)

#: Where Argos Translate publishes its package index (overridden by ``index_url``,
#: ``$TIDINGS_ARGOS_INDEX`` or Argos' own ``$ARGOS_PACKAGE_INDEX``).
DEFAULT_INDEX_URL = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/"
INSTALL_HINT = "tidings models install --file PKG.argosmodel"

#: Output may be at most this many times the input's pieces, plus a margin: a real model
#: stops far earlier; a broken or random one cannot run away.
DECODE_RATIO = 2
DECODE_MARGIN = 10

_PARAGRAPH_BREAK = re.compile(r"(\s*\n\s*)")
_CHUNK_PUNCT = frozenset(",;:，、；：)")


# --------------------------------------------------------------------------- packages


@dataclass(frozen=True)
class PackageInfo:
    """An installed Argos package, as `tidings models list` shows it."""

    name: str  # argospm name, e.g. "translate-it_en"
    from_code: str
    to_code: str
    version: str
    size_bytes: int
    path: Path

    @property
    def key(self) -> str:
        """``"name version"``: recorded on articles and keys the translation cache."""
        return f"{self.name} {self.version}"


def list_packages(config: TranslateConfig) -> list[PackageInfo]:
    """Installed translation packages in ``config.package_dir``, sorted by language pair.

    Reads each package's ``metadata.json`` directly (argostranslate would also create its
    own directories under $HOME and read its settings file): a directory without a
    readable one is skipped with a warning.
    """
    root = Path(config.package_dir)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            info = _read_package(path)
        except TranslateError as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda p: (p.from_code, p.to_code, _version_key(p.version)))


def _read_package(path: Path) -> PackageInfo | None:
    """The package at `path`, None when it is not a translation package."""
    meta_path = path / "metadata.json"
    try:
        metadata = json.loads(meta_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise TranslateError(f"{meta_path}: cannot read package metadata: {exc}") from exc
    if not isinstance(metadata, dict):
        raise TranslateError(f"{meta_path}: package metadata is not a JSON object")
    if metadata.get("type", "translate") != "translate":
        return None
    from_code, to_code = metadata.get("from_code"), metadata.get("to_code")
    if not isinstance(from_code, str) or not isinstance(to_code, str):
        raise TranslateError(f"{meta_path}: from_code and to_code are missing")
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return PackageInfo(
        name=f"translate-{from_code}_{to_code}",
        from_code=from_code,
        to_code=to_code,
        version=str(metadata.get("package_version") or "0"),
        size_bytes=size,
        path=path,
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def install_from_file(config: TranslateConfig, file: Path) -> PackageInfo:
    """Unpack a local ``.argosmodel`` into ``config.package_dir`` (no network).

    The package replaces any installed package for the same language pair. A file that
    is not a valid package raises `TranslateError` and changes nothing.
    """
    file = Path(file)
    if not file.is_file():
        raise TranslateError(f"{file}: no such file")
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise TranslateError(f"{file}: not an Argos package (not a zip archive)") from exc
    with archive:
        names = archive.namelist()
        metas = [n for n in names if n.count("/") == 1 and n.endswith("/metadata.json")]
        if len(metas) != 1:
            raise TranslateError(
                f"{file}: not an Argos package (expected one top directory with metadata.json)")
        top = metas[0].split("/")[0]
        for name in names:
            parts = Path(name).parts
            if not name.startswith(top + "/") or ".." in parts or Path(name).is_absolute():
                raise TranslateError(f"{file}: unsafe or stray path in archive: {name!r}")
        for required in ("model/model.bin", "sentencepiece.model"):
            if f"{top}/{required}" not in names:
                raise TranslateError(
                    f"{file}: not a usable Argos package: {required} is missing "
                    "(tidings needs a CTranslate2 model and a SentencePiece model)")
        try:
            metadata = json.loads(archive.read(metas[0]))
            from_code, to_code = metadata["from_code"], metadata["to_code"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TranslateError(f"{file}: metadata.json lacks from_code/to_code") from exc
        root = Path(config.package_dir)
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=".install-") as tmp:
            try:
                archive.extractall(tmp)
            except (OSError, zipfile.BadZipFile) as exc:
                raise TranslateError(f"{file}: cannot unpack: {exc}") from exc
            for old in list_packages(config):
                if (old.from_code, old.to_code) == (from_code, to_code):
                    shutil.rmtree(old.path)
            dest = root / top
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(Path(tmp) / top, dest)
    info = _read_package(dest)
    if info is None:
        raise TranslateError(f"{file}: not a translation package")
    log.info("installed %s (%s→%s) in %s", info.key, info.from_code, info.to_code, dest)
    return info


def install_from_index(
    config: TranslateConfig,
    langs: Iterable[str],
    *,
    index_url: str | None = None,
    timeout: float = 30.0,
) -> list[PackageInfo]:
    """Download and install the lang→target package of each of `langs` from the index.

    `index_url` (else ``$TIDINGS_ARGOS_INDEX``, ``$ARGOS_PACKAGE_INDEX``, the public
    index) is the index directory or its ``index.json``. Raises `IndexUnreachable` when
    the index cannot be fetched and `ModelMissing` when it lists no package for a pair.
    """
    url = (index_url or os.environ.get("TIDINGS_ARGOS_INDEX")
           or os.environ.get("ARGOS_PACKAGE_INDEX") or DEFAULT_INDEX_URL)
    if not url.endswith(".json"):
        url = url.rstrip("/") + "/index.json"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            index = json.loads(response.read())
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise IndexUnreachable(
            f"cannot reach the Argos package index ({url}: {reason}); download the "
            f".argosmodel elsewhere and run: {INSTALL_HINT}") from exc
    if not isinstance(index, list):
        raise IndexUnreachable(f"{url} is not an Argos package index (not a JSON list); "
                               f"download the .argosmodel elsewhere and run: {INSTALL_HINT}")

    _use_package_dir(config)
    from argostranslate.package import AvailablePackage  # parses entries as Argos does

    available = [AvailablePackage(entry) for entry in index if isinstance(entry, dict)]
    installed = []
    for lang in langs:
        candidates = [p for p in available if p.type == "translate"
                      and p.from_code == lang and p.to_code == config.target]
        if not candidates:
            raise ModelMissing(f"the Argos index ({url}) has no package for "
                               f"{lang}→{config.target}")
        best = max(candidates, key=lambda p: _version_key(p.package_version))
        installed.append(_download_and_install(config, best, timeout))
    return installed


def _download_and_install(config: TranslateConfig, available: Any,
                          timeout: float) -> PackageInfo:
    root = Path(config.package_dir)
    root.mkdir(parents=True, exist_ok=True)
    errors = []
    for link in available.links:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".download-",
                                         suffix=".argosmodel") as tmp:
            try:
                with urllib.request.urlopen(link, timeout=timeout) as response:
                    shutil.copyfileobj(response, tmp)
                tmp.flush()
            except OSError as exc:
                errors.append(f"{link}: {getattr(exc, 'reason', None) or exc}")
                continue
            return install_from_file(config, Path(tmp.name))
    raise IndexUnreachable(
        f"cannot download {available.from_code}→{available.to_code} "
        f"({'; '.join(errors) or 'no links in the index'}); download the .argosmodel "
        f"elsewhere and run: {INSTALL_HINT}")


def _use_package_dir(config: TranslateConfig) -> None:
    """Point argostranslate at ``config.package_dir``.

    ``argostranslate.settings`` reads ``ARGOS_PACKAGES_DIR`` once, at import time, so the
    environment is set before the first import and the module patched if already loaded.
    """
    package_dir = Path(config.package_dir)
    package_dir.mkdir(parents=True, exist_ok=True)
    os.environ["ARGOS_PACKAGES_DIR"] = str(package_dir)
    import sys

    settings = sys.modules.get("argostranslate.settings")
    if settings is not None:
        settings.package_data_dir = package_dir  # type: ignore[attr-defined]
        settings.package_dirs = [package_dir]  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ cache


class TranslationCache(Protocol):
    """Sentence-level translations keyed by package (``"name version"``) and source."""

    def get_many(self, package_key: str, sentences: list[str]) -> dict[str, str]: ...

    def put_many(self, package_key: str, pairs: list[tuple[str, str]]) -> None: ...


class MemoryCache:
    """A dict-backed `TranslationCache` for one process (the store has a persistent one)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], str] = {}

    def get_many(self, package_key: str, sentences: list[str]) -> dict[str, str]:
        out = {}
        for sentence in sentences:
            hit = self._data.get((package_key, sentence))
            if hit is not None:
                out[sentence] = hit
        return out

    def put_many(self, package_key: str, pairs: list[tuple[str, str]]) -> None:
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

    def __init__(self, config: TranslateConfig, cache: TranslationCache | None = None) -> None:
        self.config = config
        self.cache: TranslationCache = cache if cache is not None else MemoryCache()
        self.stats = TranslateStats()
        self._loaded: dict[Path, _Loaded] = {}
        self._lock = threading.Lock()

    # ---- what will happen to a language

    def _configured(self, lang: str) -> bool:
        return lang in self.config.languages or _base(lang) in self.config.languages

    def _is_target(self, lang: str) -> bool:
        return _base(lang) == _base(self.config.target)

    def package_for(self, lang: str) -> PackageInfo | None:
        """The installed package from `lang` to the target (newest version), if any."""
        return _pick(list_packages(self.config), lang, self.config.target)

    def status_for(self, lang: str) -> str:
        """The status an article in `lang` gets when translated now.

        ``not_needed`` (the target language), ``failed`` (not in translate.languages),
        ``pending`` (configured, no package installed) or ``done`` (a package is there).
        """
        if self._is_target(lang):
            return "not_needed"
        if not self._configured(lang):
            return "failed"
        return "done" if self.package_for(lang) is not None else "pending"

    # ---- the stage

    def translate_articles(self, articles: Sequence[Article]) -> list[Article]:
        """Updated copies of `articles`, in order; never raises for one article's sake."""
        with self._lock:
            return self._translate_articles(list(articles))

    def _translate_articles(self, articles: list[Article]) -> list[Article]:
        out = list(articles)
        packages = list_packages(self.config)
        jobs: dict[Path, tuple[PackageInfo, list[int]]] = {}
        target = self.config.target
        for i, article in enumerate(articles):
            lang = article.lang or ""
            if self._is_target(lang):
                out[i] = article.replace(translation_status="not_needed", title_en=None,
                                         text_en=None, translation_package=None,
                                         translation_error=None)
            elif not self._configured(lang):
                self.stats.articles_failed += 1
                out[i] = article.replace(
                    translation_status="failed", translation_package=None,
                    translation_error=("untranslatable by configuration: language "
                                       f"{lang!r} is not in translate.languages"))
            elif (info := _pick(packages, lang, target)) is None:
                self.stats.articles_pending += 1
                out[i] = article.replace(
                    translation_status="pending", translation_package=None,
                    translation_error=(
                        f"no Argos package for {_base(lang)}→{target} in "
                        f"{self.config.package_dir}; run: tidings models install "
                        f"{_base(lang)} (offline: {INSTALL_HINT})"))
            else:
                jobs.setdefault(info.path, (info, []))[1].append(i)
        for info, indexes in jobs.values():
            for i, article in self._translate_with(info, [(i, articles[i]) for i in indexes]):
                out[i] = article
        return out

    def _translate_with(self, info: PackageInfo,
                        items: list[tuple[int, Article]]) -> list[tuple[int, Article]]:
        def failed(article: Article, reason: str) -> Article:
            self.stats.articles_failed += 1
            return article.replace(translation_status="failed", translation_package=info.key,
                                   translation_error=reason)

        plans = [_plan(i, a) for i, a in items]
        wanted = list(dict.fromkeys(s for plan in plans for s in plan.sentences))
        self.stats.sentences += len(wanted)
        try:
            known = dict(self.cache.get_many(info.key, wanted)) if wanted else {}
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
                    self.cache.put_many(info.key, list(fresh.items()))
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
            return max(matches, key=lambda p: _version_key(p.version))
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
