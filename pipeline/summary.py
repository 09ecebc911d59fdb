"""A story's summary: the first two or three sentences of its lead article that carry
content. Pure; used by the digest and by the Atom feed (through the datasette plugin).

Extraction leaves more than the story in a text: datelines ("BEIJING, Nov 28 (Reuters) -",
"新华社北京11月28日电"), bylines ("By Jane Doe", "记者 张三"), photo credits ("Photo:",
"Foto:", "图片来源："), calls to subscribe, cookie notices, "Read more", timestamps
("Updated 10:32 GMT"). A dateline is cut from the sentence it opens; the other kinds of
sentence are skipped, as is any sentence without content words (fewer than two words of
three letters or more that are not stopwords, and fewer than six Chinese characters). When
nothing is left, the first sentences that are not boilerplate are taken however short.
"""

from __future__ import annotations

import re

from . import han
from .sentences import split_paragraphs, split_sentences

__all__ = ["SUMMARY_CHARS", "SUMMARY_SENTENCES", "is_boilerplate", "strip_dateline",
           "summarize"]

#: At most this many sentences …
SUMMARY_SENTENCES = 3
#: … and about this many characters (half as many for Chinese and Japanese, whose
#: characters carry more each): a third sentence is added only if it fits.
SUMMARY_CHARS = 360
#: Only the start of a text is read: the lead is there, and a page may send megabytes.
HEAD_CHARS = 20_000

_CJK_CHAR = re.compile(f"[{han.RANGES}\u3040-\u30ff]")  # Han and kana
_WORD = re.compile(r"[^\W\d_]{3,}")
_STOPWORDS = frozenset({
    "the", "and", "for", "but", "not", "are", "was", "were", "has", "have", "had", "this",
    "that", "these", "those", "with", "from", "into", "about", "than", "then", "its", "our",
    "your", "you", "his", "her", "their", "they", "them", "she", "who", "what", "when",
    "where", "which", "will", "would", "can", "could", "may", "more", "most", "all", "any",
    "some", "out", "also", "just", "very", "only", "new", "per", "con", "del", "della",
    "delle", "dei", "degli", "che", "non", "una", "uno", "gli", "les", "des", "une", "est",
    "sono", "nel", "nella", "alla", "alle", "dal", "dalla", "sul", "sulla", "come", "anche",
    "più", "già", "ieri", "oggi",
})
_DATELINE = re.compile(
    r"""^(?:
        # BEIJING, Nov 28 (Reuters) -   |   MILANO, 12 marzo –   |   SHANGHAI —
        [A-Z][A-Z.'’\- ]{1,30}(?:/[A-Z][A-Z.'’\- ]{2,30})?
        (?:,\s*(?:\w{3,10}\.?\s+\d{1,2}|\d{1,2}\s+\w{3,10}\.?)(?:,?\s+\d{4})?
           (?:\s*\([^)]{2,40}\))?
         | \s*\([^)]{2,40}\)
         | (?<=[A-Z]{5})                      # a bare place name: five capitals at least
        )\s*[-–—:]\s+
      | # Roma, 12 marzo 2025 –   |   Pechino (Reuters) -
        [A-Z][a-zà-ù]+(?:\s+[A-Z][a-zà-ù]+)?
        (?:,\s*\d{1,2}\s+\w{3,10}(?:\s+\d{4})?(?:\s*\([^)]{2,40}\))?|\s*\([^)]{2,40}\))
        \s*[-–—]\s+
      | # 新华社北京11月28日电   |   中新网11月28日电（记者 张三）  |   本报讯
        (?:[\u4e00-\u9fff]{2,10}?\d{1,2}月\d{1,2}日(?:电|讯)|本报讯|本报[\u4e00-\u9fff]{2,4}电)
        (?:\s*[（(][^）)]{1,30}[）)])?\s*
    )""", re.VERBOSE)
_BOILERPLATE = re.compile(
    r"""^\s*(?:by|di|da|a\ cura\ di|text\ by|words\ by)\s+
          (?-i:[A-Z])[\w.'’-]+(?:\s+(?:and\s+|e\s+|&\s+)?(?-i:[A-Z])[\w.'’-]+){0,5}
          \s*(?:[,|·/-].{0,40})?$
      | ^\s*(?:photo|photos|image|images|picture|foto|immagine|credit|credits|fonte|source|
             video|watch|图|图片|图片来源|来源|视频|摄影|编辑|责任编辑|作者|记者\s*[\u4e00-\u9fff]{2,4}$)
          \s*[:：/|]
      | ^\s*(?:updated|published|last\ updated|aggiornato|pubblicato|ultimo\ aggiornamento|
             发布时间|更新时间|发布于)\b
      | ^\s*[（(]?记者\s*[\u4e00-\u9fff]{2,4}(?:\s+[\u4e00-\u9fff]{2,4})*[）)]?\s*$
      | ^\s*文\s*[/|]\s*[\u4e00-\u9fff]{2,4}
      | subscribe | sign\ up | newsletter | cookie | iscriviti | abbonati | abbonamento
      | advertisement | advertising | pubblicit | sponsored | read\ more | read\ next
      | leggi\ anche | click\ here | follow\ us | share\ this | all\ rights\ reserved
      | copyright | ©  | javascript | 订阅 | 关注我们 | 点击 | 扫码 | 相关阅读 | 广告 | 版权
      | 未经授权 | 免责声明
    """, re.IGNORECASE | re.VERBOSE)


def summarize(text: str, lang: str, *, sentences: int = SUMMARY_SENTENCES,
              limit: int = SUMMARY_CHARS) -> str:
    """The first content sentences of `text` (see the module docstring): two when there
    are two, a third when it fits within `limit` characters; a first sentence longer
    than `limit` is cut at a word and marked with "…"."""
    cjk = _is_cjk(lang)
    limit = limit // 2 if cjk else limit
    joiner = "" if cjk else " "
    candidates = [s.strip() for p in split_paragraphs((text or "")[:HEAD_CHARS])
                  for s in split_sentences(p, lang or "en")]
    candidates = [s for s in candidates if s and not _BOILERPLATE.search(s)]
    if candidates:  # a dateline opens an article, nowhere else
        candidates[0] = strip_dateline(candidates[0])
    content = [s for s in candidates if _has_content(s)]
    chosen: list[str] = []
    for sentence in content or candidates:
        if chosen and len(joiner.join([*chosen, sentence])) > limit and len(chosen) >= 2:
            return joiner.join(chosen)
        chosen.append(sentence)
        if len(chosen) >= sentences:
            break
    out = joiner.join(chosen)
    if len(out) > limit * 1.5 or (len(chosen) == 1 and len(out) > limit):
        out = _cut(out, limit, cjk)
    return out


def strip_dateline(sentence: str) -> str:
    """`sentence` without the dateline that opens it ("BEIJING (Reuters) - ")."""
    match = _DATELINE.match(sentence)
    if match and _has_content(sentence[match.end():]):
        return sentence[match.end():].lstrip()
    return sentence


def is_boilerplate(sentence: str) -> bool:
    """True for a byline, credit, call to subscribe, cookie notice, timestamp … or a
    sentence without content words."""
    return bool(_BOILERPLATE.search(sentence)) or not _has_content(sentence)


def _has_content(sentence: str) -> bool:
    if len(_CJK_CHAR.findall(sentence)) >= 6:
        return True
    words = [w for w in _WORD.findall(sentence) if w.casefold() not in _STOPWORDS]
    return len(words) >= 2


def _cut(text: str, limit: int, cjk: bool) -> str:
    if cjk:
        return text[:limit].rstrip("，、；：,;: ") + "…"
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:–—-") + "…"


def _is_cjk(lang: str) -> bool:
    return (lang or "").lower().split("-")[0] in ("zh", "ja")
