"""Watchlist and topic matching: what an analyst would call a mention of a watched company."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import build_config
from pipeline.models import Article
from pipeline.relevance import Matcher

CONFIG = build_config({}, path=Path("defaults.toml"), env={})
MATCHER = Matcher.from_config(CONFIG.watch, CONFIG.topic)


def judge(text: str, title: str = "") -> Article:
    return MATCHER.judge(Article(url="http://x/a", source="s", title=title, text=text))


@pytest.mark.parametrize(("text", "entities"), [
    ("Xiaomi SU7 deliveries pass 100,000", ["Xiaomi"]),
    ("The SU75 wheel loader is a construction machine", []),
    ("Orders for the SU7s opened", []),
    ("BAIC BluePark posts record EV sales", ["BAIC"]),
    ("Read more at https://example.com/news/baic-plant-visit for the factory", []),
    ("小米汽车亦庄工厂二期投产", ["Xiaomi"]),
    ("北汽蓝谷与宁德时代合作建设电池工厂", ["BAIC"]),
    ("极狐汽车发布新车型", ["BAIC"]),
    ("Lei Jun said the factory is ahead of plan", ["Xiaomi"]),
    ("xiaomi's new plant", ["Xiaomi"]),
    ("Arcfox Alpha S and Xiaomi YU7 compared", ["Xiaomi", "BAIC"]),
    ("Baichuan AI releases a model", []),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_aliases_match_as_an_analyst_reads_them(text: str, entities: list[str]) -> None:
    assert judge(text).entities == entities


def test_car_news_about_a_watched_company_is_relevant() -> None:
    article = judge("Xiaomi will build a second factory with an annual capacity of 150,000 "
                    "vehicles; deliveries of the SU7 electric vehicle continue.")
    assert article.relevant and "factory" in article.topic_terms


def test_a_phone_launch_is_not_relevant_even_with_a_battery() -> None:
    article = judge("Xiaomi launched the Xiaomi 15 smartphone. The phone has a 5,400 mAh "
                    "battery and the handset ships next week; the phone starts at 4,499 yuan.")
    assert article.entities == ["Xiaomi"] and not article.relevant


def test_car_news_without_a_watched_company_is_not_relevant() -> None:
    article = judge("BYD opens a car factory in Hungary to build electric vehicles.")
    assert article.entities == [] and not article.relevant


def test_italian_and_chinese_topic_terms_count() -> None:
    assert judge("Xiaomi costruirà uno stabilimento per 300.000 veicoli").relevant
    assert judge("小米汽车工厂年产能30万辆").relevant
    assert not judge("小米发布新款手机，手机电池容量提升，手机售价不变").relevant


def test_an_italian_phone_launch_is_not_car_news() -> None:
    article = judge("Xiaomi ha presentato in Italia i nuovi smartphone Redmi Note 13: batteria "
                    "da 5.000 mAh, fotocamera da 200 megapixel. I telefoni costano 199 euro e "
                    "la batteria si ricarica in 19 minuti.")
    assert article.entities == ["Xiaomi"] and not article.relevant
