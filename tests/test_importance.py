"""Story importance: what a reader values ranks higher, and the docs' examples hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.importance import HALF_LIFE_DAYS, importance

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


def score(outlets: int = 1, languages: int = 1, subject: bool = False,
          age: timedelta | None = timedelta(0)) -> float:
    return importance(outlets=outlets, languages=languages, subject=subject,
                      published_at=None if age is None else NOW - age, now=NOW)


def test_the_documented_examples() -> None:
    assert score() == 1.0
    assert score(subject=True) == 2.0
    assert score(outlets=5, languages=3, subject=True) == 5.08
    assert score(outlets=5, languages=3, subject=True, age=timedelta(days=2)) == 3.2


def test_each_signal_raises_the_score() -> None:
    assert score(outlets=3) > score(outlets=2) > score(outlets=1)
    assert score(languages=3) > score(languages=2) > score(languages=1)
    assert score(subject=True) > score(subject=False)
    assert score(age=timedelta(hours=1)) > score(age=timedelta(days=1)) > \
        score(age=timedelta(days=5))


def test_recency_halves_the_weight_every_half_life() -> None:
    fresh = score(outlets=3, languages=2, subject=True)
    assert score(outlets=3, languages=2, subject=True,
                 age=timedelta(days=HALF_LIFE_DAYS)) == pytest.approx(fresh / 2, abs=0.01)


def test_wide_coverage_outranks_a_fresh_brief() -> None:
    """Five outlets in three languages two days ago matter more than one outlet today."""
    assert score(outlets=5, languages=3, subject=True, age=timedelta(days=2)) > \
        score(outlets=1, languages=1, subject=True)


def test_unknown_future_and_textual_times() -> None:
    assert score(age=None) == score()  # unknown publication time counts as now
    assert score(age=-timedelta(days=2)) == score()  # a future date is not a bonus
    text = importance(outlets=2, languages=1, subject=False,
                      published_at=(NOW - timedelta(days=3)).isoformat(), now=NOW)
    naive = importance(outlets=2, languages=1, subject=False,
                       published_at=(NOW - timedelta(days=3)).replace(tzinfo=None), now=NOW)
    assert text == naive == score(outlets=2, age=timedelta(days=3))


def test_counts_below_one_are_taken_as_one() -> None:
    assert score(outlets=0, languages=0) == score()
