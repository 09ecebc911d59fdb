"""The figures of a news text: numbers, dates and Latin-script names, language-independent.

The same event reported in English, Italian and Chinese keeps its figures, its dates and
many of its proper names, even where the words around them share nothing. These pure
functions reduce each of them to one canonical spelling, so that::

    300,000 vehicles = 300.000 veicoli = 30万辆                      → "300000"
    193.48 billion yuan = 193,48 miliardi di yuan = 1934.8亿元       → "193000000000"
    38.8% = 38,8% = 38.8％                                          → "38.8%"
    November 27 = 27 novembre = 11月27日                            → "11-27"
    E-Town, e-town, E‑Town                                          → "etown"

Numbers are rounded to three significant digits (a translation or another outlet rounds
differently: $30.3 billion = 30,26 miliardi di dollari). Years (1900-2099 standing alone)
and small counts are kept apart or dropped: they match everything.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

# Languages that write 1.234,5 (thousands ".", decimal ","); the rest write 1,234.5.
COMMA_DECIMAL = frozenset({"it", "de", "fr", "es", "pt", "nl", "ru", "pl", "tr", "sv", "da"})

SIGNIFICANT = 3  # digits kept: 193.48 → 193, 30.26 → 30.3

_SCALES: dict[str, float] = {
    # English
    "thousand": 1e3, "k": 1e3, "million": 1e6, "millions": 1e6, "mn": 1e6, "m": 1e6,
    "mln": 1e6, "billion": 1e9, "billions": 1e9, "bn": 1e9, "b": 1e9, "trillion": 1e12,
    "tn": 1e12,
    # Italian
    "mila": 1e3, "milione": 1e6, "milioni": 1e6, "miliardo": 1e9, "miliardi": 1e9, "mld": 1e9,
    "mrd": 1e9, "bilioni": 1e12,
    # Chinese (longest first in the pattern)
    "万亿": 1e12, "千亿": 1e11, "百亿": 1e10, "十亿": 1e9, "亿": 1e8, "千万": 1e7, "百万": 1e6,
    "十万": 1e5, "万": 1e4, "千": 1e3,
}


def _alternatives(words: Iterable[str], *, ascii_only: bool) -> str:
    """A regex alternation of the ASCII words (or of the others), longest first, so that
    the longest form is the one that matches ("kwh" before "kw", "千瓦时" before "千瓦")."""
    return "|".join(sorted((w for w in words if w.isascii() == ascii_only), key=len,
                           reverse=True))


_LATIN_SCALE = _alternatives(_SCALES, ascii_only=True)
_CJK_SCALE = _alternatives(_SCALES, ascii_only=False)

_NUMBER = re.compile(
    r"(?<![A-Za-z0-9.,])(?P<num>\d+(?:[.,]\d+)*)"
    r"(?:\s?(?P<cjk>" + _CJK_SCALE + r")(?![瓦米克])"  # 千瓦, 千米, 千克: kW, km, kg
    r"|\s?(?P<latin>" + _LATIN_SCALE + r")\b"
    r"|\s?(?P<pct>%|％|per\s?cent\b|percent\b|per\s+cento\b))?",
    re.IGNORECASE)

# The unit after a figure, by the quantity it measures: "400 km", "400 chilometri" and
# "四百公里" are one figure with its unit, which says more than the bare number.
_UNITS = {
    "km": ("km", "kilometres", "kilometers", "kilometre", "kilometer", "chilometri",
           "chilometro", "公里", "千米"),
    "kwh": ("kwh", "kilowatt-hours", "kilowatt hours", "chilowattora", "千瓦时"),
    "kw": ("kw", "kilowatts", "kilowatt", "chilowatt", "千瓦"),
    "mw": ("mw", "megawatts", "megawatt", "兆瓦"),
    "vehicles": ("cars", "vehicles", "vetture", "veicoli", "auto", "辆"),
}
_UNIT_OF = {form: unit for unit, forms in _UNITS.items() for form in forms}
_UNIT_AFTER = re.compile(
    r"\s?(?:(?:" + _alternatives(_UNIT_OF, ascii_only=True).replace(" ", r"\s") + r")\b"
    r"|" + _alternatives(_UNIT_OF, ascii_only=False) + ")",
    re.IGNORECASE)

_MONTHS_EN = ("january", "february", "march", "april", "may", "june", "july", "august",
              "september", "october", "november", "december")
_MONTHS_IT = ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
              "settembre", "ottobre", "novembre", "dicembre")
_MONTH_NUMBER: dict[str, int] = {}
for _i, (_en, _it) in enumerate(zip(_MONTHS_EN, _MONTHS_IT, strict=True), start=1):
    _MONTH_NUMBER[_en] = _MONTH_NUMBER[_it] = _MONTH_NUMBER[_en[:3]] = _i
_MONTH_NUMBER["sept"] = 9
_MONTH_WORD = r"(?:" + "|".join(sorted(_MONTH_NUMBER, key=len, reverse=True)) + r")"

# Each pattern starts with what it must match first (19|20, a digit, a month's first
# letter), so that the regex engine looks for that instead of trying the whole pattern at
# every character; the checks of the character before come after it: (?<!\d..) behind
# "19" is (?<!\d) before it, and (?<!\w.) behind a digit is \b before it. The same
# matches, in a quarter to two thirds of the time each.
_DATE_PATTERNS = (
    # 2021-11-28, 2024/03/13, 2021.11.28
    re.compile(r"(?P<y>(?:19|20)(?<!\d..)\d\d)[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)"),
    # 2021年11月27日, 11月27日, 11月27号
    re.compile(r"(?=\d)(?:(?P<y>(?:19|20)\d\d)\s?年\s?)?(?P<m>\d{1,2})\s?月\s?(?P<d>\d{1,2})"
               r"\s?[日号]"),
    # November 27, Nov. 27th, 2021 (the lookahead, true wherever a month word is, spares
    # trying forty month words at every word)
    re.compile(r"\b(?=[" + "".join(sorted({w[0] for w in _MONTH_NUMBER})) + r"][a-z]{2,8}\.?\s+\d)"
               r"(?P<mw>" + _MONTH_WORD + r")\.?\s+(?P<d>\d{1,2})"
               r"(?:st|nd|rd|th)?\b(?:,?\s+(?P<y>(?:19|20)\d\d)\b)?", re.IGNORECASE),
    # 27 November 2021, 27 novembre, 1° marzo
    re.compile(r"(?P<d>\d(?<!\w.)\d?)(?:°|º|st|nd|rd|th)?\s+(?:of\s+)?(?P<mw>" + _MONTH_WORD
               + r")\b(?:\s+(?P<y>(?:19|20)\d\d)\b)?", re.IGNORECASE),
)

_LATIN_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-\u2010\u2011.][A-Za-z0-9]+)*")
_HYPHENS = re.compile(r"[-\u2010\u2011]")
_SENTENCE_END = re.compile(r"[.!?:;\"“”「」。！？\n(（]\s*$")

# Chinese numerals: 三十万 = 300000, 一百亿 = 10000000000, 三点五亿 = 350000000,
# 百分之三十八点八 = 38.8%, 二〇二一年 = 2021年. Rewritten as digits before any other reading.
_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_SMALL = {"十": 10, "百": 100, "千": 1000}
_CN_LARGE = {"万": 10_000, "亿": 100_000_000}
_CN_CHARS = "".join(_CN_DIGITS) + "".join(_CN_SMALL) + "".join(_CN_LARGE)
_CN_RUN = re.compile(r"(?P<pct>百分之)?(?P<run>[" + _CN_CHARS + r"]+(?:点[" + "".join(_CN_DIGITS)
                     + r"]+[万亿]*)?)(?P<after>[年月日号]?)")
_CN_MAX_RUN = 24  # longer runs are not numbers anyone writes
_CN_ANY = re.compile("[" + _CN_CHARS + "]")


def _cn_integer(run: str) -> int | None:
    """The value of a numeral without a decimal point, or None when it is not one."""
    if all(ch in _CN_DIGITS for ch in run):  # 二〇二一: read digit by digit
        return int("".join(str(_CN_DIGITS[ch]) for ch in run)) if len(run) > 1 else \
            _CN_DIGITS[run]
    total = section = number = 0
    for ch in run:
        if ch in _CN_DIGITS:
            number = _CN_DIGITS[ch]
        elif ch in _CN_SMALL:
            section += (number or 1) * _CN_SMALL[ch]
            number = 0
        elif ch == "万":
            total += (section + number or 1) * 10_000
            section = number = 0
        elif ch == "亿":
            total = (total + section + number or 1) * 100_000_000
            section = number = 0
        else:
            return None
    return total + section + number


def _cn_value(run: str) -> float | None:
    if "点" not in run:
        value = _cn_integer(run)
        return None if value is None else float(value)
    left, _, right = run.partition("点")
    digits = "".join(str(_CN_DIGITS[ch]) for ch in right if ch in _CN_DIGITS)
    scale = 1.0
    for ch in right[len(digits):]:
        scale *= _CN_LARGE.get(ch, 1)
    whole = _cn_integer(left) if left else 0
    if whole is None or not digits:
        return None
    return (whole + float("0." + digits)) * scale


_CN_PERCENT_DIGITS = re.compile(r"百分之\s?(\d+(?:\.\d+)?)")


def _number_text(value: float, *, year: bool = False) -> str:
    """Digits the number reader takes as this value: 2021 as a year only before 年, else
    2,000 (so 两千辆 is not read as the year 2000)."""
    if value != int(value):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(int(value)) if year or value < 1000 else f"{int(value):,}"


def chinese_numerals(text: str) -> str:
    """Text with Chinese numerals rewritten as digits where they are quantities, dates or
    percentages (三十万辆 → 300000辆, 十一月二十七日 → 11月27日, 百分之三十 → 30%).
    Numerals below 100 that are neither (一个, 第一, 统一) are left as they are."""
    if not _CN_ANY.search(text):
        return text  # also no 百分之

    def rewrite(m: re.Match[str]) -> str:
        run = m["run"]
        if len(run) > _CN_MAX_RUN or not (run[0] in _CN_DIGITS or run[0] == "十"):
            return m.group(0)  # 百货, 千万, 万一, 亿万: words, not numbers
        value = _cn_value(run)
        if value is None:
            return m.group(0)
        if m["pct"]:
            return f"{_number_text(value)}%{m['after']}"
        if m["after"] or value >= 100:
            return f"{_number_text(value, year=m['after'] == '年')}{m['after']}"
        return m.group(0)

    return _CN_PERCENT_DIGITS.sub(r"\1%", _CN_RUN.sub(rewrite, text))


def words(text: str) -> list[str]:
    """A whitespace-separated word list (for the lists below)."""
    return text.split()


# Capitalised words that are not names: function words and sentence openers (en, it),
# weekdays and months, titles. Compared case-folded.
STOP_NAMES = frozenset(words("""
a about after again against all also although an and another any are as at be because been
before being between both but by can could did do does during each either even every few
first for from further had has have he her here hers him his how however i if in into is it
its just last later least less many may me meanwhile more most much my neither new next no
nor not now of off on once one only or other our out over own per same she should since so
some still such than that the their them then there these they this those though three
through thus to today too two under until up upon us very was we were what when where
whether which while who whom whose why will with within without would yet you your according
earlier additionally despite overall instead therefore besides although il lo la i gli le un
uno una di da del della dei delle dello degli dal dalla dai in con su per tra fra che non e
ed o ma se come anche dove quando quale quali questo questa questi queste quello quella ci
si ha hanno è sono era secondo dopo nei nel nella negli alle alla al ai agli sul sulla
pertanto inoltre oggi ieri già poi più monday tuesday wednesday thursday friday saturday
sunday lunedì martedì mercoledì giovedì venerdì sabato domenica mr mrs ms dr prof sig
""")) | frozenset(_MONTHS_EN) | frozenset(_MONTHS_IT)

# Titles written before a name, not part of it: "CEO Lei Jun" is Lei Jun.
TITLE_WORDS = frozenset(words("""
ceo cfo cto coo chairman chairwoman president founder cofounder chief executive minister
premier secretary governor senator mayor prof
"""))

# Names so frequent in this domain that sharing them says little (weight reduced).
COMMON_NAMES = frozenset(words("""
china chinese beijing shanghai shenzhen us usa u.s america american europe european eu asia
global world group co ltd inc corp company ceo cfo ev evs nev nevs suv suvs ai it pechino
cina cinese gruppo news reuters bloomberg xinhua cnevpost wechat weibo q1 q2 q3 q4 pro max
plus ultra mini lite
"""))


PINYIN_CHARS = 200  # Chinese characters (headline and lead) whose pinyin is kept
PINYIN_MIN_LETTERS = 5  # a Latin name shorter than this is too likely to match by chance
_HANZI_RUN = re.compile(r"[\u4e00-\u9fff]+")


@functools.cache
def _pinyin_table() -> dict[int, str]:
    """pypinyin's readings of each character (code point → "yī,yì"), read from the
    package's JSON file: importing `pypinyin.pinyin_dict` runs the package's `__init__`,
    which also builds its phrase dictionary and segmenter (~40 MB this module never uses)."""
    spec = importlib.util.find_spec("pypinyin")  # a top-level package: found, not run
    if spec is not None and spec.origin is not None:
        try:
            raw = json.loads(Path(spec.origin).with_name("pinyin_dict.json").read_text("utf-8"))
            return {int(k): str(v) for k, v in raw.items()}
        except (OSError, ValueError, AttributeError):
            pass  # another layout of the package: import it as it says
    from pypinyin.pinyin_dict import pinyin_dict
    return dict(pinyin_dict)


_READINGS: dict[str, tuple[str, ...]] = {}
READINGS_PER_CHAR = 2  # 重庆 is chongqing, not zhongqing: the first two readings count


def _readings(char: str) -> tuple[str, ...]:
    """A character's toneless pinyin readings, most common first (亦 → ("yi",))."""
    found = _READINGS.get(char)
    if found is None:
        plain = (unicodedata.normalize("NFD", r).encode("ascii", "ignore").decode()
                 for r in _pinyin_table().get(ord(char), "").split(","))
        found = tuple(dict.fromkeys(r for r in plain if r.isalpha()))[:READINGS_PER_CHAR]
        _READINGS[char] = found
    return found


def pinyin_grams(text: str, *, limit: int = PINYIN_CHARS,
                 readings: int = READINGS_PER_CHAR) -> list[str]:
    """Toneless pinyin of every run of two and three Chinese characters among the first
    `limit` of `text`, in each character's common readings: 亦庄 → "yizhuang", 雷军 →
    "leijun", 青岛 → "qingdao", 长安 → "changan" (and "zhangan"). A Latin name of another
    article (normalised, spaces removed) found among them is a shared name."""
    grams: dict[str, None] = {}
    left = limit
    for run in _HANZI_RUN.findall(text):
        run = run[:left]
        left -= len(run)
        options = [_readings(ch)[:readings] for ch in run]
        pairs = list(itertools.pairwise(options))
        for one, two in pairs:  # all the pairs, then all the triples, each in text order
            for a in one:
                for b in two:
                    grams[a + b] = None
        for (one, two), three in zip(pairs, options[2:]):
            for a in one:
                for b in two:
                    for c in three:
                        grams[a + b + c] = None
        if left <= 0:
            break
    return list(grams)


_SYLLABLES: frozenset[str] | None = None


def reads_as_pinyin(letters: str) -> bool:
    """True when lower-case `letters` split into at most four pinyin syllables: "qingdao",
    "leijun", "yizhuang" do; "szeged", "hungary", "teixeira" do not."""
    global _SYLLABLES
    if _SYLLABLES is None:
        _SYLLABLES = frozenset(
            plain for readings in _pinyin_table().values() for r in readings.split(",")
            if (plain := unicodedata.normalize("NFD", r).encode("ascii", "ignore").decode())
            .isalpha())
    if not letters.isascii() or len(letters) > 24:
        return False
    best = [0] + [99] * len(letters)  # fewest syllables covering letters[:i]
    for i in range(len(letters)):
        if best[i] >= 4:
            continue
        for j in range(i + 1, min(len(letters), i + 6) + 1):
            if letters[i:j] in _SYLLABLES:
                best[j] = min(best[j], best[i] + 1)
    return best[-1] <= 4


def latin_key(name: str) -> str | None:
    """The form of a Latin name compared with pinyin: letters only, or None when too short
    or not plain ASCII ("lei jun" → "leijun", "E-Town" → None: "etown" is four letters)."""
    letters = name.replace(" ", "")
    if not letters.isascii() or not letters.isalpha() or len(letters) < PINYIN_MIN_LETTERS:
        return None
    return letters.lower()


@dataclass(slots=True)
class Figures:
    """What `scan` finds in one text."""

    numbers: list[str] = field(default_factory=list)  # canonical, in order of first mention
    units: dict[str, str] = field(default_factory=dict)  # of `numbers`: the unit written after
    dates: list[str] = field(default_factory=list)  # "MM-DD"
    years: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # normalised Latin-script names


def canonical_number(value: float) -> str:
    """A value rounded to `SIGNIFICANT` digits, spelled one way: 193480000000 → "193000000000",
    30.26 → "30.3", 300000.0 → "300000"."""
    if value == 0:
        return "0"
    digits = SIGNIFICANT - math.floor(math.log10(abs(value))) - 1
    rounded = round(value, digits)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.{max(digits, 0)}f}".rstrip("0").rstrip(".")


@functools.lru_cache(maxsize=8192)
def specificity(canonical: str) -> int:
    """How telling a canonical number is: its significant digits, +1 for a percentage;
    plain integers below 1000 and decimals below 10 (model numbers, counts, sizes) are 1.
    "300000" → 1, "150000" → 2, "193000000000" → 3, "38.8%" → 4, "865" → 1. Memoised: every
    comparison asks again for the figures of the candidates it meets."""
    percent = canonical.endswith("%")
    if not percent:
        value = float(canonical)
        if value < 10 or (value < 1000 and value == int(value)):
            return 1
    body = canonical.rstrip("%").replace(".", "").lstrip("0").rstrip("0")
    return max(len(body), 1) + (1 if percent else 0)


@functools.lru_cache(maxsize=8192)
def coarser(canonical: str) -> tuple[str, ...]:
    """The number as an outlet that rounds harder would write it: each rounding to fewer
    significant digits that still has two ("38.3%" → ("38%",); "31800" → ("32000",);
    "289000" → ("290000",)). One digit says too little ("42000" → "40000" is another
    company's "over 40,000"). Memoised: the candidates of one article repeat figures."""
    percent = canonical.endswith("%")
    value = float(canonical.rstrip("%"))
    body = canonical.rstrip("%").replace(".", "").lstrip("0").rstrip("0")
    out = []
    for digits in range(len(body) - 1, 1, -1):
        if value == 0:
            break
        shift = digits - math.floor(math.log10(abs(value))) - 1
        rounded = round(value, shift)
        text = str(int(rounded)) if rounded == int(rounded) else \
            f"{rounded:.{max(shift, 0)}f}".rstrip("0").rstrip(".")
        text += "%" if percent else ""
        if text != canonical and text not in out:
            out.append(text)
    return tuple(out)


def parse_number(token: str, lang: str = "en") -> float | None:
    """A digit string with separators, read the way `lang` writes numbers.

    Two separators: the last is the decimal one. One separator seen several times: a
    thousands separator. One separator seen once with three digits after it: thousands in
    the language's convention (300.000 in Italian, 300,000 in English), else decimal."""
    dots, commas = token.count("."), token.count(",")
    if dots and commas:
        decimal = "." if token.rfind(".") > token.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        text = token.replace(thousands, "").replace(decimal, ".")
    elif dots or commas:
        sep = "." if dots else ","
        groups = token.split(sep)
        if len(groups) > 2:
            if not all(len(g) == 3 for g in groups[1:]):
                return None  # 1.2.3 — a version, a section number
            text = "".join(groups)
        elif len(groups[1]) == 3 and (sep == ",") != (lang in COMMA_DECIMAL):
            text = "".join(groups)
        else:
            text = groups[0] + "." + groups[1]
    else:
        text = token
    try:
        return float(text)
    except ValueError:
        return None


def _strip_dates(text: str, dates: set[str], years: set[str]) -> str:
    cjk = "月" in text  # the Chinese pattern needs it: without, it is not tried at all
    for pattern in _DATE_PATTERNS:
        if pattern is _DATE_PATTERNS[1] and not cjk:
            continue
        def found(m: re.Match[str]) -> str:
            groups = m.groupdict()
            month = int(groups["m"]) if groups.get("m") else _MONTH_NUMBER.get(
                (groups.get("mw") or "").lower().rstrip("."), 0)
            day = int(groups["d"])
            if 1 <= month <= 12 and 1 <= day <= 31:
                dates.add(f"{month:02d}-{day:02d}")
                if groups.get("y"):
                    years.add(groups["y"])
                return " " * len(m.group(0))
            return m.group(0)
        text = pattern.sub(found, text)
    return text


def numbers(text: str, lang: str = "en", *, years: set[str] | None = None,
            units: dict[str, str] | None = None) -> list[str]:
    """Canonical numbers in `text`, in order of first mention (a headline's or a lead's
    figure is the one other write-ups repeat). Years go to `years` when given; bare
    integers below 100 (counts, ordinals) are dropped; the unit first written after a
    number (`_UNITS`) goes to `units` when given."""
    text = chinese_numerals(unicodedata.normalize("NFKC", text))
    found: dict[str, int] = {}
    for m in _NUMBER.finditer(text):
        value = parse_number(m["num"], lang)
        if value is None:
            continue
        scale = m["cjk"] or m["latin"]
        if m["pct"]:
            if value > 1000:
                continue
            canonical = canonical_number(value) + "%"
        elif scale:
            factor = _SCALES.get(scale.lower(), _SCALES.get(scale, 1.0))
            if factor == 1e6 and scale.lower() in {"m", "b", "k"} and value > 1000:
                continue  # "2000 m" is metres, not millions
            canonical = canonical_number(value * factor)
        else:
            is_integer = "." not in m["num"] and "," not in m["num"]
            if is_integer and len(m["num"]) == 4 and 1900 <= value <= 2099 \
                    and not _quantity_after(text, m.start(), m.end()):
                if years is not None:
                    years.add(m["num"])
                continue
            if value < 100 and (is_integer or value == int(value)):
                continue
            canonical = canonical_number(value)
        found[canonical] = found.get(canonical, 0) + 1
        if units is not None and not m["pct"] and canonical not in units:
            after = _UNIT_AFTER.match(text, m.end())
            # .get: IGNORECASE also matches a few non-ASCII letters (ı for i), not in the table
            unit = _UNIT_OF.get(" ".join(after.group(0).split()).lower()) if after else None
            if unit is not None:
                units[canonical] = unit
    return list(found)


_CURRENCY_BEFORE = frozenset("$€£¥￥")
_YEAR_AFTER = frozenset("年款届级")


def _quantity_after(text: str, start: int, end: int) -> bool:
    """Whether a four-digit integer that could be a year is a quantity: a price ($1999,
    ¥1999) or a Chinese count or amount (1999元, 2000辆; a year is followed by 年)."""
    before = text[max(0, start - 2):start].strip()
    if before and before[-1] in _CURRENCY_BEFORE:
        return True
    after = text[end:end + 2].lstrip()
    return bool(after) and "\u4e00" <= after[0] <= "\u9fff" and after[0] not in _YEAR_AFTER


def dates(text: str) -> tuple[list[str], list[str]]:
    """("MM-DD" dates, years) mentioned in `text`, in any of the three languages."""
    found: set[str] = set()
    years: set[str] = set()
    _strip_dates(chinese_numerals(unicodedata.normalize("NFKC", text)), found, years)
    return sorted(found), sorted(years)


_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_IT = ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica")
_WEEKDAY_OF: dict[str, int] = {}
for _i, (_en, _it) in enumerate(zip(_WEEKDAYS_EN, _WEEKDAYS_IT, strict=True)):
    _WEEKDAY_OF[_en] = _WEEKDAY_OF[_it] = _WEEKDAY_OF[_it.replace("ì", "i")] = _i
for _i, _ch in enumerate("一二三四五六日"):
    for _prefix in ("星期", "周", "礼拜"):
        _WEEKDAY_OF[_prefix + _ch] = _i
_WEEKDAY_OF["星期天"] = _WEEKDAY_OF["周天"] = _WEEKDAY_OF["礼拜天"] = 6
_DAYS_BACK = {"yesterday": 1, "Yesterday": 1, "ieri": 1, "Ieri": 1, "昨天": 1, "昨日": 1,
              "today": 0, "Today": 0, "oggi": 0, "Oggi": 0, "今天": 0, "今日": 0}
_RELATIVE_WORDS = sorted(list(_WEEKDAY_OF) + list(_DAYS_BACK), key=len, reverse=True)
_RELATIVE = re.compile(  # the class of first letters spares trying every word everywhere
    r"(?<![A-Za-z])(?=[" + re.escape("".join(sorted({w[0] for w in _RELATIVE_WORDS})))
    + r"])(?:" + "|".join(_RELATIVE_WORDS) + r")(?![A-Za-z])")


def relative_dates(text: str, published: date) -> list[str]:
    """"MM-DD" dates that weekdays and "yesterday"/"today" name, read from the day the text
    was published: "said on Thursday" in a report of Friday 2025-06-27 is 06-26 (a weekday
    is the latest such day on or before publication)."""
    found: set[str] = set()
    for m in _RELATIVE.finditer(text):
        word = m.group(0)
        back = _DAYS_BACK.get(word)
        if back is None:
            back = (published.weekday() - _WEEKDAY_OF[word]) % 7
        day = published - timedelta(days=back)
        found.add(f"{day.month:02d}-{day.day:02d}")
    return sorted(found)


_NAME_PUNCT = re.compile(r"[-\u2010-\u2015'’.]")
_SPACES = re.compile(r"\s+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def normalise_name(name: str) -> str:
    """E-Town → etown, Lei Jun → lei jun, SU7 → su7."""
    if name.isascii() and name.isalnum():
        return name.lower()
    name = unicodedata.normalize("NFKC", name).casefold()
    return _SPACES.sub(" ", _NAME_PUNCT.sub("", name)).strip()


def names(text: str, lang: str = "en", *, limit: int = 40) -> list[str]:
    """Latin-script proper names, normalised, most frequent first.

    In Chinese (or any non-Latin) text every Latin token of two or more characters is a
    name (SU7, CATL, Xiaomi). In Latin-script text a word counts when it is capitalised
    somewhere other than at the start of a sentence, or written in capitals/with digits
    (BAIC, SU7), and is not a function word. Consecutive capitalised words also give the
    joined name ("lei jun")."""
    text = unicodedata.normalize("NFKC", text)
    latin_letters = len(text.encode("ascii", "ignore").translate(None, _NOT_ASCII_LETTERS))
    cjk = lang in {"zh", "ja", "ko"} or latin_letters < len(text) * 0.3
    lower_words = set() if cjk else set(_LOWER_WORD.findall(text))
    # The tokens that may be names, (start, end, folded, sure). Those that cannot are left
    # out: a run of names ends at any token between, as it ends at any gap (tokens are
    # never adjacent, so a token between two means more than one character between them).
    tokens: list[tuple[int, int, str, bool]] = []
    known: set[str] = set()
    for m in _LATIN_TOKEN.finditer(text):
        token = m.group(0)
        if not cjk and token.islower():  # an ordinary word: never a name
            continue
        token = token.rstrip(".")
        token = _without_adjective_tail(token)
        folded = normalise_name(token)
        if len(folded) < 2 or folded in STOP_NAMES or folded.isdigit():
            continue
        start = m.start()
        if cjk:
            tokens.append((start, start + len(token), folded, True))
            continue
        rest = token[1:]
        initial = token[:1].isupper()
        shouty = token.isupper() or (not token.isalpha() and _DIGIT.search(token) is not None) \
            or (initial and rest != rest.lower())  # capitals or digits (the token is ASCII)
        capital = initial and token.lower() not in lower_words
        if shouty or (capital and not (start == 0 or _SENTENCE_END.search(
                text, max(0, start - 3), start))):
            known.add(folded)
            tokens.append((start, start + len(token), folded, True))
        elif capital:  # a sentence opener: a name if it is one elsewhere
            tokens.append((start, start + len(token), folded, False))
    counts: dict[str, int] = {}
    run: list[str] = []
    last_end = -1
    for start, end, folded, sure in tokens:
        if not (sure or folded in known):
            continue  # not a name; the next one is more than a character away
        if run and start - last_end > 1:
            _count_run(run, counts)
            run.clear()
        counts[folded] = counts.get(folded, 0) + 1
        run.append(folded)
        last_end = end
    _count_run(run, counts)
    ranked = sorted(counts, key=lambda n: (-counts[n], n))
    return ranked[:limit]


def _without_adjective_tail(token: str) -> str:
    """"Huawei-backed" → "Huawei", "Kong-listed" → "Kong": the lowercase parts after the
    last capitalised one are an adjective made of the name. Linear in the token (a page
    controls its length: a regex anchored at the end would be quadratic)."""
    if "-" not in token and "\u2010" not in token and "\u2011" not in token:
        return token
    parts = _HYPHENS.split(token)
    keep = len(parts)
    while keep > 1 and parts[keep - 1].isascii() and parts[keep - 1].isalpha() \
            and parts[keep - 1].islower():
        keep -= 1
    if keep == len(parts):
        return token
    return token[:sum(map(len, parts[:keep])) + keep - 1]  # each hyphen one character


def _count_run(run: list[str], counts: dict[str, int]) -> None:
    """Count a run of two or more names as the joined name, without the titles that lead
    it ("CEO Lei Jun" is Lei Jun, as "Lei Jun" elsewhere and 雷军 in Chinese are)."""
    first = 0
    while first < len(run) - 1 and run[first] in TITLE_WORDS:
        first += 1
    if len(run) - first > 1:
        joined = " ".join(run[first:])
        counts[joined] = counts.get(joined, 0) + 1


_NOT_ASCII_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())  # deleted, counting
_LOWER_WORD = re.compile(r"\b[a-z][a-z]+\b")
_DIGIT = re.compile(r"[0-9]")


def scan(text: str, lang: str = "en", *, with_names: bool = True) -> Figures:
    """Numbers, dates, years and (unless told not to) names of one text."""
    text = unicodedata.normalize("NFKC", text)
    found_dates: set[str] = set()
    found_years: set[str] = set()
    rest = _strip_dates(chinese_numerals(text), found_dates, found_years)
    units: dict[str, str] = {}
    nums = numbers(rest, lang, years=found_years, units=units)
    return Figures(numbers=nums, units=units, dates=sorted(found_dates),
                   years=sorted(found_years), names=names(text, lang) if with_names else [])
