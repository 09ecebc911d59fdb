"""Numbers, dates and names normalised across English, Italian and Chinese."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.figures import (
    canonical_number,
    chinese_numerals,
    coarser,
    dates,
    names,
    normalise_name,
    numbers,
    parse_number,
    pinyin_grams,
    reads_as_pinyin,
    relative_dates,
    scan,
    specificity,
)


@pytest.mark.parametrize(("text", "lang", "expected"), [
    ("300,000 vehicles", "en", "300000"),
    ("300.000 veicoli", "it", "300000"),
    ("30万辆", "zh", "300000"),
    ("30 万辆", "zh", "300000"),
    ("193.48 billion yuan", "en", "193000000000"),
    ("193,48 miliardi di yuan", "it", "193000000000"),
    ("1934.8亿元", "zh", "193000000000"),
    ("up 38.8% year-on-year", "en", "38.8%"),
    ("un aumento del 38,8%", "it", "38.8%"),
    ("同比增长38.8%", "zh", "38.8%"),
    ("38.8 per cent", "en", "38.8%"),
    ("$30.3 billion", "en", "30300000000"),
    ("30,26 miliardi di dollari", "it", "30300000000"),
    ("2.54 million units", "en", "2540000"),
    ("$10bn", "en", "10000000000"),
    ("1,600 staff", "en", "1600"),
    ("售价21.59万元", "zh", "216000"),
    ("215,900 yuan", "en", "216000"),
    ("215.900 yuan", "it", "216000"),
    ("33,0%", "it", "33%"),
    ("390 milioni", "it", "390000000"),
    ("3.9亿元", "zh", "390000000"),
])
def test_numbers_normalise_across_formats(text: str, lang: str, expected: str) -> None:
    assert expected in numbers(text, lang)


def test_ranges_give_both_ends() -> None:
    assert {"150000", "200000"} <= set(numbers("150,000-200,000 cars", "en"))


def test_years_and_small_counts_kept_apart() -> None:
    years: set[str] = set()
    found = numbers("In 2024 the 30 engineers built 500 cars", "en", years=years)
    assert years == {"2024"}
    assert found == ["500"]


def test_chinese_amounts_are_not_years() -> None:
    """售价1999元 is a price; 2024年 and 2025款 are years."""
    years: set[str] = set()
    found = numbers("售价1999元起。共2000辆。$2010 fee. 2024年推出2025款", "zh", years=years)
    assert years == {"2024", "2025"}
    assert "2000" in found and "2010" in found


def test_coarser_forms_of_a_figure() -> None:
    """What an outlet that rounds harder writes: 38.25% → 38%, 289,000 → quasi 290 mila;
    never one significant digit (42,013 is not "over 40,000")."""
    assert coarser("38.3%") == ("38%",)
    assert coarser("289000") == ("290000",)
    assert coarser("42000") == ()
    assert coarser("300000") == ()


def test_weekdays_read_from_the_publication_date() -> None:
    friday = date(2025, 6, 27)
    assert relative_dates("Xiaomi launched the YU7 on Thursday night", friday) == ["06-26"]
    assert relative_dates("I conti sono stati presentati venerdì", friday) == ["06-27"]
    assert relative_dates("小米周四晚发布YU7，昨天订单破二十万", friday) == ["06-26"]
    assert relative_dates("the shares rose today", friday) == ["06-27"]
    assert relative_dates("a monday-morning meeting with Sundays off", friday) == []


def test_parse_number_conventions() -> None:
    assert parse_number("1.234,5", "it") == 1234.5
    assert parse_number("1,234.5", "en") == 1234.5
    assert parse_number("300.000", "it") == 300000
    assert parse_number("300,000", "en") == 300000
    assert parse_number("30,26", "it") == 30.26
    assert parse_number("1.2.3", "en") is None


def test_canonical_and_specificity() -> None:
    assert canonical_number(193_480_000_000) == "193000000000"
    assert canonical_number(30.26) == "30.3"
    assert specificity("300000") == 1
    assert specificity("150000") == 2
    assert specificity("38.8%") >= 3
    assert specificity("865") == 1  # a model number, not a figure


def test_dates_in_three_languages() -> None:
    assert dates("On November 27, Xiaomi signed")[0] == ["11-27"]
    assert dates("sabato 27 novembre 2021")[0] == ["11-27"]
    assert dates("2021年11月27日，小米")[0] == ["11-27"]
    assert dates("date 2021-11-28") == (["11-28"], ["2021"])


def test_dates_are_not_numbers() -> None:
    figures = scan("11月27日签约，年产30万辆", "zh")
    assert figures.dates == ["11-27"]
    assert "27" not in figures.numbers and "11" not in figures.numbers


def test_names_survive_languages() -> None:
    en = names("Xiaomi picked Yizhuang, also called E-Town, and founder Lei Jun said CATL "
               "will supply the SU7.", "en")
    zh = names("小米汽车选择亦庄（E-Town），雷军表示宁德时代（CATL）将为SU7供应电池。", "zh")
    assert {"yizhuang", "etown", "lei jun", "catl", "su7"} <= set(en)
    assert {"etown", "catl", "su7"} <= set(zh)


def test_a_title_before_a_name_is_not_part_of_it() -> None:
    found = names("Founder and CEO Lei Jun spoke; later Chairman Wang Chuanfu did.", "en")
    assert {"lei jun", "wang chuanfu"} <= set(found)
    assert not any(name.startswith(("ceo ", "chairman ")) for name in found)
    assert "ceo" in names("The CEO said so, and the CEO left.", "en")  # alone, a word as before


def test_a_name_ends_where_its_hyphenated_adjective_begins() -> None:
    found = names("Shares of the Hong Kong-listed carmaker and the Huawei-backed brand rose; "
                  "Mercedes-Benz and E-Town kept theirs.", "en")
    assert {"hong kong", "huawei", "mercedesbenz", "etown"} <= set(found)
    assert not any("listed" in name or "backed" in name for name in found)


def test_a_page_long_hyphenated_word_is_read_in_one_pass() -> None:
    """A page controls its words: 200,000 hyphenated parts (400 kB) are one name, cut at
    its lowercase tail, read in one pass (an end-anchored regex took minutes)."""
    lower = "-ab" * 200_000  # lowercase parts up to a last one that is not: no tail to cut
    assert f"x{lower.replace('-', '')}c" in names(f"Xiaomi said X{lower}C today.", "en")
    upper = "-Ab" * 200_000
    found = names(f"Xiaomi said X{upper}-made cars sell.", "en")
    assert f"x{upper.replace('-', '').lower()}" in found  # "-made" cut, the rest kept


def test_sentence_openers_are_not_names() -> None:
    found = names("The factory opened. Earlier, the company said it would grow. "
                  "Meanwhile Xiaomi waited.", "en")
    assert "the" not in found and "earlier" not in found and "meanwhile" not in found
    assert normalise_name("E‑Town") == normalise_name("e-town") == "etown"


@pytest.mark.parametrize(("text", "expected"), [
    ("年产三十万辆", "300000"),
    ("三十万辆", "300000"),
    ("售价15.98万元", "160000"),  # = 159,800 yuan: three significant digits, as in English
    ("投资一百亿元", "10000000000"),
    ("三点五亿元", "350000000"),
    ("一亿二千万", "120000000"),
    ("十二万辆", "120000"),
    ("两千辆", "2000"),  # not the year 2000
    ("同比增长百分之三十八点八", "38.8%"),
    ("百分之30", "30%"),
])
def test_chinese_numerals_read_as_numbers(text: str, expected: str) -> None:
    assert numbers(text, "zh") == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    ("充电功率达到1000千瓦", "1000"),  # 千瓦 is a kilowatt, not a thousand watts' scale
    ("续航700千米", "700"),
    ("装机10万千瓦", "100000"),  # 万 is still a scale before it
    ("2千万辆", "20000000"),
])
def test_a_unit_that_starts_like_a_scale_is_a_unit(text: str, expected: str) -> None:
    assert numbers(text, "zh") == [expected]


def test_a_figure_keeps_its_unit_in_every_language() -> None:
    """The same quantities as three outlets write them: figure and unit alike."""
    zh = scan("充电功率达到1000千瓦，充电五分钟可行驶四百公里，小米10月交付超4万辆", "zh")
    it = scan("Ricarica da 1.000 kW: 400 chilometri in cinque minuti; 40.000 vetture", "it")
    en = scan("Charging at up to 1,000 kilowatts adds 400 km; more than 40,000 cars", "en")
    expected = {"1000": "kw", "400": "km", "40000": "vehicles"}
    assert zh.units == it.units == en.units == expected
    assert scan("400 stations and 1,000 chargers", "en").units == {}
    # Letters that match ASCII ones only when case is ignored (ı, İ) are not a unit, and
    # never an error: a page controls them.
    assert scan("400 kılometres, 500 vehİcles, 600 KM", "en").units == {"600": "km"}


def test_chinese_numerals_meet_their_english_form() -> None:
    zh = scan("小米汽车工厂二〇二一年十一月二十七日签约，年产三十万辆，投资一百亿元。", "zh")
    en = scan("Xiaomi signed on November 27, 2021 for 300,000 cars a year and 10 billion "
              "yuan.", "en")
    assert zh.dates == en.dates == ["11-27"] and zh.years == en.years == ["2021"]
    assert set(zh.numbers) == set(en.numbers) == {"300000", "10000000000"}


def test_words_made_of_numeral_characters_stay_words() -> None:
    for text in ("统一的第一个", "百货商店", "千万不要", "万一", "三十而立", "一个"):
        assert chinese_numerals(text) == text
        assert numbers(text, "zh") == []


def test_pinyin_bridges_chinese_names() -> None:
    grams = set(pinyin_grams("据财联社报道，小米汽车或将接手位于山东青岛的工厂。亦庄，雷军，重庆长安"))
    assert {"cailian", "shandong", "qingdao", "yizhuang", "leijun", "chongqing",
            "changan"} <= grams
    assert pinyin_grams("No Chinese here") == []
    assert len(pinyin_grams("亦" * 10_000)) <= 2  # bounded: the first 200 characters only


def test_latin_names_that_read_as_pinyin() -> None:
    assert all(map(reads_as_pinyin, ["qingdao", "leijun", "yizhuang", "shandong", "changan"]))
    assert not any(map(reads_as_pinyin, ["szeged", "hungary", "teixeira", "bluepark", "x" * 99]))


@pytest.mark.parametrize(("text", "expected"), [
    ("12021-11-28 and 32 November", ([], [])),  # a digit before: neither is a date
    ("x2021.11.28, x27 November, _27 November", (["11-28"], ["2021"])),  # a letter before
    ("(27 November 2021)", (["11-27"], ["2021"])),
    ("27th of Nov. 2021", (["11-27"], [])),
    ("Sept. 3rd, 2024", (["09-03"], ["2024"])),
    ("ſept 3", (["09-03"], [])),  # the long s is an s when case is ignored
    ("2021年11月27日 and 11月27号", (["11-27"], ["2021"])),
    ("sales rose 27 percent in Nov 2021", ([], [])),
])
def test_date_boundaries(text: str, expected: tuple[list[str], list[str]]) -> None:
    """Where a date may start: the patterns look for their first digit or letter and check
    the character before afterwards; these are the answers of the patterns written with
    the checks first."""
    assert dates(text) == expected
