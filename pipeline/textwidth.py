"""Text in a fixed-width world (the digest's plain-text part, terminal tables): widths in
display columns, not characters, and line breaks where a reader expects them. Pure.

Chinese and Japanese characters take two columns (`wcwidth` knows which); a line may break
between two of them, but never inside a number with its unit ("15.98万", "21,59 €" stays
whole when written "21,59€"), a Latin word or a URL, before closing punctuation (，。）」…)
or after opening punctuation (（「“…). A piece wider than a whole line (a long URL) is cut
only when `break_long` is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import wcwidth

from . import han

__all__ = ["truncate", "width", "wrap"]

#: Wide scripts a line may break between any two characters of: Han, and the radicals,
#: punctuation, kana, bopomofo, Hangul and full-width forms written beside it.
_CJK = han.RANGES + "\u2e80-\u2fff\u3000-\u30ff\u3100-\u312f\u3190-\u31ff\uac00-\ud7af" \
    "\uff00-\uffef"
#: Characters no line may start with (closing punctuation, CJK and Latin).
_NO_START = "，。、；：！？）」』》】〉”’・…‥ー々ゝゞ〕｝］,.;:!?)]}%％"
#: Characters no line may end with (opening punctuation).
_NO_END = "（「『《【〈“‘〔｛［([{"
#: CJK multipliers and units that belong to the number before them.
_NUMBER_UNITS = "万亿千百元辆台吨年月日号倍"
# A piece: a run of non-space non-CJK characters (a word, a number, a URL) with the CJK
# units that follow a number in it, or one CJK character; then any whitespace.
_PIECE = re.compile(rf"([^\s{_CJK}]*\d[%％]?[{_NUMBER_UNITS}]+|[^\s{_CJK}]+|[{_CJK}])(\s*)")


def width(text: str) -> int:
    """Display columns of `text` (2 for a Chinese character, 1 for a Latin one)."""
    w = wcwidth.wcswidth(text)
    return w if w >= 0 else sum(max(0, wcwidth.wcwidth(c)) for c in text)


def truncate(text: str, columns: int, ellipsis: str = "…") -> str:
    """`text` cut to at most `columns` display columns, with `ellipsis` when cut."""
    if width(text) <= columns:
        return text
    room = columns - width(ellipsis)
    out = ""
    for char in text:
        if width(out + char) > room:
            break
        out += char
    return out.rstrip() + ellipsis


def wrap(text: str, columns: int, *, initial_indent: str = "", subsequent_indent: str = "",
         break_long: bool = False) -> list[str]:
    """`text` as lines of at most `columns` display columns (indent included), whitespace
    collapsed. Unbreakable pieces wider than a line stand alone on an overlong line unless
    `break_long` (then they are cut by width)."""
    lines: list[str] = []
    line, indent, gap = "", initial_indent, False
    for piece, space_after in _pieces(text):
        room = columns - width(indent)
        if break_long and width(piece) > room:
            for chunk in _chunks(piece, max(1, room)):
                if line:
                    lines.append(indent + line)
                    indent = subsequent_indent
                line, gap = chunk, False
            gap = space_after
            continue
        joined = line + (" " if gap and line else "") + piece
        if line and width(indent + joined) > columns:
            lines.append(indent + line)
            indent, line = subsequent_indent, piece
        else:
            line = joined
        gap = space_after
    if line:
        lines.append(indent + line)
    return lines


def _pieces(text: str) -> Iterator[tuple[str, bool]]:
    """Unbreakable pieces of `text`, each with whether whitespace follows it."""
    pieces: list[str] = []
    spaces: list[bool] = []
    for match in _PIECE.finditer(text):
        piece, space = match.group(1), bool(match.group(2))
        if pieces and not spaces[-1] and (piece[0] in _NO_START or pieces[-1][-1] in _NO_END):
            pieces[-1] += piece
            spaces[-1] = space
        else:
            pieces.append(piece)
            spaces.append(space)
    yield from zip(pieces, spaces, strict=True)


def _chunks(piece: str, columns: int) -> Iterator[str]:
    chunk = ""
    for char in piece:
        if chunk and width(chunk + char) > columns:
            yield chunk
            chunk = ""
        chunk += char
    if chunk:
        yield chunk
