"""Charset decoding on real pages: what real sites declare, and the lies they tell.

`charset.decode(body, content_type)` takes the header's charset, then the page's own, then
detection; legacy declarations are widened (gb2312/gbk → gb18030, latin-1 → cp1252) and
valid UTF-8 bytes win over a declared legacy charset.
"""

from __future__ import annotations

import re

import pytest

from pipeline import charset

from .fixtures_http import CORPUS, CorpusFile, decoded, manifest

KNOWN = [f for f in manifest()
         if f.path.startswith(("html/", "feeds/")) and f.actual not in ("", "-")]
GB = [f for f in KNOWN if f.actual.startswith(("gb", "GB"))]
_DECLARATION = re.compile(rb"""(charset\s*=\s*["']?\s*|encoding\s*=\s*["'])[\w.:-]+""",
                          re.IGNORECASE)
PUA = re.compile("[\ue000-\uf8ff]")


def distinctive_line(item: CorpusFile) -> str | None:
    """The longest line of the expected text (cut to 30 characters), if there is one."""
    expected = item.expected_file(".txt")
    if expected is None:
        return None
    lines = [line.strip() for line in expected.read_text(encoding="utf-8").splitlines()]
    return max(lines, key=len)[:30] if lines else None


def strip_declarations(body: bytes) -> bytes:
    head, rest = body[:8192], body[8192:]
    return _DECLARATION.sub(rb"\1", head) + rest


def test_the_corpus_is_here() -> None:
    assert len(KNOWN) >= 70 and len(GB) >= 15


@pytest.mark.parametrize("item", KNOWN, ids=lambda f: f"{f.actual.split()[0]}:{f.name}")
def test_known_charset_decodes_cleanly(item: CorpusFile) -> None:
    text, used, _origin = decoded(item.path)
    assert "\ufffd" not in text
    actual = item.actual.split()[0].lower()
    family = {"gb2312": "gb18030", "gbk": "gb18030", "iso-8859-1": "cp1252",
              "windows-1252": "cp1252", "us-ascii": "utf-8"}.get(actual, actual)
    assert used == family
    line = distinctive_line(item)
    if line is not None:
        assert line in text


@pytest.mark.parametrize("item", GB, ids=lambda f: f.name)
def test_gb_pages_with_every_declaration_stripped(item: CorpusFile) -> None:
    body = strip_declarations(item.file.read_bytes())
    assert not re.search(rb"charset\s*=\s*[\"']?\s*gb", body[:8192], re.IGNORECASE)
    text, used, origin = charset.decode(body, "text/html")
    assert (used, origin) == ("gb18030", "detected")
    assert "\ufffd" not in text
    line = distinctive_line(item)
    if line is not None:
        assert line in text
    han = re.findall("[\u4e00-\u9fff]", text)
    assert len(han) > 200  # Chinese came out, not mojibake in another script


# ------------------------------------------------------------------ the README's traps

def test_gb2312_declared_over_utf8_bytes() -> None:
    """NetEase rolling-news list and a people.cn page: the browser saved UTF-8 bytes."""
    for name, word in (("html/zh/list-163-rolling-news.html", "网易"),
                       ("html/zh/people-culture-2019.html", "人民网")):
        raw = (CORPUS / name).read_bytes()
        assert re.search(rb"charset=\"?gb2312", raw[:4096], re.IGNORECASE)
        text, used, origin = charset.decode(raw, "text/html; charset=gb2312")
        assert (used, origin) == ("utf-8", "utf-8-sniffed")
        assert "\ufffd" not in text
        assert word in text


def test_gb2312_declared_over_gbk_only_characters() -> None:
    """The qq.com homepage declares gb2312 but uses GBK-only characters (e.g. 瑫, 喆)."""
    raw = (CORPUS / "html/zh/list-qq-homepage-2018.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gb2312")
    text, used, origin = charset.decode(raw, "text/html; charset=gb2312")
    assert (used, origin) == ("gb18030", "header")
    assert "\ufffd" not in text and "腾讯" in text


@pytest.mark.parametrize("name", ["sohu-finance-skii-2005", "163-biz-nike-airbag-2005"])
def test_gbk_user_defined_area_pairs_decode_to_private_use(name: str) -> None:
    """Stray user-defined-area byte pairs: only gb18030 decodes them (to U+E000–U+F8FF);
    the rest of the page must not be lost to a strict GBK decode failing."""
    raw = (CORPUS / f"html/zh/{name}.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gbk")
    text, used, _ = charset.decode(raw, "text/html; charset=gbk")
    assert used == "gb18030"
    assert PUA.search(text)
    item = next(f for f in manifest() if f.name == name and f.path.startswith("html/"))
    line = distinctive_line(item)
    assert line is not None and line in text


def test_iso_8859_1_declared_over_cp1252_bytes() -> None:
    """GoBari declares iso-8859-1; its curly quotes are cp1252 bytes 0x92-0x94."""
    raw = (CORPUS / "html/it/list-gobari-cronaca.html").read_bytes()
    assert any(b in raw for b in (b"\x92", b"\x93", b"\x94"))
    text, used, origin = charset.decode(raw, "text/html; charset=ISO-8859-1")
    assert (used, origin) == ("cp1252", "header")
    assert not re.search("[\x80-\x9f]", text)  # no C1 control characters left
    assert "’" in text or "“" in text


def test_no_declaration_at_all() -> None:
    """Corriere del Mezzogiorno: Latin-1 bytes, no meta charset, header lost."""
    raw = (CORPUS / "html/it/list-corriere-mezzogiorno-bari-cronaca.html").read_bytes()
    text, used, origin = charset.decode(raw, None)
    assert (used, origin) == ("cp1252", "detected")
    assert "\ufffd" not in text
    assert re.search(r"\b(città|più|perché|è)\b", text)


def test_wayback_capture_mixing_utf8_markup_with_gb2312_content() -> None:
    """What tidings does: the Wayback toolbar injected before the page's
    `<meta charset=gb2312>` is pure ASCII (its `charset="utf-8"` is a <script> attribute,
    not a declaration), so the page's own declaration is found and the whole capture is
    read as gb18030. The article text comes out right; the toolbar is ASCII either way."""
    raw = (CORPUS / "html/zh/hexinhuanet-wayback-2012.html").read_bytes()
    assert b'charset="utf-8"' in raw[:4096]
    text, used, origin = charset.decode(raw, None)
    assert (used, origin) == ("gb18030", "meta")
    assert "一个约定，信守15年，感人至深" in text
    assert "\ufffd" not in text
    # The same bytes with a UTF-8 header (as the Wayback Machine sends for its own pages):
    # they are not UTF-8, so the header is not believed blindly; detection finds GB.
    text2, used2, origin2 = charset.decode(raw, "text/html; charset=utf-8")
    assert (used2, origin2) == ("gb18030", "detected")
    assert "一个约定，信守15年，感人至深" in text2


def test_bom_wins() -> None:
    body = "\ufeff<html><body>小米汽车</body></html>".encode("utf-8")
    assert charset.decode(body, "text/html; charset=gbk")[:2] == (
        "<html><body>小米汽车</body></html>", "utf-8")


def test_utf8_cut_in_the_middle_of_a_character_is_still_utf8() -> None:
    body = "<p>小米汽车北京工厂".encode()[:-1]  # cut inside the last character
    text, used, _ = charset.decode(body, None)
    assert used == "utf-8"
    assert text == "<p>小米汽车北京工"
