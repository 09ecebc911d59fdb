"""Story clustering measured through the contract only: pages, feeds, `tidings run`, the store.

    python scripts/eval_stories.py --jsonl ../shared/corpus/ecbplus-dev/articles.jsonl
    python scripts/eval_stories.py --labelled                 # tests/data/stories
    python scripts/eval_stories.py --labelled --orders 5 --passes 3 --feeds 2
    python scripts/eval_stories.py --labelled --orders 1 --replay 10 --set STORY_LINKS=2

Input: a labelled JSONL (one object a line: `id`, `event`, `lang`, `title`, `text`, optional
`published`), or the repository's labelled set (tests/data/stories, read by
tests/stories_eval.py: its `story` is the event). Every article becomes an HTML page on a
local server (127.0.0.1), announced by an RSS feed (or `--feeds` feeds, dealt round-robin)
in a seeded arrival order (`--orders` of them, seeds 1…n); with `--passes` the order is
cut into that many chunks and each chunk is announced and fetched by its own
`python -m pipeline run --json --config …` (the real CLI, in a subprocess), as a stream
would bring them. A fresh store per order.

Dates: a page carries its `published` date when the item has one (for the labelled set,
else the time it says it was `fetched:`); an item without one is dated on one fixed day (`UNDATED_DAY`), so all of them fall inside one story window (the
hardest case). The feed's pubDate only sets the arrival order (within a pass the runner
takes the newest announced link first).

Scoring reads only the store's `articles` (url, story_id, duplicate_of; a duplicate takes
its original's story) and prints pairwise precision/recall/F1 of "same story" over all
pairs and B-cubed P/R/F1, per order, then their mean and spread. An article the pipeline
did not store (no text, an error) counts as a story of its own, and is listed.

The labelled set's hand-written English translations cannot stand in for machine
translation here: through the contract a translation can only come from an installed
Argos package, so this harness measures the untranslated path (see docs/stories.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.config import dump_toml
from pipeline.demo.server import RequestInfo, Resource, SiteServer

UNDATED_DAY = "2019-11-20T09:00:00+00:00"
ORDER_CLOCK = datetime(2030, 1, 1, tzinfo=UTC)  # feed pubDates: arrival order only
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")
_PAGE = re.compile(r"/a/([^/?#]+)\.html")


@dataclass(slots=True)
class Doc:
    id: str
    event: str
    lang: str
    title: str
    text: str
    published: str = ""
    topic: str = ""  # ECB+: two events of one kind share a topic

    @property
    def slug(self) -> str:
        return _SLUG.sub("-", self.id)


def load_jsonl(path: Path) -> list[Doc]:
    docs = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            docs.append(Doc(id=str(row["id"]), event=str(row["event"]), lang=row.get("lang", ""),
                            title=row.get("title", ""), text=row["text"],
                            published=row.get("published") or "",
                            topic=str(row.get("topic", ""))))
    return docs


def load_labelled(root: Path | None = None) -> list[Doc]:
    from tests import stories_eval as ev

    items = ev.load_items(root) if root else ev.load_items()
    # An undated page that says when it was `fetched:` is dated then (the pipeline would
    # use its `fetched_at`, which this harness cannot set); otherwise on `UNDATED_DAY`.
    return [Doc(id=it.id, event=it.story, lang=it.lang, title=it.title, text=it.text,
                published=it.published or it.fetched) for it in items]


# ------------------------------------------------------------------------------ the web
def page(doc: Doc) -> bytes:
    """A plain news page: headline, date, paragraphs. A body that opens with its headline
    (ECB+ texts do) does not repeat it under the <h1>."""
    lines = [ln.strip() for ln in doc.text.splitlines() if ln.strip()]
    if lines and doc.title and lines[0] == doc.title.strip():
        lines = lines[1:] or lines
    published = doc.published or UNDATED_DAY
    paragraphs = "\n".join(f"<p>{escape(ln)}</p>" for ln in lines)
    title = escape(doc.title)
    return (f"<!DOCTYPE html><html lang=\"{escape(doc.lang)}\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><meta property=\"og:title\" content=\"{title}\">"
            f"<meta property=\"og:type\" content=\"article\">"
            f"<meta property=\"article:published_time\" content=\"{escape(published)}\">"
            f"</head><body><nav><a href=\"/\">Home</a></nav><article><h1>{title}</h1>"
            f"<time datetime=\"{escape(published)}\"></time>\n{paragraphs}\n</article>"
            f"<footer>Evaluation page</footer></body></html>").encode()


def feed(base: str, docs: list[Doc], rank: dict[str, int]) -> bytes:
    """RSS announcing `docs`; the first to arrive has the newest pubDate."""
    items = []
    for doc in docs:
        when = ORDER_CLOCK - timedelta(seconds=rank[doc.id])
        items.append(f"<item><title>{escape(doc.title)}</title>"
                     f"<link>{base}/a/{doc.slug}.html</link>"
                     f"<guid>{base}/a/{doc.slug}.html</guid>"
                     f"<pubDate>{format_datetime(when)}</pubDate></item>")
    return (f"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel>"
            f"<title>eval</title><link>{base}/</link><description>eval</description>"
            f"{''.join(items)}</channel></rss>").encode()


class Web:
    """The pages, and feeds whose content is switched from pass to pass."""

    def __init__(self, docs: list[Doc], feeds: int) -> None:
        self.server = SiteServer().start()
        self.base = self.server.base_url.rstrip("/")
        self.feeds = feeds
        self.lock = threading.Lock()
        self.current: list[bytes] = [feed(self.base, [], {}) for _ in range(feeds)]
        for doc in docs:
            self.server.add(f"/a/{doc.slug}.html", Resource(page(doc)))
        self.server.add("/robots.txt", Resource(b"User-agent: *\nAllow: /\n",
                                                "text/plain; charset=utf-8"))
        for k in range(feeds):
            self.server.add(f"/feed-{k}.xml", self._feed_handler(k))

    def _feed_handler(self, k: int) -> Any:
        def handler(_request: RequestInfo) -> Resource:
            with self.lock:
                return Resource(self.current[k], "application/rss+xml; charset=utf-8",
                                etag=False)
        return handler

    def announce(self, chunk: list[Doc], rank: dict[str, int]) -> None:
        with self.lock:
            self.current = [feed(self.base, chunk[k::self.feeds], rank)
                            for k in range(self.feeds)]

    def feed_url(self, k: int) -> str:
        return f"{self.base}/feed-{k}.xml"

    def close(self) -> None:
        self.server.stop()


# ------------------------------------------------------------------------------ a run
def write_config(directory: Path, web: Web, n_docs: int, join: float | None = None) -> Path:
    document: dict[str, Any] = {
        "store": {"path": str(directory / "tidings.db")},
        "fetch": {"host_delay": 0.0, "timeout": 20, "retries": 1, "backoff": 0.1,
                  "max_articles": max(n_docs, 1)},
        "translate": {"package_dir": str(directory / "packages")},
        "sources": [{"name": f"feed{k}", "url": web.feed_url(k), "kind": "feed",
                     "every": "1m"} for k in range(web.feeds)],
    }
    if join is not None:
        document["stories"] = {"join": join}
    path = directory / "tidings.toml"
    path.write_text(dump_toml(document), "utf-8")
    return path


def tidings_run(config: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "run", "--json", "--config",
                           str(config)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=3600, check=False)
    try:
        report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"tidings run failed (exit {proc.returncode}): "
                           f"{proc.stderr[-2000:]}") from None
    return report


def stored_stories(db: Path) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    """slug → story (a duplicate takes its original's), and slug → the stored row."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT id, url, fetched_url, story_id, duplicate_of, evidence "
                           "FROM articles").fetchall()
    finally:
        con.close()
    story_by_id = {r[0]: r[3] for r in rows}
    out: dict[str, int] = {}
    detail: dict[str, dict[str, Any]] = {}
    for article_id, url, fetched, story, dup, evidence in rows:
        match = _PAGE.search(fetched or "") or _PAGE.search(url or "")
        if not match:
            continue
        if dup is not None:
            story = story_by_id.get(dup, story)
        out[match.group(1)] = int(story)
        detail[match.group(1)] = {"id": article_id, "story": story, "duplicate_of": dup,
                                  "evidence": json.loads(evidence) if evidence else None}
    return out, detail


def key_recall(db: Path, docs: list[Doc]) -> dict[str, float]:
    """Of the same-event pairs of stored originals (not duplicates), the share that share
    an index key (`article_keys`, the candidate index) — all keys, and by kind of key."""
    con = sqlite3.connect(db)
    try:
        slugs = {}
        for article_id, url, fetched in con.execute(
                "SELECT id, url, fetched_url FROM articles WHERE duplicate_of IS NULL"):
            match = _PAGE.search(fetched or "") or _PAGE.search(url or "")
            if match:
                slugs[article_id] = match.group(1)
        keys: dict[str, set[str]] = {}
        for key, article_id in con.execute("SELECT key, article_id FROM article_keys"):
            if article_id in slugs and not key.startswith("hash:"):
                keys.setdefault(slugs[article_id], set()).add(key)
    finally:
        con.close()
    event = {d.slug: d.event for d in docs}
    pairs = [(a, b) for a, b in itertools.combinations(sorted(keys), 2) if event[a] == event[b]]
    out: dict[str, float] = {"pairs": len(pairs)}
    for kind in ("all", "emb", "name", "other"):
        def shared(a: str, b: str, kind: str = kind) -> bool:
            common = keys[a] & keys[b]
            if kind == "all":
                return bool(common)
            if kind == "other":
                return any(k.split(":", 1)[0] not in ("emb", "name") for k in common)
            return any(k.startswith(kind + ":") for k in common)
        out[kind] = sum(shared(a, b) for a, b in pairs) / len(pairs) if pairs else 1.0
    return out


@dataclass(slots=True)
class Result:
    seed: int
    scores: dict[str, float]
    stories: int
    missing: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    predicted: dict[str, int] = field(default_factory=dict)
    detail: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, float] = field(default_factory=dict)


def run_order(docs: list[Doc], seed: int, *, passes: int, feeds: int,
              keep: Path | None = None, join: float | None = None) -> Result:
    order = list(docs)
    random.Random(seed).shuffle(order)
    rank = {doc.id: i for i, doc in enumerate(order)}
    chunks = [order[i * len(order) // passes:(i + 1) * len(order) // passes]
              for i in range(passes)]
    web = Web(docs, feeds)
    errors: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tidings-eval-") as tmp:
            directory = Path(tmp)
            config = write_config(directory, web, len(docs), join)
            for chunk in chunks:
                web.announce(chunk, rank)
                report = tidings_run(config)
                errors += report.get("errors", [])
            slug_story, detail = stored_stories(directory / "tidings.db")
            keys = key_recall(directory / "tidings.db", docs)
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                target = keep / f"order-{seed}.db"
                target.unlink(missing_ok=True)
                src = sqlite3.connect(directory / "tidings.db")
                with sqlite3.connect(target) as dst:
                    src.backup(dst)
                src.close()
    finally:
        web.close()
    predicted: dict[str, int] = {}
    missing = []
    fresh = -1
    for doc in docs:
        if doc.slug in slug_story:
            predicted[doc.id] = slug_story[doc.slug]
        else:
            missing.append(doc.id)
            predicted[doc.id] = fresh  # a story of its own
            fresh -= 1
    gold = {doc.id: doc.event for doc in docs}
    return Result(seed=seed, scores=score(gold, predicted),
                  stories=len(set(predicted.values())), missing=missing, errors=errors,
                  predicted=predicted,
                  detail={doc.id: detail[doc.slug] for doc in docs if doc.slug in detail},
                  keys=keys)


# ------------------------------------------------------------------------------ metrics
def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(gold: dict[str, str], predicted: dict[str, int]) -> dict[str, float]:
    """Pairwise and B-cubed precision/recall/F1 of `predicted` clusters against `gold`."""
    cells = Counter((gold[i], predicted[i]) for i in gold)
    gold_sizes = Counter(gold.values())
    pred_sizes = Counter(predicted[i] for i in gold)
    both = sum(_pairs(n) for n in cells.values())
    gold_pairs = sum(_pairs(n) for n in gold_sizes.values())
    pred_pairs = sum(_pairs(n) for n in pred_sizes.values())
    p = both / pred_pairs if pred_pairs else 1.0
    r = both / gold_pairs if gold_pairs else 1.0
    n = len(gold) or 1
    bp = sum(c * c / pred_sizes[pr] for (_, pr), c in cells.items()) / n
    br = sum(c * c / gold_sizes[g] for (g, _), c in cells.items()) / n
    return {"p": p, "r": r, "f1": _f1(p, r), "b3p": bp, "b3r": br, "b3f1": _f1(bp, br),
            "gold_pairs": gold_pairs, "predicted_pairs": pred_pairs}


def mistakes(docs: list[Doc], result: Result) -> list[str]:
    """Stories holding several events, and events split over several stories."""
    lines = []
    by_pred: dict[int, list[Doc]] = {}
    by_gold: dict[str, list[Doc]] = {}
    for doc in docs:
        by_pred.setdefault(result.predicted[doc.id], []).append(doc)
        by_gold.setdefault(doc.event, []).append(doc)
    for story, members in sorted(by_pred.items()):
        events = Counter(m.event for m in members)
        if len(events) > 1:
            lines.append(f"MERGED story {story}: {dict(events)}")
    for event, members in sorted(by_gold.items()):
        stories = Counter(result.predicted[m.id] for m in members)
        if len(stories) > 1:
            lines.append(f"SPLIT {event} ({len(members)}): {sorted(stories.values(), reverse=True)}")
    return lines


# ------------------------------------------------------------------------------ replay
def stored_articles(db: Path, docs: list[Doc]) -> list[tuple[Doc, Any]]:
    """The articles as `tidings run` extracted and stored them, with their labels."""
    from pipeline.models import Article

    by_slug = {d.slug: d for d in docs}
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute("SELECT * FROM articles ORDER BY id").fetchall()
    finally:
        con.close()
    out = []
    for r in rows:
        match = _PAGE.search(r["fetched_url"] or "") or _PAGE.search(r["url"] or "")
        if match and match.group(1) in by_slug:
            out.append((by_slug[match.group(1)], Article(
                url=r["url"], source=r["source"], title=r["title"] or "", text=r["text"] or "",
                lang=r["lang"] or "", published_at=r["published_at"],
                fetched_at=r["fetched_at"], content_hash=r["content_hash"],
                entities=json.loads(r["entities"] or "[]"), relevant=bool(r["relevant"]),
                translation_status=r["translation_status"])))
    return out


def replay(docs: list[Doc], db: Path, seeds: range, joins: list[float],
           weights: dict[str, float] | None = None) -> str:
    """The stored articles again, in other arrival orders and at other `stories.join`
    values, through the same functions the runner calls (fingerprint → index_keys → an
    in-memory index with the store's caps → place, merges applied): many orders quickly.
    `weights` set constants of `pipeline.stories` for the replay (a sweep: `C_BIAS`,
    `STORY_LINKS`, …); they are restored after it."""
    from pipeline import stories

    saved = {name: getattr(stories, name) for name in weights or {}}
    try:
        for name, value in (weights or {}).items():
            setattr(stories, name, type(saved[name])(value))
        return _replay(docs, db, seeds, joins)
    finally:
        for name, value in saved.items():
            setattr(stories, name, value)


def _replay(docs: list[Doc], db: Path, seeds: range, joins: list[float]) -> str:
    from pipeline import stories
    from pipeline.config import StoriesConfig
    from tests.stories_eval import MemoryIndex, default_config

    articles = stored_articles(db, docs)
    prepared = [(doc, article, stories.fingerprint(article)) for doc, article in articles]
    base = default_config()
    gold = {doc.id: doc.event for doc in docs}
    lines = ["| join | pairwise F1 mean | min | P mean | P min | R mean | B³ F1 mean |",
             "|---|---|---|---|---|---|---|"]
    for join in joins:
        config = StoriesConfig(window_days=base.window_days,
                               near_duplicate=base.near_duplicate, join=join)
        results = []
        for seed in seeds:
            order = list(prepared)
            random.Random(seed).shuffle(order)
            index = MemoryIndex()
            rows: dict[str, int] = {}
            for doc, article, fp in order:
                keys = stories.index_keys(fp)
                found = index.candidates(keys, around=article.published_at or
                                         article.fetched_at, window_days=config.window_days)
                placement = stories.place(article, fp, found, config)
                rows[doc.id] = index.add(article, fp, placement, keys).article_id
            predicted = {d.id: (index.rows[rows[d.id]].story_id or rows[d.id]) if d.id in rows
                         else -1 - i for i, d in enumerate(docs)}
            results.append(score(gold, predicted))
        f1 = [r["f1"] for r in results]
        p = [r["p"] for r in results]
        lines.append(f"| {join:g} | {statistics.mean(f1):.3f} | {min(f1):.3f} | "
                     f"{statistics.mean(p):.3f} | {min(p):.3f} | "
                     f"{statistics.mean(r['r'] for r in results):.3f} | "
                     f"{statistics.mean(r['b3f1'] for r in results):.3f} |")
    return "\n".join(lines)


def cosines(docs: list[Doc], db: Path) -> str:
    """How the embedding's cosine separates events: same event, another event of the same
    topic (when the input has topics), another topic; and the AUC of same event against
    each (the chance that a same-event pair scores above a pair of the other kind)."""
    import numpy as np

    from pipeline import embed

    stored = stored_articles(db, docs)
    vectors = embed.shared().embed([embed.article_text(a.title, a.text) for _, a in stored])
    sims = vectors @ vectors.T
    kinds: dict[str, list[float]] = {"same event": [], "same topic, other event": [],
                                     "other topic": []}
    for i, j in itertools.combinations(range(len(stored)), 2):
        a, b = stored[i][0], stored[j][0]
        kind = ("same event" if a.event == b.event else
                "same topic, other event" if a.topic and a.topic == b.topic else "other topic")
        kinds[kind].append(float(sims[i, j]))
    same = np.sort(np.asarray(kinds["same event"]))
    lines = ["| pairs | n | mean | 10th pct | 90th pct | 99th pct | AUC (same event vs these) |",
             "|---|---|---|---|---|---|---|"]
    for kind, values in kinds.items():
        if not values:
            continue
        arr = np.asarray(values)
        auc = "" if kind == "same event" else \
            f"{float(np.mean(np.searchsorted(np.sort(arr), same) / len(arr))):.3f}"
        lines.append(f"| {kind} | {len(arr)} | {arr.mean():.3f} | "
                     f"{np.percentile(arr, 10):.3f} | {np.percentile(arr, 90):.3f} | "
                     f"{np.percentile(arr, 99):.3f} | {auc} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ report
def table(name: str, results: list[Result], n_docs: int) -> str:
    lines = [f"### {name}: {n_docs} articles, {len(results)} arrival orders", "",
             ("| order seed | stored | stories | pairwise P | pairwise R | pairwise F1 "
             "| B³ P | B³ R | B³ F1 |"), "|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        s = res.scores
        lines.append(f"| {res.seed} | {n_docs - len(res.missing)} | {res.stories} | "
                     f"{s['p']:.3f} | {s['r']:.3f} | {s['f1']:.3f} | {s['b3p']:.3f} | "
                     f"{s['b3r']:.3f} | {s['b3f1']:.3f} |")
    if len(results) > 1:
        for label, fn in (("mean", statistics.mean), ("min", min), ("max", max)):
            vals = {k: fn([r.scores[k] for r in results]) for k in
                    ("p", "r", "f1", "b3p", "b3r", "b3f1")}
            stories = fn([r.stories for r in results])
            lines.append(f"| **{label}** | | {stories:.0f} | {vals['p']:.3f} | {vals['r']:.3f} | "
                         f"{vals['f1']:.3f} | {vals['b3p']:.3f} | {vals['b3r']:.3f} | "
                         f"{vals['b3f1']:.3f} |")
    return "\n".join(lines)


def _weights(parser: argparse.ArgumentParser, settings: list[str]) -> dict[str, float]:
    """`--set NAME=VALUE` pairs, checked against the numeric constants of the module."""
    from pipeline import stories

    out: dict[str, float] = {}
    for item in settings:
        name, _, value = (part.strip() for part in item.partition("="))
        current = getattr(stories, name, None)
        if not name.isupper() or isinstance(current, bool) \
                or not isinstance(current, (int, float)):
            parser.error(f"--set {item}: not a numeric constant of pipeline/stories.py")
        try:
            out[name] = float(value)
        except ValueError:
            parser.error(f"--set {item}: {value!r} is not a number")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--jsonl", type=Path, help="labelled JSONL (id, event, lang, title, text)")
    src.add_argument("--labelled", action="store_true",
                     help="the repository's labelled set (tests/data/stories)")
    parser.add_argument("--orders", type=int, default=3, help="seeded arrival orders (1…n)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--passes", type=int, default=1, help="`tidings run` passes per order")
    parser.add_argument("--feeds", type=int, default=1, help="feeds (sources) on the site")
    parser.add_argument("--join", type=float,
                        help="stories.join for the run (default: the packaged one)")
    parser.add_argument("--keep", type=Path, help="copy each order's store into this folder")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--replay", type=int, default=0, metavar="N",
                        help="then replay the first order's stored articles in N seeded "
                             "orders in process, at each --joins value (a plateau)")
    parser.add_argument("--joins", default="0.3,0.4,0.5,0.6,0.7",
                        help="join values for --replay")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="with --replay: a constant of pipeline/stories.py for the "
                             "replay (e.g. STORY_LINKS=2, C_BIAS=-3.9); repeatable")
    parser.add_argument("--cosines", action="store_true",
                        help="then how the embedding's cosine separates events")
    parser.add_argument("--mistakes", action="store_true",
                        help="list merged and split events of each order")
    args = parser.parse_args(argv)
    if args.set and not args.replay:
        parser.error("--set changes the in-process replay only: give --replay N too")
    weights = _weights(parser, args.set)
    docs = load_jsonl(args.jsonl) if args.jsonl else load_labelled()
    name = str(args.jsonl) if args.jsonl else "tests/data/stories"
    if len({d.slug for d in docs}) != len(docs):
        parser.error("article ids must stay distinct as URL slugs")
    results = []
    keep = args.keep
    if (args.replay or args.cosines) and keep is None:
        keep = Path(tempfile.mkdtemp(prefix="tidings-eval-keep-"))
    for seed in range(args.first_seed, args.first_seed + args.orders):
        res = run_order(docs, seed, passes=max(1, args.passes), feeds=max(1, args.feeds),
                        keep=keep, join=args.join)
        results.append(res)
        s = res.scores
        print(f"order {seed}: F1 {s['f1']:.3f} (P {s['p']:.3f} R {s['r']:.3f}) "
              f"B³ F1 {s['b3f1']:.3f}, {res.stories} stories, {len(res.missing)} not stored; "
              f"same-event pairs sharing an index key: {res.keys['all']:.3f} (embedding "
              f"bands {res.keys['emb']:.3f}, names {res.keys['name']:.3f}, other keys "
              f"{res.keys['other']:.3f})", file=sys.stderr, flush=True)
        if args.mistakes:
            print("\n".join(mistakes(docs, res)), file=sys.stderr)
    join = f", join {args.join:g}" if args.join is not None else ""
    print(table(f"{name}, {args.passes} pass(es), {args.feeds} feed(s){join}", results,
                len(docs)))
    missing = sorted(set(itertools.chain.from_iterable(r.missing for r in results)))
    if missing:
        print(f"\nnot stored in some order ({len(missing)}): {', '.join(missing[:30])}")
    first = keep / f"order-{args.first_seed}.db" if keep is not None else None
    if args.replay and first is not None:
        joins = [float(j) for j in args.joins.split(",") if j.strip()]
        changed = f", with {', '.join(args.set)}" if args.set else ""
        print(f"\n### Replay in process: {args.replay} orders (seeds 1-{args.replay}) of the "
              f"articles stored by order {args.first_seed}{changed}\n")
        print(replay(docs, first, range(1, args.replay + 1), joins, weights))
    if args.cosines and first is not None:
        print("\n### Embedding cosine of stored article pairs (headline + lead)\n")
        print(cosines(docs, first))
    if keep is not None and args.keep is None:  # a folder of our own
        shutil.rmtree(keep, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({
            "input": name, "passes": args.passes, "feeds": args.feeds,
            "orders": [{"seed": r.seed, "scores": r.scores, "stories": r.stories,
                        "key_recall": r.keys,
                        "missing": r.missing, "errors": r.errors, "predicted": r.predicted}
                       for r in results]}, ensure_ascii=False, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
