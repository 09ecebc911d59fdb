"""Where a pass's CPU goes, per article: one pass profiled with cProfile, every stage ranked.

    python -m bench.profile_pass                 # 50 outlets, 2,000 pages (about 2 minutes)
    python -m bench.profile_pass --outlets 10    # smaller
    python -m bench.profile_pass --top 40        # more rows of the function table

Not part of `make bench` (cProfile slows Python code down, so its figures are shares, not
speeds). The pass runs in this process against the generated web (served by a process of
its own), with the worker pool switched off (`runner.POOL_AFTER_PAGES` raised) so that
every stage runs here and one profiler per thread sees it: the event loop's thread (HTTP,
politeness, discovery) and the store thread (extraction and the other pure stages, story
placement, SQLite). What the pool itself costs — pickling pages to the worker and results
back — is measured apart on the same pages. Translation is off.

Output: CPU per article by stage (the cumulative time of the stage's function, both
threads), then the functions with the most time of their own.
"""

from __future__ import annotations

import argparse
import cProfile
import pickle
import pstats
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Stages: (label, module path fragment, function name); the cumulative time of each.
STAGES = [
    ("fetch: Fetcher.fetch (HTTP, robots, politeness, decode)", "pipeline/fetch.py", "fetch"),
    ("  of which charset decoding", "pipeline/charset.py", "decode"),
    ("discover: feeds and sitemaps parsed", "pipeline/discover.py", "discover"),
    ("extract: trafilatura + canonical URL", "pipeline/extract.py", "extract"),
    ("language: detect_article", "pipeline/language.py", "detect_article"),
    ("relevance: Matcher.judge", "pipeline/relevance.py", "judge"),
    ("fingerprint: stories.fingerprint", "pipeline/stories.py", "fingerprint"),
    ("  of which figures, names (fingerprints.extract)", "pipeline/fingerprints.py",
     "extract"),
    ("  of which MinHash (minhash.signature)", "pipeline/minhash.py", "signature"),
    ("index keys: stories.index_keys", "pipeline/stories.py", "index_keys"),
    ("candidates: Store.candidates", "pipeline/store.py", "candidates"),
    ("  of which fingerprint JSON decode", "pipeline/stories.py", "from_json"),
    ("place: stories.place", "pipeline/stories.py", "place"),
    ("save: Store.save_article", "pipeline/store.py", "save_article"),
    ("store: Store.article_id_for_url", "pipeline/store.py", "article_id_for_url"),
    ("store: Store.finish_link", "pipeline/store.py", "finish_link"),
    ("store: Store.record_fetches (fetch log)", "pipeline/store.py", "record_fetches"),
    ("store: links added, validators, robots cache", "pipeline/store.py", "add_links"),
    ("SQLite commits (Connection.commit and its `with` exit)", "", "commit"),
]


class _ProfiledThreads(ThreadPoolExecutor):
    """The runner's store thread, with a cProfile of its own."""

    profiles: ClassVar[list[cProfile.Profile]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        def start() -> None:
            profile = cProfile.Profile()
            _ProfiledThreads.profiles.append(profile)
            profile.enable()
        super().__init__(*args, initializer=start, **kwargs)


def cumulative(stats: pstats.Stats, fragment: str, name: str) -> float:
    total = 0.0
    for (path, _, func), (_, _, _, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and fragment in path:
            total += ct
    return total


def commits(stats: pstats.Stats) -> tuple[float, int]:
    seconds, calls = 0.0, 0
    for (_, _, func), (_, nc, tt, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "sqlite3.Connection" in func and ("'commit'" in func or "'__exit__'" in func):
            seconds += tt
            calls += nc
    return seconds, calls


def pool_cost(pages: list[Any], prepared: list[Any]) -> tuple[float, int, int]:
    """CPU seconds to pickle and unpickle every page (to a worker) and result (back)."""
    started = time.process_time()
    size_in = size_out = 0
    for page in pages:
        data = pickle.dumps(page)
        size_in += len(data)
        pickle.loads(data)
    for item in prepared:
        data = pickle.dumps(item)
        size_out += len(data)
        pickle.loads(data)
    return time.process_time() - started, size_in, size_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outlets", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    from bench.bench_pass import write_config
    from bench.newsweb import WebProcess, build_web
    from pipeline import runner
    from pipeline.config import load_config
    from pipeline.store import Store

    runner.POOL_AFTER_PAGES = 10**9  # every stage in this process, where the profilers are
    runner.ThreadPoolExecutor = _ProfiledThreads  # type: ignore[misc]
    seen_pages: list[Any] = []
    seen_prepared: list[Any] = []
    original = runner.Pass._prepare_here

    def keep(self: Any, page: Any) -> Any:
        result = original(self, page)
        if len(seen_pages) < 400:
            seen_pages.append(page)
            seen_prepared.append(result)
        return result
    runner.Pass._prepare_here = keep  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory(prefix="tidings-profile-") as tmp, \
            WebProcess(args.outlets, 40) as web:
        local = build_web(args.outlets, 40, port=web.port)
        config = load_config(write_config(Path(tmp), local))
        store = Store.open(config.store.path)
        main_profile = cProfile.Profile()
        cpu, wall = time.process_time(), time.perf_counter()
        main_profile.enable()
        report = runner.run_pass(config, store, translator_factory=None)
        main_profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        store.close()
    n = len(local.pages)
    threads = threading.active_count()
    stats = pstats.Stats(main_profile)
    for profile in _ProfiledThreads.profiles:
        stats.add(profile)
    print(f"pass of {n:,} pages under cProfile: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({cpu / n * 1000:.1f} ms per page, profiler overhead included); "
          f"{report.new_articles} new, {report.duplicates} duplicates; threads now {threads}")
    print()
    print("CPU per article by stage (cumulative, ms; shares of the profiled total):")
    total = stats.total_tt  # type: ignore[attr-defined]
    for label, fragment, name in STAGES:
        if name == "commit":
            seconds, calls = commits(stats)
            print(f"  {seconds / n * 1000:7.2f} ms  {seconds / total * 100:5.1f}%  {label} "
                  f"({calls / n:.1f} per article)")
            continue
        seconds = cumulative(stats, fragment, name)
        print(f"  {seconds / n * 1000:7.2f} ms  {seconds / total * 100:5.1f}%  {label}")
    ipc, size_in, size_out = pool_cost(seen_pages, seen_prepared)
    k = max(1, len(seen_pages))
    print(f"  {ipc / k * 1000:7.2f} ms         worker pool: pickling a page to a worker and "
          f"its result back (measured apart, {size_in // k // 1024} KB + "
          f"{size_out // k // 1024} KB per page; the pool adds its pipes and threads)")
    print()
    print(f"Functions with the most time of their own (top {args.top}):")
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
