"""Evaluation of story clustering on the labelled set in tests/data/stories.

Importable by the tests (F1 floors) and by bench/docs (the report). Run it directly for the
table: ``python tests/stories_eval.py``.

The set (tests/data/stories/README.md has the counts and how it was made): the five seeds,
articles written for this evaluation in English, Italian and Chinese (same events told by
different outlets, near-duplicate copies, and hard negatives: same company and week with
different events, same kind of event for different companies, follow-ups months later),
and real pages from corpus/realworld (every one its own story: negatives). Files are
``key: value`` headers, ``---``, the text, and for non-English items ``--- en ---`` with a
reference English translation written by hand. An undated page may say when it was
``fetched:``; that is its time, as `fetched_at` is in the pipeline.

The report is of untranslated articles: no Argos model can be downloaded where it runs.
(`run(..., translated=True)` gives the non-English items their hand-written English as
`title_en`/`text_en`, as an installed package would before placement; the tests use it to
check that a translation adds links and loses none.)
"""

from __future__ import annotations

import itertools
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import StoriesConfig, load_defaults
from pipeline.dedup import content_hash
from pipeline.models import Article
from pipeline.stories import (
    CANDIDATES_PER_KEY,
    Candidate,
    Fingerprint,
    Placement,
    fingerprint,
    index_keys,
    key_weights,
    place,
)

DATA = Path(__file__).parent / "data" / "stories"
UNDATED = "2019-11-20T12:00:00+00:00"  # undated pages: all in one window (hardest case)


@dataclass(slots=True)
class Item:
    id: str
    story: str
    lang: str
    published: str
    title: str
    text: str
    title_en: str | None = None
    text_en: str | None = None
    dup_of: str | None = None
    group: str = ""  # seeds | written | realworld
    fetched: str = ""  # undated pages: when a crawler would have fetched them (if known)


def load_items(root: Path = DATA) -> list[Item]:
    items = []
    for group in ("seeds", "written", "realworld"):
        for path in sorted((root / group).glob("*.txt")):
            items.append(parse_item(path.read_text("utf-8"), group))
    return items


def parse_item(raw: str, group: str = "") -> Item:
    head, _, rest = raw.partition("\n---\n")
    meta = {}
    for line in head.splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    text, _, english = rest.partition("\n--- en ---\n")
    return Item(id=meta["id"], story=meta["story"], lang=meta["lang"],
                published=meta.get("published", ""), title=meta.get("title", ""),
                text=text.strip(), title_en=meta.get("title_en") or None,
                text_en=english.strip() or None, dup_of=meta.get("dup_of") or None,
                group=group, fetched=meta.get("fetched", ""))


def cross_language_pairs(items: list[Item], *, copies: bool = True) -> int:
    """Same-story pairs whose two articles are in different languages. With
    `copies=False`, labelled near-duplicates (`dup_of`) are left out, so a syndicated copy
    does not count its original's pairs again."""
    kept = [it for it in items if copies or not it.dup_of]
    return sum(1 for a, b in itertools.combinations(kept, 2)
               if a.story == b.story and a.lang != b.lang)


def watch_entities(text: str) -> list[str]:
    """What the relevance stage would set: watched names whose aliases occur in the text
    (the packaged watch list)."""
    found = []
    for watch in load_defaults()["watch"]:
        for alias in [watch["name"], *watch["aliases"]]:
            if alias.isascii():
                hit = re.search(r"(?<![A-Za-z0-9])" + re.escape(alias) + r"(?![A-Za-z0-9])",
                                text, re.IGNORECASE)
            else:
                hit = alias in text
            if hit:
                found.append(watch["name"])
                break
    return found


def to_article(item: Item, *, translated: bool, dated: bool = True,
               fetched_at: str | None = None) -> Article:
    translate = translated and item.lang != "en" and item.text_en is not None
    text_for_entities = f"{item.title}\n{item.text}"
    return Article(
        url=f"https://eval.invalid/{item.id}", source=item.group, title=item.title,
        text=item.text, lang=item.lang,
        fetched_at=fetched_at or (item.fetched if dated and item.fetched else UNDATED),
        published_at=(item.published or None) if dated else None,
        title_en=(item.title_en or item.title) if translate else None,
        text_en=item.text_en if translate else None,
        translation_status="done" if translate else (
            "not_needed" if item.lang == "en" else "pending"),
        content_hash=content_hash(item.text),
        entities=watch_entities(text_for_entities),
    )


class MemoryIndex:
    """The store's candidate lookup, in memory: key → (seen_at, article id), newest
    `per_key` within the window per key (per key prefix, `key_weights()`, as the runner
    asks the store) — the same contract as `Store.candidates`."""

    def __init__(self, per_key: int | None = None) -> None:
        self.caps = key_weights() if per_key is None else {}
        self.per_key = per_key or CANDIDATES_PER_KEY
        self.keys: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self.rows: dict[int, Candidate] = {}
        self.next_id = 1

    def candidates(self, keys: list[str], *, around: str, window_days: float) -> list[Candidate]:
        centre = _time(around)
        low = (centre - timedelta(days=window_days)).isoformat()
        high = (centre + timedelta(days=window_days)).isoformat()
        ids: dict[int, None] = {}
        for key in dict.fromkeys(keys):
            entries = self.keys.get(key)
            if not entries:
                continue
            taken = 0
            cap = self.caps.get(key.split(":", 1)[0], self.per_key)
            for seen, article_id in reversed(entries):  # newest first
                if low <= seen <= high:
                    ids[article_id] = None
                    taken += 1
                    if taken >= cap:
                        break
        return [self.rows[i] for i in ids]

    def add(self, article: Article, fp: Fingerprint, placement: Placement,
            keys: list[str]) -> Candidate:
        article_id = self.next_id
        self.next_id += 1
        story_id = placement.story_id if (placement.story_id is not None
                                          or placement.duplicate_of is not None) else article_id
        seen = _iso(article.published_at or article.fetched_at)
        cand = Candidate(article_id=article_id, story_id=story_id,
                         duplicate_of=placement.duplicate_of, seen_at=seen, lang=article.lang,
                         fingerprint=Fingerprint.from_json(fp.to_json()))
        self.rows[article_id] = cand
        if placement.merge:  # as Store.merge_stories: the folded stories' articles move
            folded = set(placement.merge)
            for row in self.rows.values():
                if row.story_id in folded:
                    row.story_id = story_id
        if placement.duplicate_of is None:
            for key in keys:
                bucket = self.keys[key]
                bucket.append((seen, article_id))
                if len(bucket) > 1 and bucket[-2][0] > seen:
                    bucket.sort()
        return cand


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: str) -> str:
    return _time(value).isoformat()


@dataclass(slots=True)
class Run:
    """Where each item went."""

    story_of: dict[str, int] = field(default_factory=dict)
    duplicate_of: dict[str, str | None] = field(default_factory=dict)
    placements: dict[str, Placement] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)


def default_config() -> StoriesConfig:
    s = load_defaults()["stories"]
    return StoriesConfig(window_days=float(s["window_days"]),
                         near_duplicate=float(s["near_duplicate"]), join=float(s["join"]))


def run(items: list[Item], *, translated: bool, config: StoriesConfig | None = None,
        dated: bool = True, exhaustive: bool = False) -> Run:
    """Feed the items in time order through fingerprint → keys → candidates → place.
    `exhaustive` compares with every stored article instead of the keyed candidates: the
    difference measures what the index keys lose."""
    config = config or default_config()
    index = MemoryIndex()
    out = Run(items=list(items))
    id_of: dict[int, str] = {}

    def when(item: Item) -> str:
        return (item.published or item.fetched or UNDATED) if dated else UNDATED

    ordered = sorted(items, key=lambda it: (when(it), it.id))
    row_of: dict[str, int] = {}
    for item in ordered:
        article = to_article(item, translated=translated, dated=dated)
        fp = fingerprint(article)
        keys = index_keys(fp)
        cands = (list(index.rows.values()) if exhaustive else
                 index.candidates(keys, around=article.published_at or article.fetched_at,
                                  window_days=config.window_days))
        placement = place(article, fp, cands, config)
        cand = index.add(article, fp, placement, keys)
        id_of[cand.article_id] = item.id
        row_of[item.id] = cand.article_id
        out.duplicate_of[item.id] = (id_of[placement.duplicate_of]
                                     if placement.duplicate_of is not None else None)
        out.placements[item.id] = placement
    for item_id, row in row_of.items():  # after merges
        out.story_of[item_id] = index.rows[row].story_id or row
    return out


# ------------------------------------------------------------------------------ metrics
@dataclass(slots=True)
class Scores:
    items: int
    pairs_true: int
    precision: float
    recall: float
    f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float

    def row(self) -> str:
        return (f"{self.items} | {self.pairs_true} | {self.precision:.3f} | {self.recall:.3f} | "
                f"{self.f1:.3f} | {self.bcubed_f1:.3f}")


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(result: Run, *, keep: set[str] | None = None,
          pair_filter: str = "all") -> Scores:
    """Pairwise P/R/F1 of same-story links and B-cubed, over the items in `keep`.
    pair_filter: "all" pairs, "cross" (different languages) or "zh" (one side Chinese)."""
    items = [it for it in result.items if keep is None or it.id in keep]
    lang = {it.id: it.lang for it in items}
    true_pos = pred_pos = both = 0
    for a, b in itertools.combinations(items, 2):
        if pair_filter == "cross" and a.lang == b.lang:
            continue
        if pair_filter == "zh" and "zh" not in (a.lang, b.lang):
            continue
        gold = a.story == b.story
        pred = result.story_of[a.id] == result.story_of[b.id]
        true_pos += gold
        pred_pos += pred
        both += gold and pred
    precision = both / pred_pos if pred_pos else 1.0
    recall = both / true_pos if true_pos else 1.0
    # B-cubed over the kept items.
    gold_of = {it.id: it.story for it in items}
    pred_of = {it.id: result.story_of[it.id] for it in items}
    bp = br = 0.0
    for it in items:
        same_pred = [j for j in pred_of if pred_of[j] == pred_of[it.id]]
        same_gold = [j for j in gold_of if gold_of[j] == gold_of[it.id]]
        correct = sum(1 for j in same_pred if gold_of[j] == gold_of[it.id])
        bp += correct / len(same_pred)
        br += correct / len(same_gold)
    n = len(items) or 1
    del lang
    return Scores(items=len(items), pairs_true=true_pos, precision=precision, recall=recall,
                  f1=_f1(precision, recall), bcubed_precision=bp / n, bcubed_recall=br / n,
                  bcubed_f1=_f1(bp / n, br / n))


def subsets(items: list[Item]) -> dict[str, tuple[set[str], str]]:
    ids = {it.id for it in items}
    by_lang = {lang: {it.id for it in items if it.lang == lang} for lang in ("en", "it", "zh")}
    return {
        "all languages": (ids, "all"),
        "English + Italian": (by_lang["en"] | by_lang["it"], "all"),
        "English only": (by_lang["en"], "all"),
        "cross-language pairs, English ↔ Italian": (by_lang["en"] | by_lang["it"], "cross"),
        "cross-language pairs, all languages": (ids, "cross"),
        "Chinese (pairs with a Chinese side)": (ids, "zh"),
    }


def report(items: list[Item] | None = None, *, translated: bool = False) -> str:
    """The markdown tables of docs/stories.md (untranslated; with the reference
    translations standing in for an installed package's)."""
    items = items or load_items()
    lines = [("| set | items | true pairs | pairwise P | pairwise R "
              "| pairwise F1 | B-cubed F1 |"), "|---|---|---|---|---|---|---|"]
    result = run(items, translated=translated)
    for name, (keep, kind) in subsets(items).items():
        s = score(result, keep=keep, pair_filter=kind)
        lines.append(f"| {name} | {s.row()} |")
    return "\n".join(lines)


def sweep(items: list[Item] | None = None,
          joins: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)) -> str:
    """Pairwise P/R/F1 (all languages, time order) as the join threshold moves."""
    items = items or load_items()
    base = default_config()
    lines = ["| join | P | R | F1 | B-cubed F1 |", "|---|---|---|---|---|"]
    for join in joins:
        config = StoriesConfig(window_days=base.window_days,
                               near_duplicate=base.near_duplicate, join=join)
        a = score(run(items, translated=False, config=config))
        lines.append(f"| {join:.1f} | {a.precision:.3f} | {a.recall:.3f} | {a.f1:.3f} | "
                     f"{a.bcubed_f1:.3f} |")
    return "\n".join(lines)


def parallel(items: list[Item], lang: str) -> list[Item]:
    """Each article in `lang` (not a labelled copy) and its hand-written English
    translation as a second, English article of the same event and time: news with its
    human translation, as our held-out cross-language sets are."""
    originals = [it for it in items if it.lang == lang and it.text_en and not it.dup_of]
    english = [replace(it, id=f"{it.id}@en", lang="en", title=it.title_en or it.title,
                       text=it.text_en or "", title_en=None, text_en=None)
               for it in originals]
    return originals + english


def parallel_report(items: list[Item] | None = None) -> str:
    """Pairwise scores on the parallel sets, and how many articles share a story with
    their own translation."""
    items = items or load_items()
    lines = [("| set | articles | true pairs | pairwise P | pairwise R | pairwise F1 "
              "| B-cubed F1 | with its translation |"), "|---|---|---|---|---|---|---|---|"]
    for lang in ("zh", "it"):
        pairs = parallel(items, lang)
        result = run(pairs, translated=False)
        s = score(result)
        originals = [it for it in pairs if it.lang == lang]
        together = sum(result.story_of[it.id] == result.story_of[f"{it.id}@en"]
                       for it in originals)
        lines.append(f"| {lang} + its English translation | {s.row()} | "
                     f"{together} / {len(originals)} |")
    return "\n".join(lines)


def duplicates_report(result: Run) -> list[tuple[str, str | None, str | None]]:
    """(item, expected duplicate_of, predicted) for every item where either is set."""
    out = []
    for it in result.items:
        pred = result.duplicate_of[it.id]
        if it.dup_of or pred:
            out.append((it.id, it.dup_of, pred))
    return out


def errors(result: Run) -> list[str]:
    """Human-readable list of wrong links and missed links (for tuning)."""
    lines = []
    by_pred: dict[int, list[Item]] = defaultdict(list)
    for it in result.items:
        by_pred[result.story_of[it.id]].append(it)
    for members in by_pred.values():
        stories = {m.story for m in members}
        if len(stories) > 1:
            lines.append("MERGED: " + ", ".join(f"{m.id}[{m.story}]" for m in members))
    by_gold: dict[str, list[Item]] = defaultdict(list)
    for it in result.items:
        by_gold[it.story].append(it)
    for story, members in by_gold.items():
        preds = {result.story_of[m.id] for m in members}
        if len(preds) > 1:
            lines.append(f"SPLIT {story}: " + ", ".join(
                f"{m.id}->{result.story_of[m.id]}" for m in members))
    return lines


if __name__ == "__main__":
    all_items = load_items()
    print(report(all_items))
    print()
    print(sweep(all_items))
    res = run(all_items, translated=False)
    print("\n## errors")
    print("\n".join(errors(res)) or "none")
    print("duplicates:", duplicates_report(res))
    print("\n## with the reference translations (as an installed package would give)\n")
    print(report(all_items, translated=True))
    print("\n## errors")
    print("\n".join(errors(run(all_items, translated=True))) or "none")
    print("\n## each article beside its own English translation (untranslated)\n")
    print(parallel_report(all_items))
