"""Decode a fetched body: header charset, then the page's own declaration, then detection.

Real sites lie: GB2312 declared over GBK-only characters, ISO-8859-1 declared over cp1252
or UTF-8 bytes, Chinese pages that declare nothing. Declared legacy charsets are widened
to their supersets (gb2312/gbk → gb18030, latin-1 → cp1252) as browsers do, and bytes that
are valid UTF-8 win over a declared legacy charset.
"""

from __future__ import annotations

import codecs
import re

from .han import HAN

_META = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_\-.]+)["']""")
_WIDER = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "euc-cn": "gb18030", "hz-gb-2312": "gb18030",
    "iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
    "ascii": "cp1252", "iso8859-1": "cp1252", "iso-8859-15": "cp1252",
    "big5": "big5hkscs",
}
_SINGLE_BYTE_LATIN = {"cp1250", "cp1252", "iso8859-1", "iso8859-2", "iso8859-15", "latin-1",
                      "cp1257", "iso8859-9", "cp1254", "mac-roman", "cp850", "cp437"}


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def declared_in_document(body: bytes) -> str | None:
    """The charset a page or XML document declares about itself, in its first 4 KB."""
    head = body[:4096]
    match = _XML_DECL.search(head) or _META.search(head)
    return match.group(1).decode("ascii", "ignore") if match else None


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().lower()
    name = _WIDER.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _utf8(body: bytes) -> str | None:
    """The body as UTF-8, or None when it is not. A character cut in two at the very end
    (a body truncated at `max_bytes`) does not disqualify it; the stub is dropped."""
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return None


def decode(body: bytes, content_type: str | None = None) -> tuple[str, str, str]:
    """bytes → (text, charset used, where it came from)."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(name, "replace").lstrip("\ufeff"), name, "bom"
    non_ascii = not body.isascii()
    for origin, raw in (("header", charset_from_content_type(content_type)),
                        ("meta", declared_in_document(body))):
        codec = _codec(raw)
        if codec is None:
            continue
        utf8 = _utf8(body) if non_ascii else None
        if codec != "utf-8" and utf8 is not None:
            return utf8, "utf-8", "utf-8-sniffed"
        if codec == "utf-8" and utf8 is not None:
            return utf8, codec, origin
        try:
            return body.decode(codec), codec, origin
        except UnicodeDecodeError:
            # GBK pages with a few stray bytes: keep the declared charset if nearly clean.
            text = body.decode(codec, "replace")
            if text.count("\ufffd") <= max(3, len(text) // 2000):
                return text, codec, origin
            break  # the declaration is wrong: detect instead
    utf8 = _utf8(body)
    if utf8 is not None:
        return utf8, "utf-8", "detected"
    return _detect(body)


def _detect(body: bytes) -> tuple[str, str, str]:
    # Chinese first: gb18030 decodes every GBK page, and real Chinese text is mostly Han.
    try:
        text = body.decode("gb18030")
        high = [c for c in text if ord(c) > 0x7F]
        if high and sum(1 for c in high if HAN.match(c)) / len(high) > 0.8:
            return text, "gb18030", "detected"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # only bodies that declare nothing need it

    best = from_bytes(body[:200_000]).best()
    codec = _codec(best.encoding) if best else None
    if codec in _SINGLE_BYTE_LATIN:
        codec = "cp1252"  # the Western pages we read; cp1250 would turn "à" into "ŕ"
    if codec:
        return body.decode(codec, "replace"), codec, "detected"
    return body.decode("cp1252", "replace"), "cp1252", "detected"
