"""Fixed-width text: display columns, not characters; numbers and words never split."""

from __future__ import annotations

import re

import pytest

from pipeline.textwidth import truncate, width, wrap

ZH = ("小米汽车今天宣布，SU7标准版售价为21.59万元，Pro版售价为24.59万元，Max版售价为"
      "29.99万元，上市后订单量超过15.98万辆。雷军表示，工厂年产能为15万辆（二期）。")
NUMBERS = ["21.59万元", "24.59万元", "29.99万元", "15.98万辆", "15万辆", "SU7"]


def test_width_counts_display_columns() -> None:
    assert width("SU7") == 3
    assert width("小米") == 4
    assert width("小米 SU7") == 8
    assert width("") == 0


@pytest.mark.parametrize("columns", range(16, 61, 3))
def test_chinese_wraps_within_the_width_and_keeps_numbers_whole(columns: int) -> None:
    lines = wrap(ZH, columns, initial_indent="  ", subsequent_indent="  ")
    assert all(width(line) <= columns for line in lines), lines
    for number in NUMBERS:
        assert any(number in line for line in lines), (number, lines)
    assert "".join(line.strip() for line in lines) == ZH  # nothing lost, no space added
    assert not any(line.strip()[0] in "，。）" for line in lines)  # no line opens with these
    assert not any(line.rstrip().endswith("（") for line in lines)


def test_latin_text_breaks_at_spaces_only() -> None:
    text = "Xiaomi to build a 300,000-car plant in Beijing's Yizhuang district, in two phases."
    lines = wrap(text, 24)
    assert all(width(line) <= 24 for line in lines)
    assert " ".join(lines) == text
    assert any("300,000-car" in line for line in lines)


def test_mixed_text_may_break_between_latin_and_chinese() -> None:
    lines = wrap("雷军 said 小米汽车的工厂 will open", 12)
    assert all(width(line) <= 12 for line in lines)
    assert re.sub(r"\s+", "", "".join(lines)) == re.sub(r"\s+", "", "雷军 said 小米汽车的工厂 will open")


def test_a_long_url_stands_alone_or_is_cut_when_asked() -> None:
    url = "https://example.com/" + "x" * 60
    assert wrap(f"see {url} now", 30) == ["see", url, "now"]
    cut = wrap(f"see {url}", 30, break_long=True)
    assert all(width(line) <= 30 for line in cut) and "".join(cut[1:]) == url


def test_truncate_by_columns() -> None:
    assert truncate("小米汽车亦庄工厂", 9) == "小米汽车…"
    assert width(truncate("小米汽车亦庄工厂", 9)) <= 9
    assert truncate("short", 9) == "short"
