"""Language detection: langdetect made deterministic, plus script checks.

langdetect is probabilistic; a fixed seed makes the same text give the same answer.
Chinese is decided by script before langdetect is asked, so it is never mistaken for
Korean or Japanese (kana decides Japanese); zh-cn / zh-tw are stored as zh.

langdetect's profiles and its algorithm decide, but not its `Detector` class, which reads
the text one character at a time through Python objects and multiplies one language at a
time. `_prepared`, `_ngrams` and `_trials` take the same steps with string methods, each
word's n-grams remembered and numpy rows, and give the same answer to the last digit
(tests/test_language.py compares them with `Detector` on every corpus text and on 300
generated ones in every script): 0.69 instead of 1.83 ms an article on the generated web
(`python -m bench.profile_pass --outlets 50`, the language stage, three runs of each).

Only the first `_SAMPLE_CHARS` characters (the headline and the start of the text) are
read: langdetect's cost grows with the text (4.5 ms per article at 3,000 characters,
2.5 ms at 1,000) while its answer does not change — the same on all 60 corpus pages
(tests/test_language.py) and on 300 generated pages (en/it) as with 3,000. Of
langdetect's seven random trials, the last five run only when the first two are unsure:
1.3 instead of 2.5 ms per text, and the same language for 710 of the 711 texts of the
ECB+ set, the labelled set and the real-world pages (the other: a JSON metadata file).
"""

from __future__ import annotations

import random
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any

from .han import HAN
from .models import Article

_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LETTERS = re.compile(r"[^\W\d_]+")  # runs of letters (counted by length: fewer objects)
_SAMPLE_CHARS = 1000
_SHORT_LETTERS = 40  # below this many letters a text is a headline, not prose
_FIRST_TRIALS = 2  # langdetect's random trials run first; all of them only when these …
_SURE = 0.995  # … leave the best language below this probability (they disagree)
_ALL_TRIALS = 7  # langdetect's `Detector.n_trial`
_lock = threading.Lock()  # the profiles' loading, and the tables below (never nested)


def detect(text: str) -> tuple[str, float]:
    """(language code, confidence 0..1); ("und", 0.0) when there is nothing to judge."""
    sample = text[:_SAMPLE_CHARS]
    letters = sum(map(len, _LETTERS.findall(sample)))
    han = len(HAN.findall(sample))
    kana = len(_KANA.findall(sample))
    hangul = len(_HANGUL.findall(sample))
    if letters < 3 and not (han >= 2 and not kana and not hangul):
        return "und", 0.0  # too little to judge (but "北汽" is Chinese: two Han, no kana)
    if kana > 0.05 * letters:
        return "ja", round(min(1.0, (kana + han) / letters), 3)
    if hangul > 0.3 * letters:
        return "ko", round(hangul / letters, 3)
    short = letters < _SHORT_LETTERS
    if han > 0.3 * letters or (short and han >= 2 and han >= 0.15 * letters
                                     and not kana and not hangul):
        # A short headline such as "Xiaomi SU7 小米" is Chinese; langdetect would guess
        # from the Latin letters alone (it said Estonian).
        return "zh", round(min(1.0, max(han / letters, 0.5)), 3)
    try:
        lang, prob = _langdetect(sample)
    except LookupError:
        return "und", 0.0
    if lang.startswith("zh"):
        lang = "zh"
    return lang, round(prob, 3)


def _langdetect(sample: str) -> tuple[str, float]:
    """langdetect's best guess (language, probability). It averages 7 random trials, each
    ~0.3 ms at 1,000 characters; the first two are the same with any trial count (one
    seeded generator), so when both already agree with near certainty the answer is
    theirs (the other five would move its confidence's last digits). Otherwise all 7 run,
    as `detect_langs` does."""
    model = _model()
    with _lock:  # the tables kept between calls (`_NORMAL`, `_WORD_GRAMS`, `_ROWS`) are shared
        grams = _ngrams(_prepared(sample), model.probs)
        if not grams:
            raise LookupError("no features in text")  # langdetect: "No features in text."
        ranked = _trials(grams, model, _FIRST_TRIALS)
        if not ranked or ranked[0][1] < _SURE:
            ranked = _trials(grams, model, _ALL_TRIALS)
    if not ranked:
        raise LookupError("no language")
    return ranked[0]


@dataclass(frozen=True, slots=True)
class _Model:
    """langdetect's profiles: the languages, and each n-gram's probability in each."""

    langs: list[str]
    probs: dict[str, list[float]]


_MODEL: list[_Model] = []


def _model() -> _Model:
    with _lock:
        if not _MODEL:
            from langdetect.detector_factory import init_factory
            init_factory()
            from langdetect.detector_factory import _factory
            assert _factory is not None  # set by init_factory
            _MODEL.append(_Model(_factory.langlist, _factory.word_lang_prob_map))
        return _MODEL[0]


_MAX_TEXT = 10_000  # Detector.max_text_length
_SPACE_RUN = re.compile(" {2,}")
_A_TO_LOWER_Z = re.compile("[A-z]")  # langdetect's "Latin": 'A' <= ch <= 'z', [ \ ] ^ _ ` too
_FROM_0300 = re.compile("[\u0300-\U0010ffff]")


def _prepared(sample: str) -> str:
    """The text as `Detector.append` and `Detector.cleaning_text` leave it: URLs and
    e-mail addresses blanked, Vietnamese marks composed, runs of spaces made one, and the
    Latin letters dropped when other scripts outnumber them two to one. (langdetect means
    to count the Latin Extended Additional block as Latin too, but compares a block number
    with its name, so counts it as other: so do we.)"""
    from langdetect.detector import Detector
    from langdetect.utils.ngram import NGram

    text = Detector.URL_RE.sub(" ", sample)
    if "@" in text:  # the address pattern is slow to fail at every letter of every word
        text = Detector.MAIL_RE.sub(" ", text)
    text = _SPACE_RUN.sub(" ", NGram.normalize_vi(text)[:_MAX_TEXT])
    if 2 * len(_A_TO_LOWER_Z.findall(text)) < len(_FROM_0300.findall(text)):
        text = _A_TO_LOWER_Z.sub("", text)
    return text


_NORMAL: dict[int, str] = {}  # code point → `NGram.normalize` of it (a str.translate table)
_WORD_GRAMS: dict[str, tuple[str, ...]] = {}  # a word (+ " " when one follows) → its n-grams
_WORDS_KEPT = 10_000  # bounds that memory (3.4 MB when full; the n-grams are interned): it is
# emptied when full


def _ngrams(text: str, known: dict[str, list[float]]) -> list[str]:
    """The n-grams `Detector._extract_ngrams` finds, in its order. Every character goes
    through `NGram.normalize` (punctuation and digits become spaces, kana one letter …),
    then each word between spaces gives its 1-, 2- and 3-grams with a space before it and,
    when one follows, after it: the same for every occurrence of the word, so remembered."""
    from langdetect.utils.ngram import NGram

    new = [ch for ch in set(text) if ord(ch) not in _NORMAL]
    if len(_NORMAL) + len(new) > 100_000:  # only text in every script there is gets here
        _NORMAL.clear()
        new = list(set(text))
    for ch in new:
        _NORMAL[ord(ch)] = NGram.normalize(ch)
    words = text.translate(_NORMAL).split(" ")
    out: list[str] = []
    last = len(words) - 1
    if len(_WORD_GRAMS) > _WORDS_KEPT:
        _WORD_GRAMS.clear()
    for i, word in enumerate(words):
        if not word:
            continue
        key = word if i == last else word + " "
        grams = _WORD_GRAMS.get(key)
        if grams is None:
            grams = _WORD_GRAMS[key] = _word_grams(word, i != last, known)
        out += grams
    return out


def _word_grams(word: str, spaced: bool, known: dict[str, list[float]]) -> tuple[str, ...]:
    """One word's n-grams in `NGram`'s order: at each letter the 1-, 2- and 3-gram that end
    there (none where it and the letter before are both upper case: langdetect skips
    acronyms), then the 2- and 3-gram that end at the space after it."""
    padded = " " + word + (" " if spaced else "")
    out: list[str] = []
    upper_before = False
    for k, ch in enumerate(word):
        upper = ch.isupper()
        if upper and upper_before:
            continue
        upper_before = upper
        for gram in (ch, padded[k:k + 2], padded[k - 1:k + 2] if k else ""):
            if gram in known:
                out.append(sys.intern(gram))  # one string for every word that has it
    if spaced:
        out += [sys.intern(gram) for gram in (padded[-2:], padded[-3:]) if gram in known]
    return tuple(out)


_ALPHA, _ALPHA_WIDTH = 0.5, 0.05  # Detector.ALPHA_DEFAULT, ALPHA_WIDTH
_BASE_FREQ, _CONVERGED, _MAX_STEPS = 10_000, 0.99999, 1000  # BASE_FREQ, CONV_THRESHOLD, …
_SEED = 0  # DetectorFactory.seed: the same text gives the same answer
_SHOWN = 0.1  # Detector.PROB_THRESHOLD: languages below it are not in the answer


def _trials(grams: list[str], model: _Model, trials: int) -> list[tuple[str, float]]:
    """`Detector._detect_block` after the n-grams: `trials` random walks over them from one
    seeded generator (the same draws in the same order), each step multiplying every
    language's probability by the n-gram's, normalised every five steps until one language
    has 0.99999; the walks' average, best first. The steps between two checks are drawn
    together and multiplied as numpy rows, first to last (the same products, rounded the
    same way); the sum is Python's, as langdetect's, and the largest share is the largest
    product divided by it (division rounds monotonically: the same number)."""
    import numpy as np

    rng = random.Random(_SEED)
    choice = rng.choice
    n = len(model.langs)
    average = np.zeros(n)
    rows = np.empty((6, n))  # the probabilities, then the factors of up to five steps
    prob = np.empty(n)
    for _ in range(trials):
        prob.fill(1.0 / n)
        weight = (_ALPHA + rng.gauss(0.0, 1.0) * _ALPHA_WIDTH) / _BASE_FREQ
        step, block = 0, 1  # checked after step 0, then after every fifth
        while True:
            ids = _ROWS.ids([choice(grams) for _ in range(block)], model)
            factors = rows[1:block + 1]
            np.take(_ROWS.matrix, ids, axis=0, out=factors)
            factors += weight
            rows[0] = prob
            np.multiply.reduce(rows[:block + 1], axis=0, out=prob)
            values = prob.tolist()
            total = sum(values)
            prob /= total
            if max(values) / total > _CONVERGED or step >= _MAX_STEPS:
                break
            step, block = step + 5, 5
        average += prob / trials
    ranked = [(lang, p) for lang, p in zip(model.langs, average.tolist(), strict=True)
              if p > _SHOWN]
    ranked.sort(key=lambda lp: lp[1], reverse=True)
    return ranked


class _Rows:
    """The probability rows of the n-grams last drawn, as one numpy matrix, so that a
    walk's steps gather theirs in one call. Bounded (`KEPT` rows, 1.8 MB): emptied when
    full."""

    KEPT = 4096

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.matrix: Any = None

    def ids(self, drawn: list[str], model: _Model) -> list[int]:
        index = self.index
        try:
            return [index[g] for g in drawn]
        except KeyError:
            pass
        import numpy as np

        if self.matrix is None:
            self.matrix = np.zeros((self.KEPT, len(model.langs)))
        missing = [g for g in dict.fromkeys(drawn) if g not in index]
        if len(index) + len(missing) > self.KEPT:
            index.clear()
            missing = list(dict.fromkeys(drawn))
        for gram in missing:
            index[gram] = len(index)
            self.matrix[index[gram]] = model.probs[gram]
        return [index[g] for g in drawn]


_ROWS = _Rows()


def detect_article(article: Article) -> Article:
    lang, confidence = detect(f"{article.title}\n{article.text}")
    return article.replace(lang=lang, lang_confidence=confidence)
