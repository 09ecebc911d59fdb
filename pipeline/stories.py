"""Story decisions: is this article a repeat, part of a known story, or a new story?

Pure: the runner asks the store for `Candidate`s through the keys `index_keys` names, and
`place` decides; nothing here touches storage. (`fingerprint` embeds the article with the
process's one multilingual sentence encoder, `pipeline.embed`: no I/O after its load.)

How an article is compared (details and the evaluation behind the numbers: docs/stories.md):

- **Near-duplicate** (→ `duplicate_of` the original): MinHash of word 3-shingles of the body
  (Chinese: character 4-grams), plus exact hashes of its sentences. A copy with other
  boilerplate, another headline, a few edited sentences or cut short still shares most of
  its shingles or most of its sentences (containment, not only Jaccard).
- **Same story** (→ `story_id`): one score summed from several signals, each a weight in
  log-odds: the cosine of the articles' multilingual sentence embeddings (headline and
  lead, any language), shared proper names (share and Jaccard of the two name sets; a
  Chinese article's names are matched to Latin ones through pinyin), shared numbers
  normalised across formats and languages (also when one outlet rounds harder), shared
  dates (weekdays read from the page's date among them) and years (a conflicting year
  counts against), the days between the two, and, when both texts are in one language,
  MinHash similarity of their content words (across languages, a fixed term stands in for
  it; across scripts another, for the embedding's lower cosine). The embedding says "same
  kind of news"; names, figures and dates say "same event". Only articles within
  `window_days` of each other can join. A story's score is the mean of its best three
  links (one lucky link does not pull an article in), and an article that links two
  stories that also link each other merges them (`Placement.merge`).

The index keys are selective by construction (bands of the embedding's sign bits, a
distinctive name, a Chinese headline's pinyin, a specific number, a number or a date *with*
an entity, a sentence hash), so the store can cap the articles it returns per
key (`key_weights`) and the cost of placing one article stays flat as it grows.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import threading
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from . import embed, minhash
from . import figures as fpr
from .config import StoriesConfig
from .dedup import content_hash as _content_hash
from .dedup import normalise_text
from .han import HAN, HAN_RUN
from .models import Article, StoryRow, parse_time

# ---------------------------------------------------------------------------- constants
SHINGLE_PERM = 64  # MinHash of body shingles (near-duplicates)
SHINGLE_HASHING = 2  # shingles hashed in numpy (`minhash.grams`); 1: SHA-1 each, as datasketch
# (fingerprints v2 and v3): signatures of two hashings are not compared
WORD_PERM = 128  # MinHash of content words (same-story text similarity)
SHINGLE_WORDS = 3  # word shingle size (Latin scripts)
SHINGLE_CHARS = 4  # character shingle size (Chinese, Japanese)
EMBED_BANDS = 24  # bands of the embedding's sign bits (random hyperplanes, fixed seed) …
EMBED_BITS = 8  # … of this many bits: a pair at cosine 0.7 meets in some band 91% of the
# time, at 0.3 32% (16 bands of 12 bits: 39% and 3%, and an article beside its own
# Chinese translation, cosine ~0.68, was often never a candidate: docs/stories.md)
EMBED_SEED = 20241128  # pinned: stored keys must not change between processes
SENTENCE_MIN_WORDS = 8  # sentences shorter than this are boilerplate-prone, not hashed
SENTENCE_MIN_CHARS = 15  # the same for Chinese
MAX_SENTENCES = 60  # sentence hashes kept per article
SENTENCE_KEYS = 6  # of which used as index keys (the first three and the last three)
KEY_NUMBERS = 8  # numbers used in keys (first mentioned first)
NUMBER_KEYS = 4  # the first numbers of three significant digits, each a key of its own
NAME_KEYS = 6  # most mentioned distinctive names, each a key of its own
HEADLINE_PINYIN_KEYS = 30  # a Chinese headline's pinyin grams, as keys (青岛 → qingdao) …
PINYIN_NAME_KEYS = 4  # … met by the Latin names that read as pinyin (Qingdao, Lei Jun)
MIN_DUP_SENTENCES = 3  # sentence containment needs at least this many shared sentences
CANDIDATES_PER_KEY = 20  # the store returns at most this many (newest) articles per key
MAX_CANDIDATES = 400  # and no more than this in all
STORY_LINKS = 3  # a story's score: the mean of its best this-many links to the article
KNOWN_ROWS = 4096  # fingerprints whose arrays are kept as matrix rows (11 MB a process)
MERGE_PAIRS = 4  # members per story compared when a merge is considered
STORY_COMPARED = 8  # members per candidate story compared in full (the most alike)

# Same-story evidence, in log-odds (summed, then squashed to 0..1 by the logistic function,
# so `join` = 0.5 means "more for than against"). Set on the ECB+ development topics and
# the labelled set together; docs/stories.md has the sweeps.
C_BIAS = -4.1
C_COSINE = 8.0  # per unit of embedding cosine above …
COSINE_MID = 0.62  # … this (same kind of news: 0.5-0.65; same event: 0.55-0.85)
C_TEXT = 5.0  # per unit of content-word Jaccard above (below: against) …
TEXT_FLOOR = 0.08  # … this, when both texts are in one language
C_NUMBER = 0.7  # per point of specificity of each shared number (300000: 1, 38.8%: 3) …
MAX_NUMBER_POINTS = 8  # … counted up to this many points
C_FIGURES_DISAGREE = -1.0  # both give at least …
FIGURES_TO_DISAGREE = 2  # … this many telling figures (specificity 3+: 116,887, 41%, 6.95
# billion) and share none, not even rounded: two reports of one event seldom do that
C_DATE = 1.0  # per shared date, at most …
MAX_DATES = 2
C_YEAR = 2.0  # a year both mention
C_YEAR_CONFLICT = -1.5  # both mention years, none the same
C_NAME_SHARE = 4.0  # × shared names / names of the article with fewer (at least 3)
C_NAME_JACCARD = 8.0  # × shared names / all names of the two (at least NAME_UNION_MIN)
NAME_UNION_MIN = 4
C_CROSS_LANGUAGE = 0.5  # texts in two languages: their words cannot be compared (the
# `text` part is structurally 0, not evidence against), so they get about what the words
# of a same-event pair in one language add on average
C_CROSS_SCRIPT = 1.0  # one in Chinese (Japanese, Korean), one not: the embedding puts
# such same-event pairs ~0.13 lower than same-script ones (labelled set: 0.55 vs 0.68)
_CJK_LANGS = frozenset({"zh", "ja", "ko"})
C_DAYS = -0.5  # per day apart beyond … (part of `dates` in the evidence)
DAYS_FREE = 1.0  # … this (publication dates, else fetch times)
MERGE_MARGIN = 1.0  # two stories merge when their members' links average join + this

_STOPWORDS = fpr.STOP_NAMES | frozenset(fpr.words("""
said says say told also would could will can may might must shall new one two three year
years month months day days week weeks time first last according percent per cent million
billion thousand company companies people including about more than into over after essere
stato stata sono anni anno mese giorno milioni miliardi mila più molto tutto
"""))
_CJK = HAN
_LATIN_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？])\s+|[。！？]|\n+")


# ---------------------------------------------------------------------------- records
@dataclass(slots=True)
class Fingerprint:
    """What the store keeps of an article to compare later ones with it (JSON-able)."""

    content_hash: str
    lang: str = ""
    text_lang: str = ""  # language of the compared text: "en" once translated
    seen_at: str = ""
    shingles: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    n_shingles: int = 0
    words: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    n_words: int = 0
    sentences: list[str] = field(default_factory=list)  # short hashes, in text order
    numbers: list[str] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)  # of `numbers`: "400" → "km"
    dates: list[str] = field(default_factory=list)
    years: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    translated_names: list[str] = field(default_factory=list)  # of `names`, only in the English
    entities: list[str] = field(default_factory=list)
    vector: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # embedding
    pinyin: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))  # Chinese only
    headline_pinyin: list[str] = field(default_factory=list)  # Chinese only: for name keys
    shingle_hashing: int = SHINGLE_HASHING  # how `shingles` hashed its items
    # Derived once, on first use (a fingerprint is compared with many others):
    distinct: list[str] | None = field(default=None, repr=False, compare=False)
    pinyin_set: frozenset[int] | None = field(default=None, repr=False, compare=False)
    coarse: dict[str, str] | None = field(default=None, repr=False, compare=False)
    telling: int | None = field(default=None, repr=False, compare=False)
    when: datetime | None = field(default=None, repr=False, compare=False)
    row: int | None = field(default=None, repr=False, compare=False)  # in `_ROWS`

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 4 if self.shingle_hashing == SHINGLE_HASHING else 3,
            "content_hash": self.content_hash, "lang": self.lang,
            "text_lang": self.text_lang, "seen_at": self.seen_at,
            "shingles": _pack(self.shingles), "n_shingles": self.n_shingles,
            "words": _pack(self.words), "n_words": self.n_words,
            "sentences": self.sentences, "numbers": self.numbers, "units": self.units,
            "dates": self.dates,
            "years": self.years, "names": self.names, "entities": self.entities,
            "translated_names": self.translated_names,
            "vector": embed.pack(self.vector) if self.vector.size else "",
            "pinyin": _pack24(self.pinyin), "headline_pinyin": self.headline_pinyin,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        version = data.get("v")
        if version not in (2, 3, 4):  # a first-level fingerprint: content hash only
            return cls(content_hash=data["content_hash"])
        return cls(
            content_hash=data["content_hash"], lang=data.get("lang", ""),
            text_lang=data.get("text_lang", ""), seen_at=data.get("seen_at", ""),
            shingles=_unpack(data.get("shingles", "")), n_shingles=data.get("n_shingles", 0),
            words=_unpack(data.get("words", "")), n_words=data.get("n_words", 0),
            sentences=list(data.get("sentences", [])), numbers=list(data.get("numbers", [])),
            units=dict(data.get("units", {})),
            dates=list(data.get("dates", [])), years=list(data.get("years", [])),
            names=list(data.get("names", [])), entities=list(data.get("entities", [])),
            translated_names=list(data.get("translated_names", [])),
            vector=embed.unpack(data.get("vector", "")),  # v2: none, so no embedding signal
            pinyin=_unpack24(data.get("pinyin", "")),
            headline_pinyin=list(data.get("headline_pinyin", [])),
            shingle_hashing=SHINGLE_HASHING if version == 4 else 1,  # v2, v3: by SHA-1
        )


@dataclass(slots=True)
class Candidate:
    """A stored article that shares at least one index key with the article being placed."""

    article_id: int
    story_id: int | None
    duplicate_of: int | None
    seen_at: str  # published_at, else fetched_at (ISO 8601)
    lang: str
    fingerprint: Fingerprint


@dataclass(slots=True)
class Placement:
    duplicate_of: int | None = None  # the article this one repeats
    story_id: int | None = None  # the story it joins; None with no duplicate → a new story
    score: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    merge: list[int] = field(default_factory=list)  # later stories to fold into `story_id`


# ---------------------------------------------------------------------------- fingerprints
def _pack(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<u4").tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    if not text:
        return np.zeros(0, np.uint32)
    return np.frombuffer(base64.b64decode(text), dtype="<u4")


def _pack24(values: np.ndarray) -> str:
    """24-bit values in 3 bytes each (pinyin hashes: ~400 per Chinese article)."""
    raw = np.asarray(values, dtype="<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return base64.b64encode(raw).decode("ascii")


def _unpack24(text: str) -> np.ndarray:
    raw = base64.b64decode(text) if text else b""
    if not raw or len(raw) % 3:
        return np.zeros(0, np.uint32)
    wide = np.zeros((len(raw) // 3, 4), np.uint8)
    wide[:, :3] = np.frombuffer(raw, np.uint8).reshape(-1, 3)
    return wide.view("<u4").ravel().astype(np.uint32)


def pinyin_hash(gram: str) -> int:
    """24 bits of a pinyin string or Latin name key (CRC-32: fast, stable across
    processes; a Chinese article's ~600 grams leave a chance match at ~1 in 28,000)."""
    return zlib.crc32(gram.encode()) & 0xFFFFFF


def pinyin_hashes(grams: list[str]) -> np.ndarray:
    """`pinyin_hash` of each gram, distinct and sorted: encoded together and hashed in C
    (a Chinese article's grams: 0.11 ms, against 0.13-0.19 ms one call each)."""
    if not grams:
        return np.zeros(0, np.uint32)
    encoded = "\0".join(grams).encode().split(b"\0")  # a gram holds no NUL: letters
    return np.unique(minhash.word_hashes(encoded) & np.uint32(0xFFFFFF))


def _is_cjk(text: str, lang: str) -> bool:
    if lang in {"zh", "ja", "ko"}:
        return True
    sample = text[:2000]
    return bool(sample) and len(_CJK.findall(sample)) > len(sample) * 0.2


def _minhash(items: set[bytes], num_perm: int) -> np.ndarray:
    """MinHash signature as uint32 values: datasketch's affine32 scheme, seed 7."""
    return minhash.signature(items, num_perm, seed=7)


def _shingle_minhash(hashes: np.ndarray) -> np.ndarray:
    """The shingles' signature: their numpy hashes, the same permutations (seed 7)."""
    return minhash.signature_of(hashes, SHINGLE_PERM, seed=7)


def normalised_sentences(text: str) -> list[str]:
    """The text's sentences, each `normalise_text`-ed, the empty ones left out. Joined by
    spaces they are `normalise_text(text)` itself (a sentence ends where punctuation or a
    line break is, which normalising makes a space anyway): one normalisation serves the
    shingles and the sentence hashes."""
    return [n for n in map(normalise_text, _SENTENCE_SPLIT.split(text)) if n]


def shingles(text: str, cjk: bool, *, sentences: list[str] | None = None) -> np.ndarray:
    """Near-duplicate units: word 3-grams, or character 4-grams for Chinese, as distinct
    32-bit hashes, sorted (`sentences`: the text's `normalised_sentences`, when already
    made). A text shorter than one unit is one unit. Hashed in numpy (`minhash.grams`):
    an article's ~400 shingles cost no Python call each."""
    norm = " ".join(normalised_sentences(text) if sentences is None else sentences)
    if cjk:
        parts = minhash.code_points(norm.replace(" ", ""))
        return np.unique(minhash.grams(parts, SHINGLE_CHARS))
    words = norm.encode().split(b" ") if norm else []  # normalised: single spaces only
    return np.unique(minhash.grams(minhash.word_hashes(words), SHINGLE_WORDS))


def content_words(text: str, cjk: bool) -> set[bytes]:
    """Same-story units: content words cut to six letters (a crude stem), or character
    bigrams for Chinese; Latin names inside Chinese text count as words."""
    text = unicodedata.normalize("NFKC", text).casefold()
    out = {word[:6].encode() for word in _LATIN_WORD.findall(text)
           if word not in _STOPWORDS and (word.isascii() or not _CJK.search(word))}
    if cjk:
        for run in HAN_RUN.findall(text):
            out.update(run[i:i + 2].encode() for i in range(max(len(run) - 1, 1)))
    return out


def sentence_hashes(text: str, cjk: bool, *, sentences: list[str] | None = None) -> list[str]:
    """Hashes of the long enough sentences, in order, each once, at most `MAX_SENTENCES`."""
    out: list[str] = []
    for norm in normalised_sentences(text) if sentences is None else sentences:
        long_enough = (len(norm.replace(" ", "")) >= SENTENCE_MIN_CHARS if cjk
                       else len(norm.split()) >= SENTENCE_MIN_WORDS)
        if long_enough:
            digest = hashlib.blake2b(norm.encode(), digest_size=6).hexdigest()
            if digest not in out:
                out.append(digest)
    return out[:MAX_SENTENCES]


def embedding(article: Article, embedder: embed.Embedder | None = None) -> np.ndarray:
    """The article's vector: of its original headline and lead (the encoder is
    multilingual; a translation adds noise)."""
    return (embedder or embed.shared()).embed_one(
        embed.article_text(article.title, article.text or ""))


def fingerprint(article: Article, embedder: embed.Embedder | None = None, *,
                vector: np.ndarray | None = None) -> Fingerprint:
    """Everything `place` needs later, from the article alone; `vector`, its `embedding`
    when it is known already."""
    body = article.text or ""
    cjk_body = _is_cjk(body, article.lang)
    english = article.english_text()
    translated = bool(article.text_en)
    text_lang = "en" if translated else (article.lang or "")
    cjk_english = (not translated) and cjk_body
    compared = f"{article.english_title()}\n{english}"
    sentences = normalised_sentences(english)
    sh = shingles(english, cjk_english, sentences=sentences)
    words = content_words(compared, cjk_english)
    # Figures come from the original and from the translation: a translation may round.
    figures = fpr.scan(f"{article.title}\n{body}", article.lang or "en", with_names=False)
    names = fpr.names(f"{article.title}\n{body}", article.lang or "en")
    translated_names: list[str] = []
    if translated:
        extra = fpr.scan(article.text_en or "", "en")  # names of the translation too
        figures.numbers += [n for n in extra.numbers if n not in figures.numbers]
        figures.units = extra.units | figures.units
        figures.dates = sorted(set(figures.dates) | set(extra.dates))
        translated_names = [n for n in extra.names if n not in names]
        names += translated_names
    published = parse_time(article.published_at)
    if published is not None:  # "on Thursday" is a date once the page's date is known
        spoken = fpr.relative_dates(f"{article.title}\n{body}", published.date())
        figures.dates = sorted(set(figures.dates) | set(spoken))
    numbers = figures.numbers[:30]
    grams = fpr.pinyin_grams(f"{article.title}\n{body}") if cjk_body else []
    headline = fpr.pinyin_grams(article.title, readings=1)[:HEADLINE_PINYIN_KEYS] if cjk_body \
        else []
    return Fingerprint(
        content_hash=article.content_hash or _content_hash(body),
        lang=article.lang, text_lang=text_lang,
        seen_at=article.published_at or article.fetched_at,
        shingles=_shingle_minhash(sh), n_shingles=int(sh.size),
        words=_minhash(words, WORD_PERM), n_words=len(words),
        sentences=sentence_hashes(english, cjk_english, sentences=sentences),
        numbers=numbers, dates=figures.dates[:10], years=figures.years[:10],
        units={n: figures.units[n] for n in numbers if n in figures.units},
        names=names[:40], translated_names=[n for n in translated_names if n in names[:40]],
        entities=sorted(set(article.entities)),
        vector=embedding(article, embedder) if vector is None else vector,
        pinyin=pinyin_hashes(grams),
        headline_pinyin=headline,
    )


# ---------------------------------------------------------------------------- index keys
def _key_part(text: str) -> str:
    return text.replace(":", "_").replace(" ", "_")


def distinctive_names(fp: Fingerprint) -> list[str]:
    """Names that can tell events apart: not a watched entity, not a name everyone in this
    domain writes ("Beijing", "EV"), at least three letters; most mentioned first."""
    if fp.distinct is None:
        entities = {fpr.normalise_name(e) for e in fp.entities}
        fp.distinct = [n for n in fp.names if n not in entities and n not in fpr.COMMON_NAMES
                       and len(n) >= 3]
    return fp.distinct


_HYPERPLANES: np.ndarray | None = None


def embedding_bands(vector: np.ndarray) -> list[str]:
    """Random-hyperplane LSH of the embedding: per band, the signs of the vector against
    `EMBED_BITS` fixed random directions. Close vectors agree on a band's bits with
    probability (1 − angle/π)^bits."""
    global _HYPERPLANES
    if vector.shape != (embed.DIM,):
        return []
    if _HYPERPLANES is None:
        _HYPERPLANES = np.random.default_rng(EMBED_SEED).standard_normal(
            (EMBED_BANDS * EMBED_BITS, embed.DIM)).astype(np.float32)
    bits = (_HYPERPLANES @ vector.astype(np.float32)) > 0
    return [np.packbits(bits[b * EMBED_BITS:(b + 1) * EMBED_BITS]).tobytes().hex()
            for b in range(EMBED_BANDS)]


def index_keys(fp: Fingerprint) -> list[str]:
    """Keys under which the store indexes an article, so candidates come from an index.

    All of them are rare by construction: a band of the embedding's sign bits, the hash of
    one long sentence, a distinctive name, a specific number (alone, or with a watched
    entity), an event date with an entity. A bare entity ("Xiaomi") is never a key. Only
    the families that earn their recall are kept: bands of the shingle signature and
    pairs of names, numbers and dates found nothing the others miss (docs/stories.md)."""
    keys = [f"hash:{fp.content_hash}"]
    keys += [f"emb:b{band}:{bits}" for band, bits in enumerate(embedding_bands(fp.vector))]
    if fp.sentences:  # the lead and the close: where a copy's edits are least likely
        ends = fp.sentences[:3] + fp.sentences[-3:]
        keys += [f"sent:{h}" for h in dict.fromkeys(ends)][:SENTENCE_KEYS]
    keys += [f"name:{_key_part(n)}" for n in distinctive_names(fp)[:NAME_KEYS]]
    # Chinese headline ↔ Latin names that read as pinyin (青岛 ↔ Qingdao, 亦庄 ↔ Yizhuang)
    keys += [f"pyn:{g}" for g in fp.headline_pinyin if len(g) >= fpr.PINYIN_MIN_LETTERS]
    if not fp.pinyin.size:
        spelled = (fpr.latin_key(n) for n in distinctive_names(fp)[:12])
        keys += [f"pyn:{k}" for k in spelled if k and fpr.reads_as_pinyin(k)][:PINYIN_NAME_KEYS]
    numbers = [n for n in fp.numbers if fpr.specificity(n) >= 2 or len(n) >= 4][:KEY_NUMBERS]
    entities = [_key_part(e) for e in fp.entities]
    for entity in entities:
        keys += [f"ent+num:{entity}:{n}" for n in numbers]
        keys += [f"ent+date:{entity}:{d}" for d in fp.dates[:3]]
    # A figure with three significant digits is rare enough alone (31,767 deliveries), in
    # the form an outlet that rounds harder would write it too (38.25% → 38%).
    specific = [n for n in fp.numbers if fpr.specificity(n) >= 3][:NUMBER_KEYS]
    rough = [c for n in specific for c in fpr.coarser(n) if fpr.specificity(c) >= 3]
    keys += [f"num:{n}" for n in dict.fromkeys(specific + rough)]
    return list(dict.fromkeys(keys))


def key_weights() -> dict[str, int]:
    """How many (newest, within the window) articles the store should return per key, by
    key prefix. Near-duplicate keys need few; an embedding band or a single name is
    shared by more unrelated articles than a combined key, so it brings fewer."""
    return {"hash": 5, "sent": 10, "emb": 4, "name": 8, "pyn": 2, "num": 2,
            "ent+num": CANDIDATES_PER_KEY, "ent+date": CANDIDATES_PER_KEY}


# ---------------------------------------------------------------------------- decisions
def _seen(fp: Fingerprint) -> datetime | None:
    if fp.when is None:
        fp.when = parse_time(fp.seen_at)
    return fp.when


def _shingled(a: Fingerprint, b: Fingerprint) -> float:
    """The shingle signatures' agreement; 0 when their shingles were hashed two ways (one
    stored before `SHINGLE_HASHING`): the content hash and shared sentences still find
    a copy then."""
    if a.shingle_hashing != b.shingle_hashing:
        return 0.0
    return _jaccard(a.shingles, b.shingles)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(a == b)) / len(a)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


@dataclass(slots=True)
class PairScore:
    """How one stored article compares with the one being placed."""

    duplicate: float = 0.0  # near-duplicate score (max of the three measures below)
    jaccard: float = 0.0
    containment: float = 0.0
    shared_sentences: int = 0
    cosine: float = 0.0  # of the two embeddings (0 when either has none)
    text: float = 0.0  # content-word Jaccard (same compared language only)
    logit: float = 0.0  # same-story evidence, log-odds
    score: float = 0.0  # the same, 0..1
    signal: str = ""  # the part that weighed most
    parts: dict[str, float] = field(default_factory=dict)  # log-odds per signal
    numbers: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    years: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    pinyin: list[str] = field(default_factory=list)  # of `names`: found in Chinese as pinyin
    entities: list[str] = field(default_factory=list)
    days_apart: float | None = None
    in_window: bool = True


def _original_names(fp: Fingerprint) -> list[str]:
    added = set(fp.translated_names)
    return [n for n in distinctive_names(fp) if n not in added]


def _names_part(a: Fingerprint, b: Fingerprint, names_a: list[str], names_b: list[str]
                ) -> tuple[list[str], list[str], float]:
    """The names the two share (Latin, then those matched through pinyin), the pinyin
    ones, and their log-odds: the share of the shorter list and the Jaccard. A shared
    full name counts with its parts ("lei jun", "lei", "jun"): full names tell events
    apart better (counting it once: ECB+ F1 0.898 → 0.88 at best)."""
    set_b = set(names_b)
    shared = [n for n in names_a if n in set_b]
    pinyin = [n for n in _by_pinyin(a, names_b) + _by_pinyin(b, names_a) if n not in shared]
    shared += pinyin
    union = len(set(names_a) | set_b)
    part = (C_NAME_SHARE * min(1.0, len(shared) / max(3, min(len(names_a), len(names_b))))
            + C_NAME_JACCARD * len(shared) / max(NAME_UNION_MIN, union))
    return shared, pinyin, part


def _translated(fp: Fingerprint) -> bool:
    return bool(fp.lang and fp.text_lang) and fp.lang != fp.text_lang


class _Known(NamedTuple):
    """What `compare` would compute with numpy for one pair, computed for all of an
    article's candidates at once (`_known`: one matrix product instead of a hundred small
    calls): the embedding cosine and the MinHash agreements of shingles and of content
    words. None where a fingerprint's arrays are not of the usual shapes (an older
    fingerprint): `compare` then computes them alone, with the same result."""

    cosine: float | None = None
    shingles: float | None = None
    words: float | None = None


_UNKNOWN = _Known()


class _Rows:
    """The vectors and signatures of the fingerprints compared most recently, as rows of
    three matrices: an article's hundred candidates are then gathered by one indexing,
    where stacking their arrays anew cost ~0.2 ms an article (most candidates come back
    article after article). A ring of `size` rows: a fingerprint whose row was taken
    since is copied in again. A row knows its fingerprint by `id` only (no reference that
    would keep it alive): a fingerprint asking for its row has lived since it was given
    the row, so another object that took the row since has a different id. One per
    process, used under `_ROWS_LOCK` (a daemon places in several threads)."""

    def __init__(self, size: int = KNOWN_ROWS) -> None:
        self.size = size
        self.owner = [0] * size  # id() of the fingerprint each row holds
        self.next = 0
        self.vectors = np.zeros((size, embed.DIM), np.float32)
        self.shingles = np.zeros((size, SHINGLE_PERM), np.uint32)
        self.words = np.zeros((size, WORD_PERM), np.uint32)

    def of(self, fps: Sequence[Fingerprint]) -> list[int]:
        """Each fingerprint's row; -1 for one whose arrays are not of the usual shapes (an
        older fingerprint), which `compare` then measures alone. The rows the call gives
        are all different: a fingerprint copied in never takes the row of another one of
        the call (at most `size` of them)."""
        owner, size = self.owner, self.size
        found = [fp.row if fp.row is not None and fp.row < size and owner[fp.row] == id(fp)
                 else None for fp in fps]
        taken = {row for row in found if row is not None}
        return [self._put(fp, taken) if row is None else row
                for fp, row in zip(fps, found, strict=True)]

    def _put(self, fp: Fingerprint, taken: set[int]) -> int:
        if not _usual(fp):
            return -1
        row = self.next
        while row in taken:
            row = (row + 1) % self.size
        self.next = (row + 1) % self.size
        taken.add(row)
        self.owner[row] = id(fp)
        self.vectors[row] = fp.vector
        self.shingles[row] = fp.shingles
        self.words[row] = fp.words
        fp.row = row
        return row


_ROWS: _Rows | None = None
_ROWS_LOCK = threading.Lock()


def _usual(fp: Fingerprint) -> bool:
    return (fp.vector.shape == (embed.DIM,) and fp.shingles.shape == (SHINGLE_PERM,)
            and fp.words.shape == (WORD_PERM,))


class _Knowns(NamedTuple):
    """`_Known` for each of an article's candidates, as three columns."""

    cosine: list[float | None]
    shingles: list[float | None]
    words: list[float | None]

    def of(self, i: int) -> _Known:
        return _Known(self.cosine[i], self.shingles[i], self.words[i])


def _known(fp: Fingerprint, others: Sequence[Fingerprint]) -> _Knowns:
    unknown: list[float | None] = [None] * len(others)
    if not others or not _usual(fp):
        return _Knowns(unknown, unknown, unknown)
    global _ROWS
    with _ROWS_LOCK:  # the rows are gathered (copied) before another thread may move them
        table = _ROWS = _ROWS or _Rows()
        if len(others) > table.size:  # the ring would give one call's rows twice
            return _Knowns(unknown, unknown, unknown)
        rows = np.asarray(table.of(others), dtype=np.intp)
        found = rows >= 0
        picked = rows[found]
        vectors, shingles, words = (table.vectors[picked], table.shingles[picked],
                                    table.words[picked])
    dots = vectors @ fp.vector
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors) * float(fp.vector @ fp.vector))
    columns = (np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0),
               np.count_nonzero(shingles == fp.shingles, axis=1) / SHINGLE_PERM,
               np.count_nonzero(words == fp.words, axis=1) / WORD_PERM)
    if found.all():
        known = _Knowns(*(column.tolist() for column in columns))
    else:
        at = np.flatnonzero(found).tolist()
        out = []
        for column in columns:
            full = list(unknown)
            for i, value in zip(at, column.tolist(), strict=True):
                full[i] = value
            out.append(full)
        known = _Knowns(*out)
    for i, other in enumerate(others):  # shingles hashed another way agree on nothing
        if other.shingle_hashing != fp.shingle_hashing and known.shingles[i] is not None:
            known.shingles[i] = 0.0
    return known


def _may_repeat(a: Fingerprint, b: Fingerprint, shingled: float | None,
                a_sentences: frozenset[str], threshold: float) -> bool:
    """Whether the pair can reach `threshold` in `_near_duplicate` (the same hash, the
    shingles' agreement, or enough shared sentences): its cheap tests alone, for the
    hundred candidates an article is only checked against as a possible original."""
    if a.content_hash and a.content_hash == b.content_hash:
        return True
    jaccard = _shingled(a, b) if shingled is None else shingled
    return jaccard >= threshold or len(a_sentences.intersection(b.sentences)) >= MIN_DUP_SENTENCES


def _near_duplicate(a: Fingerprint, b: Fingerprint, shingled: float | None = None
                    ) -> PairScore:
    """The pair's near-duplicate measures (the start of `compare`)."""
    p = PairScore()
    if a.content_hash and a.content_hash == b.content_hash:
        p.duplicate = p.jaccard = p.containment = 1.0
        return p
    p.jaccard = _shingled(a, b) if shingled is None else shingled
    small, large = sorted((a.n_shingles, b.n_shingles))
    if small and large and small / large >= 0.2 and p.jaccard > 0:
        inter = p.jaccard / (1 + p.jaccard) * (small + large)
        p.containment = min(1.0, inter / small)
    shared = set(a.sentences) & set(b.sentences)
    p.shared_sentences = len(shared)
    fewest = min(len(a.sentences), len(b.sentences))
    sentence_share = len(shared) / fewest if fewest else 0.0
    if p.shared_sentences < MIN_DUP_SENTENCES:
        sentence_share = 0.0
    # MinHash containment is noisy: it counts only when the sentences agree too.
    p.duplicate = max(p.jaccard, sentence_share,
                      min(p.containment, sentence_share + 0.25) if sentence_share else 0.0)
    return p


def compare(a: Fingerprint, b: Fingerprint, *, window_days: float,
            known: _Known = _UNKNOWN) -> PairScore:
    """Score a pair of fingerprints (symmetric). What is `known` already (computed for
    all candidates at once) is not computed again; the result is the same."""
    p = _near_duplicate(a, b, known.shingles)
    ta, tb = _seen(a), _seen(b)
    if ta and tb:
        p.days_apart = abs((ta - tb).total_seconds()) / 86400
        p.in_window = p.days_apart <= window_days
    # Same-story evidence.
    p.cosine = embed.cosine(a.vector, b.vector) if known.cosine is None else known.cosine
    same_language = bool(a.text_lang) and a.text_lang == b.text_lang
    if same_language:
        p.text = _jaccard(a.words, b.words) if known.words is None else known.words
    b_numbers, b_dates = set(b.numbers), set(b.dates)
    p.numbers = [n for n in a.numbers if n in b_numbers]
    # One outlet rounds harder than the other (38% / 38.25%, quasi 290 mila / 289,000):
    # the rougher figure counts, with one point less.
    loose = [n for n in dict.fromkeys(_coarse_matches(a, b) + _coarse_matches(b, a))
             if n not in p.numbers and fpr.specificity(n) >= 2]
    p.dates = [d for d in a.dates if d in b_dates]
    p.years = sorted(set(a.years) & set(b.years))
    p.entities = sorted(set(a.entities) & set(b.entities))
    # A translation adds names to compare, and dilutes the two shares below: the names
    # part is the better of with and without them (a translation never costs a link).
    shared_names, p.pinyin, names_part = _names_part(a, b, distinctive_names(a),
                                                     distinctive_names(b))
    if a.translated_names or b.translated_names:
        original = _names_part(a, b, _original_names(a), _original_names(b))
        if original[2] > names_part:
            shared_names, p.pinyin, names_part = original
    inside = {part for n in shared_names if " " in n for part in n.split()}
    p.names = [n for n in shared_names if n not in inside]
    # A figure with the same unit on both sides ("1,000 kW", "1000千瓦") one point more.
    number_points = min(MAX_NUMBER_POINTS,
                        sum(min(fpr.specificity(n) + _same_unit(a, b, n), 3) for n in p.numbers)
                        + sum(min(fpr.specificity(n), 3) - 1 for n in loose))
    numbers_part = C_NUMBER * number_points
    if not p.numbers and not loose and min(_telling_figures(a), _telling_figures(b)) \
            >= FIGURES_TO_DISAGREE:
        numbers_part = C_FIGURES_DISAGREE
    p.numbers += [f"~{n}" for n in loose]
    year_part = C_YEAR if p.years else (
        C_YEAR_CONFLICT if a.years and b.years and _years_conflict(a, b, ta, tb) else 0.0)
    text_part = C_TEXT * (p.text - TEXT_FLOOR) if same_language else 0.0
    # A translation's words against another text: overlap is evidence as between two
    # originals, but a translation shares fewer words with an independent report than a
    # second original would, so it never counts against (as if the two were not compared).
    via_translation = same_language and (_translated(a) or _translated(b))
    if via_translation:
        text_part = max(0.0, text_part)
    days = (C_DAYS * (p.days_apart - DAYS_FREE)
            if p.days_apart is not None and p.days_apart > DAYS_FREE else 0.0)
    p.parts = {
        "embedding": C_COSINE * (p.cosine - COSINE_MID) if a.vector.size and b.vector.size
        else 0.0,
        "text": text_part,
        "names": names_part,
        "numbers": numbers_part,
        "dates": C_DATE * min(MAX_DATES, len(p.dates)) + year_part + days,
    }
    cross = bool(a.text_lang and b.text_lang) and (not same_language or via_translation)
    script = bool(a.lang and b.lang) and (a.lang in _CJK_LANGS) != (b.lang in _CJK_LANGS)
    p.logit = (C_BIAS + sum(p.parts.values()) + (C_CROSS_LANGUAGE if cross else 0.0)
               + (C_CROSS_SCRIPT if script else 0.0))
    p.score = _sigmoid(p.logit)
    p.signal = max(p.parts, key=lambda k: p.parts[k])
    return p


def _coarse_matches(rough: Fingerprint, precise: Fingerprint) -> list[str]:
    """Numbers of `rough` that a number of `precise` rounds to (and `rough` does not
    have exactly)."""
    if precise.coarse is None:
        precise.coarse = {}
        for n in precise.numbers:
            for c in fpr.coarser(n):
                precise.coarse.setdefault(c, n)
    if not precise.coarse:
        return []
    exact = set(precise.numbers)
    return [n for n in rough.numbers if n in precise.coarse and n not in exact]


def _same_unit(a: Fingerprint, b: Fingerprint, number: str) -> int:
    unit = a.units.get(number)
    return 1 if unit is not None and unit == b.units.get(number) else 0


def _telling_figures(fp: Fingerprint) -> int:
    """How many of the article's figures have specificity 3 or more (counted once)."""
    if fp.telling is None:
        fp.telling = sum(1 for n in fp.numbers if fpr.specificity(n) >= 3)
    return fp.telling


def _years_conflict(a: Fingerprint, b: Fingerprint, ta: datetime | None,
                    tb: datetime | None) -> bool:
    """Both mention years and none the same: unless a year one mentions is the year the
    other was published in (it need not write the current year out)."""
    year_a = str(ta.year) if ta else ""
    year_b = str(tb.year) if tb else ""
    return year_b not in a.years and year_a not in b.years


def _by_pinyin(chinese: Fingerprint, names: list[str]) -> list[str]:
    """Latin `names` of one article that the other, Chinese one writes in characters."""
    if not chinese.pinyin.size:
        return []
    if chinese.pinyin_set is None:
        chinese.pinyin_set = frozenset(chinese.pinyin.tolist())
    grams = chinese.pinyin_set
    return [name for name in names if _name_hash(name) in grams]


@functools.lru_cache(maxsize=65536)
def _name_hash(name: str) -> int:
    """The pinyin hash of a Latin name's key, or -1 (no key): the same few thousand names
    meet every Chinese candidate, so each is keyed once."""
    key = fpr.latin_key(name)
    return pinyin_hash(key) if key else -1


@dataclass(slots=True)
class _Story:
    """The links of one candidate story to the article being placed, best first."""

    story_id: int
    links: list[tuple[float, Candidate, PairScore]]

    @property
    def logit(self) -> float:
        return _best_mean(link[0] for link in self.links)


def _best_mean(logits: Iterable[float]) -> float:
    """A story's score from its links' log-odds: the mean of the best `STORY_LINKS`."""
    best = sorted(logits, reverse=True)[:STORY_LINKS]
    return sum(best) / len(best)


def flag_now(article: Article, placement: Placement, story: StoryRow | None,
             config: StoriesConfig) -> bool:
    """Whether saving `article` flags its story: an original (not a repeat), relevant
    article that starts a story, or joins one not flagged yet, when the story is fresh —
    published no more than `fresh_days` before it was first seen here, so a first pass
    over an archive does not flag old news. A flagged story is never flagged again, so
    later coverage does not return it to the digest."""
    if placement.duplicate_of is not None or not article.relevant:
        return False
    if story is not None and story.flagged:
        return False
    first_seen = parse_time(story.first_seen if story else article.fetched_at)
    times = [parse_time(t) for t in (article.published_at,
                                     story.published_at if story else None)]
    published = min((t for t in times if t is not None), default=first_seen)
    if first_seen is None or published is None:
        return True
    return (first_seen - published).total_seconds() <= config.fresh_days * 86400


def place(article: Article, fp: Fingerprint, candidates: list[Candidate],
          config: StoriesConfig) -> Placement:
    """Decide where `article` goes: a repeat of a stored article, a known story (perhaps
    merging others into it), or a new story."""
    best_dup: tuple[float, Candidate, PairScore] | None = None
    links: dict[int, list[tuple[float, Candidate, PairScore]]] = {}
    compared = candidates[:MAX_CANDIDATES]
    known = _known(fp, [cand.fingerprint for cand in compared])
    full = _worth_comparing(compared, known)
    sentences = frozenset(fp.sentences)
    for i, cand in enumerate(compared):
        if i not in full and not _may_repeat(fp, cand.fingerprint, known.shingles[i],
                                             sentences, config.near_duplicate):
            continue
        pair = compare(fp, cand.fingerprint, window_days=config.window_days, known=known.of(i))
        if pair.duplicate >= config.near_duplicate and (
                best_dup is None or pair.duplicate > best_dup[0]):
            best_dup = (pair.duplicate, cand, pair)
        # Links only from the members compared in full (an original found among the
        # others makes the article a repeat, and links are not used then).
        if i in full and cand.story_id is not None and pair.in_window:
            links.setdefault(cand.story_id, []).append((pair.logit, cand, pair))
    if best_dup is not None:
        score, cand, pair = best_dup
        original = cand.duplicate_of or cand.article_id
        same_hash = bool(fp.content_hash) and fp.content_hash == cand.fingerprint.content_hash
        signal = "content_hash" if same_hash else "near_duplicate"
        return Placement(duplicate_of=original, story_id=cand.story_id, score=round(score, 3),
                         evidence=_evidence(signal, score, cand, pair, len(candidates),
                                            config))
    stories = [_Story(sid, sorted(found, key=lambda link: (-link[0], link[1].article_id)))
               for sid, found in links.items()]
    ranked = sorted(stories, key=lambda s: (-s.logit, s.story_id))
    threshold = _logit(config.join)
    if not ranked or ranked[0].logit < threshold:
        return Placement(evidence=_new_story_evidence(ranked, len(candidates), config))
    chosen = ranked[0]
    score = _sigmoid(chosen.logit)
    _, cand, pair = chosen.links[0]
    evidence = _evidence(pair.signal, score, cand, pair, len(candidates), config)
    evidence["links"] = len(chosen.links[:STORY_LINKS])
    merged: list[dict[str, Any]] = []
    merged_ids: list[int] = []
    for other in ranked[1:]:
        if other.logit < threshold:
            break
        rows = _member_logits(chosen, other, config)
        if not rows:
            continue
        cross = sum(map(sum, rows)) / sum(map(len, rows))  # the members' mean link
        link = {"story": other.story_id, "score": round(_sigmoid(other.logit), 3),
                "article": other.links[0][1].article_id,
                "between_stories": round(_sigmoid(cross), 3)}
        if cross < threshold + MERGE_MARGIN:
            last = _as_if_last(other, rows)
            if last < threshold + MERGE_MARGIN:
                continue
            link["as_if_last"] = round(_sigmoid(last), 3)
        merged_ids.append(other.story_id)
        merged.append(link)
    if len(ranked) > 1 and ranked[1].story_id not in merged_ids:
        evidence["runner_up"] = {"story": ranked[1].story_id,
                                 "score": round(_sigmoid(ranked[1].logit), 3)}
    if not merged:
        return Placement(story_id=chosen.story_id, score=round(score, 3), evidence=evidence)
    # The older story (smaller id) survives; the article joins it.
    ids = sorted([chosen.story_id, *merged_ids])
    evidence["merged"] = ids[1:]  # folded into ids[0]
    evidence["merge_links"] = merged  # each other story the article linked, and how
    evidence["merge_margin"] = MERGE_MARGIN
    return Placement(story_id=ids[0], score=round(score, 3), evidence=evidence,
                     merge=ids[1:])


def _worth_comparing(candidates: list[Candidate], known: _Knowns) -> set[int]:
    """Which candidates are compared in full: those of no story, and of each story the
    `STORY_COMPARED` members most alike the article by embedding and words. A story's
    score is the mean of its best `STORY_LINKS` links, which the less alike members of a
    big story seldom give; they are checked for being the article's original only."""
    keep: set[int] = set()
    members: dict[int, list[tuple[float, int, int]]] = {}
    for i, cand in enumerate(candidates):
        if cand.story_id is None:
            keep.add(i)
            continue
        alike = (known.cosine[i] or 0.0) + (known.words[i] or 0.0)
        members.setdefault(cand.story_id, []).append((-alike, cand.article_id, i))
    for found in members.values():
        keep.update(i for _, _, i in sorted(found)[:STORY_COMPARED])
    return keep


def _member_logits(chosen: _Story, other: _Story, config: StoriesConfig
                   ) -> list[list[float]] | None:
    """For each of `other`'s best-linked members, its log-odds with each of `chosen`'s;
    None when any pair is outside the window (such stories never merge)."""
    rows = []
    for _, cm, _ in other.links[:MERGE_PAIRS]:
        row = []
        for _, cc, _ in chosen.links[:MERGE_PAIRS]:
            pair = compare(cm.fingerprint, cc.fingerprint, window_days=config.window_days)
            if not pair.in_window:
                return None
            row.append(pair.logit)
        rows.append(row)
    return rows


def _as_if_last(other: _Story, rows: list[list[float]]) -> float:
    """The lowest, over `other`'s best-linked members, of the score each would give the
    chosen story (its best-linked members and the article being placed) had it arrived
    last: which story an article ends in should not depend on whether it came before or
    after the article that ties it to the others."""
    return min(_best_mean([link, *row])
               for (link, _, _), row in zip(other.links[:MERGE_PAIRS], rows, strict=True))


def _new_story_evidence(ranked: list[_Story], n: int, config: StoriesConfig) -> dict[str, Any]:
    fresh: dict[str, Any] = {"signal": "new", "candidates": n, "join": config.join}
    if ranked:
        best = ranked[0]
        _, cand, pair = best.links[0]
        fresh["closest"] = {"story": best.story_id, "article": cand.article_id,
                            "score": round(_sigmoid(best.logit), 3), "signal": pair.signal,
                            "embedding_similarity": round(pair.cosine, 3),
                            "shared_numbers": pair.numbers, "shared_names": pair.names[:10],
                            "shared_entities": pair.entities}
    return fresh


def _evidence(signal: str, score: float, cand: Candidate, pair: PairScore, n: int,
              config: StoriesConfig) -> dict[str, Any]:
    """Why the article went where it went: stored with it, shown to analysts."""
    return {
        "signal": signal,
        "score": round(score, 3),
        "article": cand.article_id,
        "story": cand.story_id,
        "pair_score": round(pair.score, 3),
        "embedding_similarity": round(pair.cosine, 3),
        "near_duplicate": {"jaccard": round(pair.jaccard, 3),
                           "containment": round(pair.containment, 3),
                           "shared_sentences": pair.shared_sentences,
                           "threshold": config.near_duplicate},
        "text_similarity": round(pair.text, 3),
        "shared_numbers": pair.numbers,
        "shared_dates": pair.dates,
        "shared_years": pair.years,
        "shared_names": pair.names[:10],
        "names_by_pinyin": pair.pinyin[:10],
        "shared_entities": pair.entities,
        "log_odds": {k: round(v, 2) for k, v in pair.parts.items()},
        "days_apart": None if pair.days_apart is None else round(pair.days_apart, 2),
        "join": config.join,
        "candidates": n,
    }
