"""Follow-ups: which earlier story a new story continues. Pure.

A follow-up is a story of its own (phase two of a plant agreed two years before, the
100,000th car of a model launched in the spring) that continues an earlier one: the same
watched company and the same subject — a plant, a model, a deal, a place. The subject is
read from the names in the headlines of the stories' articles (what an article is about
is said there; the text names competitors, partners and history as background): a place
(Yizhuang, Qingdao), a partner (CATL), a model (SU7, Alpha S5). Names that only say who
the company is — its own aliases without digits (Xiaomi, 小米, Lei Jun, BAIC BluePark) —
and names common in the domain (Beijing, China, EV) are not a subject.

The store keeps one `follow:<entity>:<subject>` key per pair an article names, so the
earlier stories sharing a subject come from an index, however old they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import figures
from .config import WatchConfig
from .models import Article

KEY_PREFIX = "follow"
MAX_SUBJECTS = 12  # subject names per article that become keys
#: Capitalised words that name no subject: parts of company and area names, product tiers.
GENERIC = frozenset(figures.words("""
auto automotive automobile motor motors vehicle vehicles car cars electric energy new
group holding holdings company technology technologies tech industrial industry international
development economic zone area district city province park plant factory battery
pro max plus ultra mini lite edition series model models version
government municipal committee commission management conference investor investors project
phase capital gdp cny yuan rmb automakers carmakers centers center people report reports
borsa pil comitato governo comune progetto fase
"""))
LEAD_CHARS = 600  # the headline and this much of the text say what an article is about


@dataclass(slots=True)
class FollowHit:
    """An earlier story that shares a company and a subject with the story being placed."""

    story_id: int
    published_at: str  # its publication time (else first seen), ISO 8601
    keys: set[str] = field(default_factory=set)  # the follow keys both name


def identity_names(watch: Iterable[WatchConfig]) -> frozenset[str]:
    """Names that only say who a watched company is: its name and its aliases without
    digits (a model name such as SU7 has digits and stays a possible subject)."""
    out = set()
    for entry in watch:
        for name in (entry.name, *entry.aliases):
            if not any(ch.isdigit() for ch in name):
                normalised = figures.normalise_name(name)
                out.add(normalised)
                out.update(normalised.split())  # "lei jun" → also "lei", "jun"
    return frozenset(out)


def subjects(names: Iterable[str], identity: frozenset[str]) -> list[str]:
    """The names (normalised, as `figures.names` gives them) that may be a subject."""
    out: list[str] = []
    for name in names:
        if name in identity or name in figures.COMMON_NAMES or name in GENERIC or len(name) < 3:
            continue
        if any(part in identity for part in name.split()):  # "xiaomi auto", "baic group"
            continue
        if name not in out:
            out.append(name)
    return out[:MAX_SUBJECTS]


def headline_names(article: Article) -> list[str]:
    """Names in the headline of an article and of its translation. They are read with
    the lead below the headline, so that a title-case headline's ordinary words ("Signs",
    "Factory"), written in lower case in the lead, are not taken for names."""
    found: list[str] = []
    for title, text, lang in ((article.title, article.text, article.lang),
                              (article.title_en, article.text_en, "en")):
        if not title:
            continue
        folded = figures.normalise_name(title)
        lead = f"{title}\n{(text or '')[:LEAD_CHARS]}"
        found += [n for n in figures.names(lead, lang or "en")
                  if n not in found and all(part in folded for part in n.split())]
    return found


def follow_keys(entities: Iterable[str], names: Iterable[str],
                identity: frozenset[str]) -> list[str]:
    """The keys under which an article's (company, subject) pairs are indexed."""
    found = subjects(names, identity)
    return [f"{KEY_PREFIX}:{_part(entity)}:{_part(name)}"
            for entity in sorted(set(entities)) for name in found]


def decide(story_id: int, hits: list[FollowHit]) -> tuple[int, dict[str, Any]] | None:
    """The earlier story `story_id` follows, with the evidence, or None.

    The earlier story with the most subjects in common wins, the more recent on a tie:
    a development continues the latest news of its subject."""
    scored = []
    for hit in hits:
        if hit.story_id != story_id and hit.keys:
            subjects = {k.split(":", 2)[2] for k in hit.keys}
            scored.append((len(subjects), hit.published_at, hit.story_id, hit))
    if not scored:
        return None
    best = max(scored)[3]
    pairs = sorted(best.keys)
    return best.story_id, {
        "signal": "follows",
        "story": best.story_id,
        "shared_entities": sorted({k.split(":")[1] for k in pairs}),
        "shared_subjects": sorted({k.split(":", 2)[2].replace("_", " ") for k in pairs}),
        "others": len(scored) - 1,
    }


def _part(text: str) -> str:
    return text.replace(":", "_").replace(" ", "_")
