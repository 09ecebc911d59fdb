"""How much a story matters to a reader, as one number: the digest and the
`new_developments` query list the most important first. Pure.

    importance = (coverage + languages + subject) × recency

- coverage  = log2(1 + distinct outlets): 1 outlet → 1.0, 3 → 2.0, 7 → 3.0. Each further
  outlet adds less: the tenth copy of a wire story says little the third did not.
- languages = 0.75 for every language beyond the first: coverage in Chinese, Italian and
  English means the event travelled.
- subject   = 1.0 when a watched company is named in the headline (the story is about
  it), 0 when it is only mentioned in the text.
- recency   = 2 ** (-age / 3 days), age = now − publication time (never negative; an
  unknown publication time counts as now): a story loses half its weight every three days.

Examples (at publication): one outlet, one language, company only mentioned → 1.0; the
same in the headline → 2.0; five outlets in three languages, company in the headline →
5.08, and still 3.20 two days later.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from .models import parse_time

__all__ = ["HALF_LIFE_DAYS", "LANGUAGE_WEIGHT", "SUBJECT_WEIGHT", "importance"]

#: Days after which recency halves a story's weight.
HALF_LIFE_DAYS = 3.0
#: Weight of each language beyond the first.
LANGUAGE_WEIGHT = 0.75
#: Weight of a watched company named in the headline.
SUBJECT_WEIGHT = 1.0


def importance(*, outlets: int, languages: int, subject: bool,
               published_at: datetime | str | None, now: datetime) -> float:
    """The importance of a story (see the module docstring), rounded to 2 decimals.

    `outlets` and `languages` count distinct sources and languages among its articles
    (at least 1 each is assumed); `subject` is whether a watched company is named in its
    headline; `published_at` its publication time (ISO 8601 text, or a datetime; naive
    means UTC)."""
    coverage = math.log2(1 + max(1, outlets))
    spread = LANGUAGE_WEIGHT * (max(1, languages) - 1)
    about = SUBJECT_WEIGHT if subject else 0.0
    published = _aware(published_at)
    age_days = 0.0
    if published is not None:
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        age_days = max(0.0, (now - published).total_seconds() / 86400)
    recency = math.pow(2.0, -age_days / HALF_LIFE_DAYS)
    return round((coverage + spread + about) * recency, 2)


def _aware(value: datetime | str | None) -> datetime | None:
    moment = parse_time(value) if isinstance(value, str) or value is None else value
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)
