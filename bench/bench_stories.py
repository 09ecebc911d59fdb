"""Benchmark of story placement: is the cost of placing one article flat as the store grows?

    python bench/bench_stories.py            # stores of 1k and 100k articles
    python bench/bench_stories.py --quick    # 1k and 10k
    python bench/bench_stories.py --memory   # the in-memory index instead of SQLite

`run(quick)` returns a markdown section for docs/benchmarks.md. For each size a real store
(`pipeline.store.Store` on a temporary SQLite file) is filled with synthetic articles that
went through the real `fingerprint` → `index_keys` → `place` path, then 100 new articles
are placed and timed — twice, into two copies of the filled store (the two runs), the
sizes taking turns article by article (the machine is shared: its load drifts).
Placement = `index_keys` + `store.candidates` + `place` (the fingerprint is computed
beforehand, as the runner does once per article anyway, and is timed separately); its
time is the placing thread's CPU time (`time.thread_time`: the machine is shared), wall
time beside it.

The synthetic news: 150 articles a day; each event is reported 1-4 times, about half of
them about a watched entity (Xiaomi, BAIC); every article carries figures, dates and names
drawn so that some are common (300,000; Beijing; Tesla) and most are rare, as in real
coverage. Filling inserts through `Store.save_article` in batches of one transaction.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import figure, table, target_verdict
from pipeline.config import StoriesConfig
from pipeline.dedup import content_hash
from pipeline.figures import words as word_list
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

CONFIG = StoriesConfig(window_days=10, near_duplicate=0.8, join=0.5)
PER_DAY = 150
PLACED = 100
RUNS = 2  # the same PLACED articles placed twice, into copies of the filled store
REPEATS = 5  # each article's placement is timed this many times; the fastest counts
START = datetime(2022, 1, 1, tzinfo=UTC)

_WORDS = word_list("""
factory plant vehicle battery deliveries production sales market capacity launch model sedan
electric charging price order quarter revenue profit investment partner supplier government
zone project line phase chip software platform range motor export dealer network growth
report analyst share""")
_COMMON_NAMES = ["Beijing", "Shanghai", "Tesla", "BYD", "China", "Europe", "Reuters"]
_WATCHED = ["Xiaomi", "BAIC"]


# ------------------------------------------------------------------------------ synthetic news
@dataclass(slots=True)
class Event:
    when: datetime
    entity: str | None
    numbers: list[str]
    names: list[str]
    words: list[str]


def _event(rng: random.Random, when: datetime) -> Event:
    entity = rng.choice(_WATCHED) if rng.random() < 0.5 else None
    numbers = []
    for _ in range(rng.randint(2, 4)):
        kind = rng.random()
        if kind < 0.2:
            numbers.append(rng.choice(["100,000", "300,000", "1 billion", "10%", "50,000"]))
        elif kind < 0.6:
            numbers.append(f"{rng.randint(100, 999)},{rng.randint(0, 999):03d}")
        else:
            numbers.append(f"{rng.randint(10, 99)}.{rng.randint(1, 9)}%")
    names = [rng.choice(_COMMON_NAMES)] + [
        "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3)).title()
        for _ in range(rng.randint(2, 4))]
    words = rng.sample(_WORDS, 12) + [f"term{rng.randint(0, 20000)}" for _ in range(25)]
    return Event(when=when, entity=entity, numbers=numbers, names=names, words=words)


def _write_up(rng: random.Random, event: Event, n: int) -> Article:
    when = event.when + timedelta(hours=rng.uniform(0, 48))
    sentences = []
    subject = event.entity or event.names[1]
    for i in range(8):
        words = rng.sample(event.words, 9)
        extra = ""
        if i < len(event.numbers):
            extra = f" of {event.numbers[i]}"
        elif i == len(event.numbers):
            extra = f" on {event.when.strftime('%B')} {event.when.day}"
        name = event.names[i % len(event.names)]
        sentences.append(f"{subject} said the {' '.join(words[:5])} in {name} reached "
                         f"{' '.join(words[5:])}{extra}.")
    rng.shuffle(sentences)
    text = " ".join(sentences)
    return Article(url=f"https://synthetic.invalid/{n}", source="synthetic",
                   title=f"{subject} {rng.choice(_WORDS)} {rng.choice(_WORDS)}", text=text,
                   lang="en", published_at=when.isoformat(), fetched_at=when.isoformat(),
                   translation_status="not_needed", content_hash=content_hash(text),
                   entities=[event.entity] if event.entity else [])


def generate(count: int, *, seed: int = 1, start: datetime = START) -> list[Article]:
    """`count` synthetic articles in time order, PER_DAY a day."""
    rng = random.Random(seed)
    out: list[Article] = []
    while len(out) < count:
        when = start + timedelta(days=len(out) / PER_DAY)
        event = _event(rng, when)
        for _ in range(min(rng.randint(1, 4), count - len(out))):
            out.append(_write_up(rng, event, seed * 10_000_000 + len(out)))
    return out


# ------------------------------------------------------------------------------ backends
class Backend(Protocol):
    def candidates(self, keys: list[str], *, around: str,
                   window_days: float) -> list[Candidate]: ...

    def add(self, article: Article, fp: Fingerprint, placement: Placement,
            keys: list[str]) -> None: ...

    def bulk(self) -> object: ...  # a context manager grouping many adds

    def close(self) -> None: ...


class SqliteBackend:
    """The real store (pipeline.store.Store) on a SQLite file."""

    def __init__(self, path: Path) -> None:
        from pipeline.store import Store
        self.store = Store.open(path)

    def candidates(self, keys: list[str], *, around: str,
                   window_days: float) -> list[Candidate]:
        return self.store.candidates(keys, around=around, window_days=window_days,
                                     per_key=key_weights())  # as the runner asks

    def add(self, article: Article, fp: Fingerprint, placement: Placement,
            keys: list[str]) -> None:
        self.store.save_article(article, placement, fp, keys, flag=False)

    def bulk(self) -> object:
        return self.store.atomic()

    def close(self) -> None:
        self.store.close()


class MemoryBackend:
    """The in-memory index of tests/stories_eval.py (the same contract)."""

    def __init__(self, path: Path) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from stories_eval import MemoryIndex
        self.index = MemoryIndex()
        del path

    def candidates(self, keys: list[str], *, around: str,
                   window_days: float) -> list[Candidate]:
        return self.index.candidates(keys, around=around, window_days=window_days)

    def add(self, article: Article, fp: Fingerprint, placement: Placement,
            keys: list[str]) -> None:
        self.index.add(article, fp, placement, keys)

    def bulk(self) -> object:
        from contextlib import nullcontext
        return nullcontext()

    def close(self) -> None:
        pass


def open_backend(kind: str, path: Path) -> Backend:
    """The one place that picks the store: "sqlite" (default) or "memory"."""
    return SqliteBackend(path) if kind == "sqlite" else MemoryBackend(path)


# ------------------------------------------------------------------------------ measuring
@dataclass(slots=True)
class Batch:
    fingerprint_ms: float
    p50_ms: float  # CPU time of the placing thread
    mean_ms: float
    p95_ms: float
    wall_p50_ms: float
    candidates: float
    joined: int


@dataclass(slots=True)
class Result:
    size: int
    fill_s: float
    batches: list[Batch]


def _place_one(backend: Backend, article: Article, fp: Fingerprint) -> tuple[
        Placement, list[str], int]:
    keys = index_keys(fp)
    cands = backend.candidates(keys, around=article.published_at or article.fetched_at,
                               window_days=CONFIG.window_days)
    return place(article, fp, cands, CONFIG), keys, len(cands)


def fill_store(size: int, kind: str, path: Path, articles: list[Article]) -> Backend:
    """A store of `size` articles. The fill only has to give the store its size and index:
    fingerprints are computed on every core and the fill articles are stored without being
    clustered among themselves (each its own story)."""
    backend = open_backend(kind, path)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        fps = pool.map(fingerprint, articles, chunksize=500)
        for start in range(0, len(articles), 1000):
            with backend.bulk():  # type: ignore[attr-defined]
                for article in articles[start:start + 1000]:
                    fp = next(fps)
                    backend.add(article, fp, Placement(evidence={"signal": "fill"}),
                                index_keys(fp))
    return backend


@dataclass(slots=True)
class Timed:
    """One article placed: its fingerprint's CPU time, the fastest of REPEATS placements
    (CPU and wall), its candidates, and whether it joined a story or repeated an article."""

    fingerprint_s: float
    cpu_s: float
    wall_s: float
    candidates: int
    joined: bool


def place_one_timed(backend: Backend, article: Article) -> Timed:
    t1 = time.thread_time()
    fp = fingerprint(article)
    t2 = time.thread_time()
    cpu, wall = [], []
    for _ in range(REPEATS):  # placing reads only: repeated, the least interfered-with
        t3, w3 = time.thread_time(), time.perf_counter()
        placement, keys, n = _place_one(backend, article, fp)
        cpu.append(time.thread_time() - t3)
        wall.append(time.perf_counter() - w3)
    backend.add(article, fp, placement, keys)
    return Timed(fingerprint_s=t2 - t1, cpu_s=min(cpu), wall_s=min(wall), candidates=n,
                 joined=placement.story_id is not None or placement.duplicate_of is not None)


def batch(timed: list[Timed]) -> Batch:
    times_ms = sorted(t.cpu_s * 1000 for t in timed)
    return Batch(fingerprint_ms=statistics.mean(t.fingerprint_s for t in timed) * 1000,
                 p50_ms=statistics.median(times_ms), mean_ms=statistics.mean(times_ms),
                 p95_ms=times_ms[int(len(times_ms) * 0.95) - 1],
                 wall_p50_ms=statistics.median(t.wall_s for t in timed) * 1000,
                 candidates=statistics.mean(t.candidates for t in timed),
                 joined=sum(t.joined for t in timed))


@dataclass(slots=True)
class Filled:
    """A store filled once, and the articles to place into it."""

    size: int
    fill_s: float
    fill: list[Article]
    new: list[Article]
    path: Path
    backend: Backend | None  # in memory: the filled index (SQLite: closed, copied per run)


def prepare(size: int, kind: str, workdir: Path) -> Filled:
    articles = generate(size + PLACED, seed=size)
    fill, new = articles[:size], articles[size:]
    path = workdir / f"stories-{size}.db"
    t0 = time.perf_counter()
    backend: Backend | None = fill_store(size, kind, path, fill)
    fill_s = time.perf_counter() - t0
    if kind == "sqlite" and backend is not None:
        backend.close()  # checkpoints the WAL into the file, which each run copies
        backend = None
    return Filled(size=size, fill_s=fill_s, fill=fill, new=new, path=path, backend=backend)


def _open_run(filled: Filled, kind: str, run: int) -> Backend:
    """The filled store as it was: a copy of the file (SQLite), else the index (filled
    again after the first run)."""
    if kind == "sqlite":
        copy = filled.path.with_name(f"{filled.path.stem}-run{run}.db")
        shutil.copyfile(filled.path, copy)
        return open_backend(kind, copy)
    if filled.backend is not None:
        backend, filled.backend = filled.backend, None
        return backend
    return fill_store(filled.size, kind, filled.path, filled.fill)


def measure(sizes: tuple[int, ...], kind: str, workdir: Path) -> list[Result]:
    """Fill a store of each size once; then, RUNS times, place each size's PLACED new
    articles into its store as it was filled, the sizes taking turns article by article
    (the n-th article of each size one right after the other, which goes first
    alternating): the shared machine's load drifts over seconds and minutes, so the sizes
    are compared under the same load."""
    filled = [prepare(size, kind, workdir) for size in sizes]
    fingerprint(filled[0].new[0])  # the model loads here (once a process), not in a timing
    batches: dict[int, list[Batch]] = {size: [] for size in sizes}
    for run in range(RUNS):
        backends = [(one, _open_run(one, kind, run)) for one in filled]
        timed: dict[int, list[Timed]] = {size: [] for size in sizes}
        for i in range(PLACED):
            for one, backend in (backends if i % 2 == 0 else backends[::-1]):
                timed[one.size].append(place_one_timed(backend, one.new[i]))
        for one, backend in backends:
            backend.close()
            batches[one.size].append(batch(timed[one.size]))
            for leftover in workdir.glob(f"stories-{one.size}-run{run}*"):
                leftover.unlink()
    return [Result(size=one.size, fill_s=one.fill_s, batches=batches[one.size])
            for one in filled]


def run(quick: bool = False, kind: str = "sqlite") -> str:
    sizes = (1_000, 10_000) if quick else (1_000, 100_000)
    with tempfile.TemporaryDirectory(prefix="tidings-bench-stories-") as tmp:
        results = measure(sizes, kind, Path(tmp))
    base = results[0]
    lines = [
        "## Story placement (bench_stories)",
        "",
        (f"Placing {PLACED} new articles into stores of synthetic articles "
         f"({'SQLite store' if kind == 'sqlite' else 'in-memory index'}; "
         f"{PER_DAY} articles a day, window {CONFIG.window_days:g} days, at most "
         f"{CANDIDATES_PER_KEY} candidates per key, fewer for near-duplicate keys), "
         f"{RUNS} runs: the same articles placed into {RUNS} copies of the filled store, "
         "the sizes taking turns article by article, so that the shared machine's load "
         "is the same for both. "
         "Placement = index keys "
         "+ candidate query + decision, timed as the CPU time of the placing thread, the "
         f"fastest of {REPEATS} (placing only reads; then the article is stored); the "
         "fingerprint is computed once per article before it. The fill stores its articles "
         "without clustering them among themselves, fingerprints computed on every core; "
         "only the measured articles are placed."),
        "",
        table(["store size", "fill (s)", "fingerprint (ms)", "placement p50 (ms CPU)",
               "p95 (ms CPU)", "p50 wall (ms)", "p50 / 1k", "candidates", "joined"],
              [[f"{r.size:,}", f"{r.fill_s:.1f}",
                figure([b.fingerprint_ms for b in r.batches]),
                figure([b.p50_ms for b in r.batches]),
                figure([b.p95_ms for b in r.batches]),
                figure([b.wall_p50_ms for b in r.batches]),
                figure([b.p50_ms / b0.p50_ms for b, b0 in zip(r.batches, base.batches,
                                                              strict=True)], "×"),
                " / ".join(f"{b.candidates:.1f}" for b in r.batches),
                " / ".join(f"{b.joined}/{PLACED}" for b in r.batches)] for r in results],
              "rrrrrrrrr"),
        "",
    ]
    last = results[-1]
    growth = [b.p50_ms / b0.p50_ms for b, b0 in zip(last.batches, base.batches, strict=True)]
    lines.append(f"Target: median placement at {last.size:,} stored articles ≤ 1.5× that at "
                 f"{base.size:,} — {target_verdict(growth, lambda v: v <= 1.5)} "
                 f"({figure(growth, '×')}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory", action="store_true", help="in-memory index, no SQLite")
    args = parser.parse_args()
    print(run(quick=args.quick, kind="memory" if args.memory else "sqlite"))


if __name__ == "__main__":
    main()
