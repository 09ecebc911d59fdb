"""Paragraph and sentence splitting for translation: pure, offline, deterministic.

Argos Translate's default sentencizer (MiniSBD) downloads a model on first use, which a
cron job on an offline box cannot do, so tidings splits sentences itself:

- Chinese (and Japanese): after 。！？； — with any closing quotes or brackets that follow
  (”」』）…) kept on the sentence they close — and at every line break.
- Everything else (Italian, English …): after ``.``, ``!``, ``?`` or ``…`` (plus closing
  quotes) when whitespace follows and the next sentence starts with a capital letter, an
  opening quote or bracket, or a digit. Never inside numbers (``193,48``, ``300.000``,
  ``3.5`` have no space after the point) and never after a known abbreviation
  (``Sig.``, ``Dott.``, ``S.p.A.``, ``U.S.``, ``e.g.``, ``ecc.`` …) or an initial
  (``J. Smith``).

Splitting is lossless: joining a line's sentences with single spaces gives back the line
with its runs of whitespace collapsed.
"""

from __future__ import annotations

import re

__all__ = ["ABBREVIATIONS", "NUMBER_ABBREVIATIONS", "split_paragraphs", "split_sentences"]

#: Lower-cased words whose point never ends a sentence (the point itself omitted).
ABBREVIATIONS: frozenset[str] = frozenset(
    {
        # English
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "gen", "col", "lt", "sgt",
        "capt", "gov", "sen", "rev", "hon", "messrs", "vs", "etc", "e.g", "i.e", "cf",
        "al", "approx", "ca", "eds", "dept", "univ", "assn", "bros", "corp", "ltd", "inc",
        "jan", "feb", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "u.s", "u.k", "u.n", "e.u", "a.m", "p.m",
        # Italian
        "sig", "sigg", "sig.ra", "sig.na", "dott", "dott.ssa", "ing", "avv", "arch", "geom",
        "rag", "pres", "amm", "ecc", "cfr", "s.p.a", "s.r.l", "s.n.c", "s.a.s", "spa", "srl",
        "c.so", "v.le", "p.zza", "f.lli", "mons", "c.a", "a.c", "d.c",
    }
)

#: Abbreviations that only count as such before a number ("No. 5", "art. 12", "pag. 3"),
#: because as plain words they may well end a sentence ("No.", "art.").
NUMBER_ABBREVIATIONS: frozenset[str] = frozenset(
    {
        "no", "nos", "nr", "nn", "pp", "pag", "pagg", "art", "artt", "cap", "fig", "figs",
        "vol", "vols", "sec", "ch", "tel", "fax", "min", "max", "lett", "mar", "ed", "co",
    }
)

_CJK_LANGS = ("zh", "ja")
_CLOSERS = "\"'”’»」』）)］]〉》"
_OPENERS = "\"'“‘«「『（(［[〈《¿¡"

# A CJK sentence: text up to and including a run of terminators and the closers after it.
_CJK_SENTENCE = re.compile(r"[^。！？；]*[。！？；]+[" + re.escape(_CLOSERS) + r"]*|[^。！？；]+$")

# A candidate boundary in alphabetic scripts: terminators, closers, whitespace; the next
# sentence must start with a capital letter, an opening quote or bracket, or a digit.
_BOUNDARY = re.compile(r"([.!?…]+[" + re.escape(_CLOSERS) + r"]*)(\s+)(?=\S)")
_WORD_BEFORE = re.compile(r"(\S+)$")
_ACRONYM = re.compile(r"^(?:[^\W\d_]\.)+[^\W\d_]$")  # U.S  e.g  S.p.A (point stripped)


def split_paragraphs(text: str) -> list[str]:
    """Non-empty lines of `text`, stripped: a paragraph per line, as extraction emits."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_sentences(text: str, lang: str) -> list[str]:
    """Sentences of `text` (language code `lang`, e.g. ``it``, ``en``, ``zh``, ``zh-cn``).

    Line breaks always end a sentence. Whitespace inside a sentence is kept as is; the
    whitespace between sentences is dropped.
    """
    cjk = lang.lower().split("-")[0].split("_")[0] in _CJK_LANGS
    out: list[str] = []
    for line in split_paragraphs(text):
        out.extend(_split_cjk(line) if cjk else _split_alphabetic(line))
    return out


def _split_cjk(line: str) -> list[str]:
    sentences = [m.group(0).strip() for m in _CJK_SENTENCE.finditer(line)]
    return [s for s in sentences if s]


def _split_alphabetic(line: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(line):
        end = match.end(1)
        following = line[match.end(2)]
        if not (following.isupper() or following.isdigit() or following in _OPENERS):
            continue
        if match.group(1) == "." and _is_abbreviation(
            line[start:match.start(1)], before_digit=following.isdigit()
        ):
            continue
        sentence = line[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end(2)
    rest = line[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _is_abbreviation(before: str, *, before_digit: bool) -> bool:
    """Whether the word just before a point is an abbreviation or an initial."""
    found = _WORD_BEFORE.search(before)
    if not found:
        return False
    word = re.split(r"['’]", found.group(1))[-1].lstrip(_OPENERS + "-–—/")
    if not word:
        return False
    if len(word) == 1 and word.isalpha():
        return True  # an initial (J. Smith) or n. / p. / s.
    lowered = word.lower()
    if lowered in ABBREVIATIONS or _ACRONYM.match(word):
        return True
    return before_digit and lowered in NUMBER_ABBREVIATIONS
