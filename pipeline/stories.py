"""Story decisions: is this article a repeat, part of a known story, or a new story?

Pure: the runner asks the store for `Candidate`s through the keys `index_keys` names, and
`place` decides; nothing here touches storage.

How an article is compared (details and the evaluation behind the numbers: docs/stories.md):

- **Near-duplicate** (→ `duplicate_of` the original): MinHash of word 3-shingles of the body
  (Chinese: character 4-grams), plus exact hashes of its sentences. A copy with other
  boilerplate, another headline, a few edited sentences or cut short still shares most of
  its shingles or most of its sentences (containment, not only Jaccard).
- **Same story** (→ `story_id`): language-independent fingerprints (numbers normalised
  across formats, dates, Latin-script names, watched entities; see `pipeline.fingerprints`)
  and, when both texts are in one language (English after translation), MinHash similarity
  of their content words. Only articles within `window_days` of each other can join. A
  shared watched entity alone never joins: a Xiaomi phone launch and a Xiaomi factory are
  different stories.

The index keys are selective by construction (a number *with* an entity, two numbers
together, a sentence hash, an LSH band), so the store can cap the articles it returns per
key (`CANDIDATES_PER_KEY`) and the cost of placing one article stays flat as it grows.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from . import fingerprints as fpr
from . import minhash
from .config import StoriesConfig
from .dedup import content_hash as _content_hash
from .dedup import normalise_text
from .models import Article

# ---------------------------------------------------------------------------- constants
SHINGLE_PERM = 64  # MinHash of body shingles (near-duplicates)
WORD_PERM = 128  # MinHash of content words (same-story text similarity)
SHINGLE_WORDS = 3  # word shingle size (Latin scripts)
SHINGLE_CHARS = 4  # character shingle size (Chinese, Japanese)
MINHASH_SCHEME = "affine32"  # pinned: stored signatures must not change with datasketch
LSH_BANDS = 16  # 16 bands × 4 rows over the shingle signature: ~50% Jaccard to collide
LSH_ROWS = SHINGLE_PERM // LSH_BANDS
SENTENCE_MIN_WORDS = 8  # sentences shorter than this are boilerplate-prone, not hashed
SENTENCE_MIN_CHARS = 15  # the same for Chinese
MAX_SENTENCES = 60  # sentence hashes kept per article
SENTENCE_KEYS = 6  # of which used as index keys (first 3 + 3 longest)
KEY_NUMBERS = 8  # numbers used in keys (first mentioned first)
KEY_NAMES = 4  # rarest-looking names used in keys
MIN_DUP_SENTENCES = 3  # sentence containment needs at least this many shared sentences
CANDIDATES_PER_KEY = 20  # the store returns at most this many (newest) articles per key
MAX_CANDIDATES = 400  # and no more than this in all

# Weights of the shared evidence, summed into the same-story score (see `compare`). Chosen
# on the labelled set in tests/data/stories; docs/stories.md has the table and the reasons.
W_NUMBER = {1: 0.12, 2: 0.25, 3: 0.35}  # by specificity: 300000 → 1, 150000 → 2, 38.8% → 3+
W_DATE = 0.15
MAX_DATES_SCORE = 0.3
W_MULTIWORD_NAME = 0.10  # "lei jun", "beijing economic"
W_NAME = 0.06  # "yizhuang", "catl"
W_WEAK_NAME = 0.02  # common ("beijing") or short ("pro", "max") names
MAX_NAMES_SCORE = 0.3
W_ENTITY = 0.05  # a shared watched entity adds little and never suffices
TEXT_FLOOR = 0.08  # content-word Jaccard below this says nothing (unrelated: 0.02-0.10)
TEXT_FULL = 0.45  # ... at this it gives TEXT_WEIGHT
TEXT_WEIGHT = 0.6
TEXT_ANCHOR = 0.35  # text similarity that is by itself a specific link
# A join needs an anchor, a specific shared fact: a telling number (specificity ≥ 2), two
# large round numbers, a plain number with distinctive names or similar text, a date with a
# distinctive name, several distinctive names, or very similar text (see `compare`).

_STOPWORDS = fpr.STOP_NAMES | frozenset(fpr.words("""
said says say told also would could will can may might must shall new one two three year
years month months day days week weeks time first last according percent per cent million
billion thousand company companies people including about more than into over after essere
stato stata sono anni anno mese giorno milioni miliardi mila più molto tutto
"""))
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
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
    dates: list[str] = field(default_factory=list)
    years: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 2, "content_hash": self.content_hash, "lang": self.lang,
            "text_lang": self.text_lang, "seen_at": self.seen_at,
            "shingles": _pack(self.shingles), "n_shingles": self.n_shingles,
            "words": _pack(self.words), "n_words": self.n_words,
            "sentences": self.sentences, "numbers": self.numbers, "dates": self.dates,
            "years": self.years, "names": self.names, "entities": self.entities,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fingerprint:
        if data.get("v") != 2:  # a first-level fingerprint: content hash only
            return cls(content_hash=data["content_hash"])
        return cls(
            content_hash=data["content_hash"], lang=data.get("lang", ""),
            text_lang=data.get("text_lang", ""), seen_at=data.get("seen_at", ""),
            shingles=_unpack(data.get("shingles", "")), n_shingles=data.get("n_shingles", 0),
            words=_unpack(data.get("words", "")), n_words=data.get("n_words", 0),
            sentences=list(data.get("sentences", [])), numbers=list(data.get("numbers", [])),
            dates=list(data.get("dates", [])), years=list(data.get("years", [])),
            names=list(data.get("names", [])), entities=list(data.get("entities", [])),
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


# ---------------------------------------------------------------------------- fingerprints
def _pack(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<u4").tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    if not text:
        return np.zeros(0, np.uint32)
    return np.frombuffer(base64.b64decode(text), dtype="<u4")


def _is_cjk(text: str, lang: str) -> bool:
    if lang in {"zh", "ja", "ko"}:
        return True
    sample = text[:2000]
    return bool(sample) and len(_CJK.findall(sample)) > len(sample) * 0.2


def _minhash(items: set[bytes], num_perm: int) -> np.ndarray:
    """MinHash signature as uint32 values: datasketch's affine32 scheme, seed 7."""
    return minhash.signature(items, num_perm, seed=7)


def shingles(text: str, cjk: bool) -> set[bytes]:
    """Near-duplicate units: word 3-grams, or character 4-grams for Chinese."""
    norm = normalise_text(text)
    if cjk:
        chars = norm.replace(" ", "")
        n = SHINGLE_CHARS
        return {chars[i:i + n].encode() for i in range(max(len(chars) - n + 1, 1))} if chars \
            else set()
    words = norm.split()
    n = SHINGLE_WORDS
    if len(words) < n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


def content_words(text: str, cjk: bool) -> set[bytes]:
    """Same-story units: content words cut to six letters (a crude stem), or character
    bigrams for Chinese; Latin names inside Chinese text count as words."""
    text = unicodedata.normalize("NFKC", text).casefold()
    out: set[bytes] = set()
    for word in _LATIN_WORD.findall(text):
        if word not in _STOPWORDS and not _CJK.search(word):
            out.add(word[:6].encode())
    if cjk:
        for run in re.findall(r"[\u3400-\u9fff\uf900-\ufaff]+", text):
            out.update(run[i:i + 2].encode() for i in range(max(len(run) - 1, 1)))
    return out


def sentence_hashes(text: str, cjk: bool) -> list[str]:
    out: list[str] = []
    for sentence in _SENTENCE_SPLIT.split(text):
        norm = normalise_text(sentence)
        long_enough = (len(norm.replace(" ", "")) >= SENTENCE_MIN_CHARS if cjk
                       else len(norm.split()) >= SENTENCE_MIN_WORDS)
        if long_enough:
            digest = hashlib.blake2b(norm.encode(), digest_size=6).hexdigest()
            if digest not in out:
                out.append(digest)
    return out[:MAX_SENTENCES]


def fingerprint(article: Article) -> Fingerprint:
    """Everything `place` needs later, from the article alone."""
    body = article.text or ""
    cjk_body = _is_cjk(body, article.lang)
    english = article.english_text()
    translated = bool(article.text_en)
    text_lang = "en" if translated else (article.lang or "")
    cjk_english = (not translated) and cjk_body
    compared = f"{article.english_title()}\n{english}"
    sh = shingles(english, cjk_english)
    words = content_words(compared, cjk_english)
    # Figures come from the original and from the translation: a translation may round.
    figures = fpr.extract(f"{article.title}\n{body}", article.lang or "en", with_names=False)
    names = fpr.names(body, article.lang or "en")
    if translated:
        extra = fpr.extract(article.text_en or "", "en")  # names of the translation too
        figures.numbers += [n for n in extra.numbers if n not in figures.numbers]
        figures.dates = sorted(set(figures.dates) | set(extra.dates))
        names += [n for n in extra.names if n not in names]
    return Fingerprint(
        content_hash=article.content_hash or _content_hash(body),
        lang=article.lang, text_lang=text_lang,
        seen_at=article.published_at or article.fetched_at,
        shingles=_minhash(sh, SHINGLE_PERM), n_shingles=len(sh),
        words=_minhash(words, WORD_PERM), n_words=len(words),
        sentences=sentence_hashes(english, cjk_english),
        numbers=figures.numbers[:30], dates=figures.dates[:10], years=figures.years[:10],
        names=names[:40], entities=sorted(set(article.entities)),
    )


# ---------------------------------------------------------------------------- index keys
def _key_part(text: str) -> str:
    return text.replace(":", "_").replace(" ", "_")


def _key_names(fp: Fingerprint) -> list[str]:
    """Names worth a key: not a watched entity, not a common one; longer (rarer) first."""
    entities = {fpr.normalise_name(e) for e in fp.entities}
    chosen = [n for n in fp.names if n not in entities and n not in fpr.COMMON_NAMES
              and " " not in n and len(n) >= 3]
    return sorted(chosen[:12], key=lambda n: (-len(n), n))[:KEY_NAMES]


def index_keys(fp: Fingerprint) -> list[str]:
    """Keys under which the store indexes an article, so candidates come from an index.

    All of them are rare by construction: a band of the shingle signature, the hash of one
    long sentence, a specific number together with a watched entity, a name or another
    number, an event date with an entity. A bare entity ("Xiaomi") is never a key."""
    keys = [f"hash:{fp.content_hash}"]
    if fp.n_shingles >= 5 and len(fp.shingles) == SHINGLE_PERM:
        for band in range(LSH_BANDS):
            chunk = fp.shingles[band * LSH_ROWS:(band + 1) * LSH_ROWS].tobytes()
            keys.append(f"lsh:b{band}:{hashlib.blake2b(chunk, digest_size=6).hexdigest()}")
    if fp.sentences:
        longest = fp.sentences[:3]
        keys += [f"sent:{h}" for h in dict.fromkeys(longest + fp.sentences[-3:])][:SENTENCE_KEYS]
    numbers = [n for n in fp.numbers if fpr.specificity(n) >= 2 or len(n) >= 4][:KEY_NUMBERS]
    entities = [_key_part(e) for e in fp.entities]
    names = [_key_part(n) for n in _key_names(fp)]
    for entity in entities:
        keys += [f"ent+num:{entity}:{n}" for n in numbers]
        keys += [f"ent+date:{entity}:{d}" for d in fp.dates[:3]]
    for a, b in itertools.combinations(sorted(numbers[:5]), 2):
        keys.append(f"num+num:{a}:{b}")
    for name in names[:3]:
        keys += [f"name+num:{name}:{n}" for n in numbers[:3]]
        keys += [f"name+date:{name}:{d}" for d in fp.dates[:2]]
    for a, b in itertools.combinations(sorted(names), 2):
        keys.append(f"names:{a}+{b}")
    return list(dict.fromkeys(keys))


def key_weights() -> dict[str, int]:
    """How many (newest, within the window) articles the store should return per key, by
    key prefix. Near-duplicate keys need few; fingerprint keys a few more."""
    return {"hash": 5, "lsh": 10, "sent": 10, "ent+num": CANDIDATES_PER_KEY,
            "ent+date": CANDIDATES_PER_KEY, "num+num": CANDIDATES_PER_KEY,
            "name+num": CANDIDATES_PER_KEY, "name+date": CANDIDATES_PER_KEY,
            "names": CANDIDATES_PER_KEY}


# ---------------------------------------------------------------------------- decisions
def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(a == b)) / len(a)


@dataclass(slots=True)
class PairScore:
    """How one stored article compares with the one being placed."""

    duplicate: float = 0.0  # near-duplicate score (max of the three measures below)
    jaccard: float = 0.0
    containment: float = 0.0
    shared_sentences: int = 0
    text: float = 0.0  # content-word Jaccard (same compared language only)
    score: float = 0.0  # same-story score
    signal: str = ""
    numbers: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    days_apart: float | None = None
    in_window: bool = True


def compare(a: Fingerprint, b: Fingerprint, *, window_days: float) -> PairScore:
    """Score a pair of fingerprints (symmetric)."""
    p = PairScore()
    if a.content_hash and a.content_hash == b.content_hash:
        p.duplicate = p.jaccard = p.containment = 1.0
    else:
        p.jaccard = _jaccard(a.shingles, b.shingles)
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
    ta, tb = _parse_time(a.seen_at), _parse_time(b.seen_at)
    if ta and tb:
        p.days_apart = abs((ta - tb).total_seconds()) / 86400
        p.in_window = p.days_apart <= window_days
    # Same-story evidence.
    if a.text_lang and a.text_lang == b.text_lang:
        p.text = _jaccard(a.words, b.words)
    b_numbers, b_dates, b_names = set(b.numbers), set(b.dates), set(b.names)
    p.numbers = [n for n in a.numbers if n in b_numbers]
    p.dates = [d for d in a.dates if d in b_dates]
    p.entities = sorted(set(a.entities) & set(b.entities))
    entity_names = {fpr.normalise_name(e) for e in p.entities}
    shared_names = [n for n in a.names if n in b_names and n not in entity_names]
    inside = {part for n in shared_names if " " in n for part in n.split()}
    p.names = [n for n in shared_names if n not in inside]
    strong = [n for n in p.numbers if fpr.specificity(n) >= 2]
    big = [n for n in p.numbers if float(n.rstrip("%")) >= 1000]
    number_score = sum(W_NUMBER[min(fpr.specificity(n), 3)] for n in p.numbers)
    date_score = min(MAX_DATES_SCORE, W_DATE * len(p.dates))
    name_weights = [W_WEAK_NAME if n in fpr.COMMON_NAMES or len(n) <= 3 else
                    W_MULTIWORD_NAME if " " in n else W_NAME for n in p.names]
    name_score = min(MAX_NAMES_SCORE, sum(name_weights))
    distinctive = sum(w for w in name_weights if w > W_WEAK_NAME)
    text_score = TEXT_WEIGHT * min(1.0, max(0.0, (p.text - TEXT_FLOOR) / (TEXT_FULL - TEXT_FLOOR)))
    anchored = bool(
        strong  # 150,000 · 38.8% · 193.48 billion
        or len(big) >= 2  # 300,000 and $10 billion
        or (p.numbers and (p.text >= 0.2 or distinctive >= 0.15))
        or (p.dates and distinctive >= 0.12)
        or distinctive >= 0.25  # Qingdao, Shandong, Cailian, BAIC BJEV …
        or p.text >= TEXT_ANCHOR)
    parts = {"numbers": number_score, "dates": date_score, "names": name_score,
             "text": text_score}
    p.signal = max(parts, key=lambda k: parts[k]) if any(parts.values()) else "entities"
    total = sum(parts.values()) + W_ENTITY * len(p.entities)
    p.score = min(1.0, total) if anchored else 0.0
    return p


def place(article: Article, fp: Fingerprint, candidates: list[Candidate],
          config: StoriesConfig) -> Placement:
    """Decide where `article` goes: a repeat of a stored article, a known story, or new."""
    best_dup: tuple[float, Candidate, PairScore] | None = None
    stories: dict[int, tuple[float, Candidate, PairScore]] = {}
    for cand in candidates[:MAX_CANDIDATES]:
        pair = compare(fp, cand.fingerprint, window_days=config.window_days)
        if pair.duplicate >= config.near_duplicate and (
                best_dup is None or pair.duplicate > best_dup[0]):
            best_dup = (pair.duplicate, cand, pair)
        if cand.story_id is not None and pair.in_window and pair.score > 0:
            held = stories.get(cand.story_id)
            if held is None or pair.score > held[0]:
                stories[cand.story_id] = (pair.score, cand, pair)
    if best_dup is not None:
        score, cand, pair = best_dup
        original = cand.duplicate_of or cand.article_id
        same_hash = bool(fp.content_hash) and fp.content_hash == cand.fingerprint.content_hash
        signal = "content_hash" if same_hash else "near_duplicate"
        return Placement(duplicate_of=original, story_id=cand.story_id, score=round(score, 3),
                         evidence=_evidence(signal, score, cand, pair, len(candidates),
                                            config))
    ranked = sorted(stories.items(), key=lambda kv: (-kv[1][0], kv[0]))
    if ranked and ranked[0][1][0] >= config.join:
        story_id, (score, cand, pair) = ranked[0]
        evidence = _evidence(pair.signal, score, cand, pair, len(candidates), config)
        if len(ranked) > 1:
            evidence["runner_up"] = {"story": ranked[1][0], "score": round(ranked[1][1][0], 3)}
        return Placement(story_id=story_id, score=round(score, 3), evidence=evidence)
    fresh: dict[str, Any] = {"signal": "new", "candidates": len(candidates),
                             "join": config.join}
    if ranked:
        story_id, (score, cand, pair) = ranked[0]
        fresh["closest"] = {"story": story_id, "article": cand.article_id,
                               "score": round(score, 3), "signal": pair.signal,
                               "shared_numbers": pair.numbers, "shared_names": pair.names[:10],
                               "shared_entities": pair.entities}
    return Placement(evidence=fresh)


def _evidence(signal: str, score: float, cand: Candidate, pair: PairScore, n: int,
              config: StoriesConfig) -> dict[str, Any]:
    """Why the article went where it went: stored with it, shown to analysts."""
    return {
        "signal": signal,
        "score": round(score, 3),
        "article": cand.article_id,
        "story": cand.story_id,
        "near_duplicate": {"jaccard": round(pair.jaccard, 3),
                           "containment": round(pair.containment, 3),
                           "shared_sentences": pair.shared_sentences,
                           "threshold": config.near_duplicate},
        "text_similarity": round(pair.text, 3),
        "shared_numbers": pair.numbers,
        "shared_dates": pair.dates,
        "shared_names": pair.names[:10],
        "shared_entities": pair.entities,
        "days_apart": None if pair.days_apart is None else round(pair.days_apart, 2),
        "join": config.join,
        "candidates": n,
    }
