"""Summaries: the lead sentences that carry content, without what extraction leaves over."""

from __future__ import annotations

import pytest

from pipeline.summary import is_boilerplate, strip_dateline, summarize

WIRE = """By Jane Doe and Li Wei

BEIJING, Nov 28 (Reuters) - Xiaomi has signed an agreement with the Beijing Yizhuang \
district to build the second phase of its car factory. The plant will add 150,000 vehicles \
a year. Construction starts in June. Analysts expect the first cars from the new line to \
reach customers before the end of next year, ahead of the company's own schedule.

Photo: Reuters/Tingshu Wang

Subscribe to our newsletter for the latest EV news."""


def test_wire_story_gives_its_lead_sentences_without_dateline_or_byline() -> None:
    assert summarize(WIRE, "en") == (
        "Xiaomi has signed an agreement with the Beijing Yizhuang district to build the "
        "second phase of its car factory. The plant will add 150,000 vehicles a year. "
        "Construction starts in June.")


def test_boilerplate_before_the_story_is_skipped() -> None:
    text = ("Updated 10:32 GMT\nWe use cookies to improve your experience.\n"
            "Foto: Ansa\nMILANO, 12 marzo – Xiaomi ha firmato l'accordo per la seconda fase "
            "dello stabilimento. La capacità salirà a 300.000 veicoli.")
    assert summarize(text, "it") == ("Xiaomi ha firmato l'accordo per la seconda fase dello "
                                     "stabilimento. La capacità salirà a 300.000 veicoli.")


def test_chinese_dateline_and_calls_to_follow_are_dropped() -> None:
    text = ("新华社北京11月28日电（记者 张三）小米汽车亦庄工厂二期今天正式投产。"
            "新工厂年产能十五万辆。雷军出席了仪式。扫码关注我们，获取更多资讯。")
    assert summarize(text, "zh") == "小米汽车亦庄工厂二期今天正式投产。新工厂年产能十五万辆。雷军出席了仪式。"


def test_two_sentences_always_a_third_only_if_it_fits() -> None:
    long_second = "The plant " + "will be very large and " * 14 + "open in June."
    text = f"Xiaomi signs a factory deal. {long_second} Construction starts soon."
    assert summarize(text, "en") == f"Xiaomi signs a factory deal. {long_second}"
    one = "Xiaomi " + "builds cars and batteries in Beijing " * 20 + "today."
    cut = summarize(one, "en")
    assert cut.endswith("…") and len(cut) <= 361


def test_short_texts_are_kept_rather_than_lost() -> None:
    assert summarize("Xiaomi to expand. Orders pile up.", "en") == \
        "Xiaomi to expand. Orders pile up."
    assert summarize("A phone. It has a camera.", "en") == "A phone. It has a camera."
    assert summarize("", "en") == ""


@pytest.mark.parametrize("sentence", [
    "By Jane Doe", "Di Mario Rossi", "Photo: Reuters", "Foto: Ansa", "图片来源：网络",
    "Subscribe now for unlimited access.", "Iscriviti alla newsletter.",
    "We use cookies to improve your experience.", "Read more: Xiaomi SU7 review",
    "Updated 10:32 GMT", "All rights reserved.", "（记者 张三）", "Share this article.",
    "Click here.",
])
def test_boilerplate(sentence: str) -> None:
    assert is_boilerplate(sentence)


@pytest.mark.parametrize("sentence", [
    "Xiaomi to expand its Beijing plant.", "La capacità salirà a 300.000 veicoli.",
    "新工厂年产能十五万辆。", "By 2026 the plant will build 300,000 cars a year.",
    "Da oggi cambia tutto per Xiaomi.",
])
def test_content(sentence: str) -> None:
    assert not is_boilerplate(sentence)


@pytest.mark.parametrize(("sentence", "kept"), [
    ("SHANGHAI — Nio's Onvo L60 is priced to take on Tesla's Model Y.",
     "Nio's Onvo L60 is priced to take on Tesla's Model Y."),
    ("ROME (Reuters) - Stellantis will pause production of the 500e.",
     "Stellantis will pause production of the 500e."),
    ("Pechino (Reuters) - Xiaomi ha firmato l'accordo.", "Xiaomi ha firmato l'accordo."),
    # not datelines: a company or a person before a dash
    ("BAIC — the Beijing carmaker — will open the plant.",
     "BAIC — the Beijing carmaker — will open the plant."),
    ("Lei Jun — Xiaomi's founder — said the plant opens in June.",
     "Lei Jun — Xiaomi's founder — said the plant opens in June."),
])
def test_datelines(sentence: str, kept: str) -> None:
    assert strip_dateline(sentence) == kept
