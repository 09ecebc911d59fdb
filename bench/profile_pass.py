"""Where a pass's CPU goes, per article: every stage timed, then (optionally) cProfile.

    python -m bench.profile_pass                  # 50 outlets, 2,000 pages (~1 minute)
    python -m bench.profile_pass --outlets 10     # smaller
    python -m bench.profile_pass --cprofile       # then a second pass under cProfile

Not part of `make bench`. The pass runs in this process against the generated web (served
by a process of its own), with the worker pool switched off (`runner.POOL_AFTER_PAGES`
raised) so that every stage runs here: the event loop's thread (HTTP, politeness,
discovery) and the store thread (extraction and the other pure stages, story placement,
SQLite). Translation is off.

Stage timers: each stage function is wrapped to add up the CPU time of its thread
(`time.thread_time`) — a few calls per article, so the timing costs nothing worth
counting; nested stages ("of which") are inside their parent's figure. Each thread's
total CPU time is read from its own clock, so what no stage accounts for (the event loop,
httpx, the executor hand-offs) is the remainder. What the pool adds when it is on —
pickling each page to a worker and its result back — is measured apart on the same pages.

`--cprofile` profiles a second pass with one cProfile per thread on the threads' CPU
clocks (waiting is not counted), and prints the functions with the most time of their own
and the callers of the hottest built-ins. cProfile slows call-heavy Python code (langdetect)
much more than C code (lxml, SQLite): read it for what calls what, not for speeds.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pickle
import pstats
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Self

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# (label, module, attribute path): the stage functions, wrapped with a CPU timer.
STAGES = [
    ("extract: trafilatura, canonical URL, content hash", "pipeline.extract", "extract"),
    ("language: detect_article", "pipeline.language", "detect_article"),
    ("relevance: Matcher.judge", "pipeline.relevance", "Matcher.judge"),
    ("fingerprint: stories.fingerprint", "pipeline.stories", "fingerprint"),
    ("  of which figures and dates (figures.scan)", "pipeline.figures", "scan"),
    ("  of which names (figures.names)", "pipeline.figures", "names"),
    ("  of which MinHash (stories._minhash)", "pipeline.stories", "_minhash"),
    ("  of which the embedding (Embedder.embed)", "pipeline.embed", "Embedder.embed"),
    ("index keys: stories.index_keys", "pipeline.stories", "index_keys"),
    ("candidates: Store.candidates", "pipeline.store", "Store.candidates"),
    ("  of which fingerprint decode (Fingerprint.from_json)", "pipeline.stories",
     "Fingerprint.from_json"),
    ("place: stories.place", "pipeline.stories", "place"),
    ("save: Store.save_article (one transaction)", "pipeline.store", "Store.save_article"),
    ("settle: follow-ups and importance (StoryStage.settle)", "pipeline.storystage",
     "StoryStage.settle"),
    ("known URL? Store.article_id_for_url", "pipeline.store", "Store.article_id_for_url"),
    ("fetch log: Store.record_fetches", "pipeline.store", "Store.record_fetches"),
    ("links: Store.finish_link, add_links, pending_links", "pipeline.store",
     "Store.finish_link"),
    ("", "pipeline.store", "Store.add_links"),
    ("", "pipeline.store", "Store.pending_links"),
    ("discover: feeds and sitemaps parsed (event loop)", "pipeline.frontier", "discover"),
    ("decode: charset.decode (event loop)", "pipeline.fetch", "charset.decode"),
]


class Timers:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def wrap(self, label: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                with self.lock:
                    self.cpu[label] += spent
                    self.calls[label] += 1
        return timed


def install(timers: Timers) -> None:
    import importlib
    last_label = ""
    for label, module_name, path in STAGES:
        label = label or last_label
        last_label = label
        module = importlib.import_module(module_name)
        owner: Any = module
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        if isinstance(original, classmethod):
            wrapped = classmethod(timers.wrap(label, original.__func__))
            setattr(owner, name, wrapped)
        else:
            setattr(owner, name, timers.wrap(label, original))


class StoreThread(ThreadPoolExecutor):
    """The runner's store thread; knows its CPU clock (and, with `profile`, a cProfile)."""

    profile = False
    clocks: ClassVar[list[int]] = []
    profiles: ClassVar[list[cProfile.Profile]] = []
    cpu_at_exit: ClassVar[list[float]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        def start() -> None:
            StoreThread.clocks.append(time.pthread_getcpuclockid(threading.get_ident()))
            if StoreThread.profile:
                prof = cProfile.Profile(time.thread_time)
                StoreThread.profiles.append(prof)
                prof.enable()
        super().__init__(*args, initializer=start, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        def last() -> None:
            if StoreThread.profile and StoreThread.profiles:
                StoreThread.profiles[-1].disable()
            StoreThread.cpu_at_exit.append(time.thread_time())
        try:
            self.submit(last).result(timeout=60)
        except RuntimeError:  # already shut down
            pass
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


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


class PerHostTransport:
    """Experiment: one small httpx connection pool per host instead of one shared pool.

    httpcore scans every connection of its pool (and asks the socket of each idle one
    whether it expired) each time a request is assigned or a response closed, so one pool
    holding a connection per host costs O(hosts) per request; a pool per host, O(1)."""

    def __init__(self, connections_per_host: int = 2) -> None:
        import httpx
        self.limits = httpx.Limits(max_connections=connections_per_host,
                                   max_keepalive_connections=connections_per_host,
                                   keepalive_expiry=30)
        self.pools: dict[tuple[str, str, int | None], Any] = {}

    async def handle_async_request(self, request: Any) -> Any:
        import httpx
        key = (request.url.scheme, request.url.host, request.url.port)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = httpx.AsyncHTTPTransport(limits=self.limits)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self.pools.values():
            await pool.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def batch_transactions(runner: Any, every: int) -> None:
    """Experiment: the store thread commits every `every` articles instead of after each
    statement group (what the runner would do with batched transactions); the store's own
    `atomic()` blocks then become savepoints inside the open transaction."""
    original = runner.Pass.process
    done = [0]

    def process(self: Any, prepared: Any, link: Any) -> Any:
        conn = self.store.db.conn
        if not conn.in_transaction:
            conn.execute("BEGIN")
        out = original(self, prepared, link)
        done[0] += 1
        if done[0] % every == 0:
            conn.execute("COMMIT")
        return out
    runner.Pass.process = process
    original_finish = runner.Pass._translate

    async def finish(self: Any) -> None:  # the last batch, before the run is recorded
        def commit() -> None:
            if self.store.db.conn.in_transaction:
                self.store.db.conn.execute("COMMIT")
        await self._db(commit)
        await original_finish(self)
    runner.Pass._translate = finish


def one_query_candidates(store_module: Any, check: bool) -> None:
    """Experiment: `Store.candidates` as one SQL statement per article (the per-key limited
    lookups as a UNION ALL inside the article query) and a cache of decoded fingerprints
    by article id (a stored article's fingerprint never changes). With `check`, every
    answer is compared with the original method's."""
    import json

    from pipeline.stories import Candidate, Fingerprint

    original = store_module.Store.candidates
    cache: dict[int, Any] = {}

    def candidates(self: Any, keys: list[str], *, around: str, window_days: float,
                   per_key: Any = 20) -> list[Any]:
        caps = per_key if not isinstance(per_key, int) else {}
        default = per_key if isinstance(per_key, int) else 20
        if not keys:
            return []
        centre = store_module.parse_time(around)
        low = (centre - store_module.timedelta(days=window_days)).isoformat()
        high = (centre + store_module.timedelta(days=window_days)).isoformat()
        arms, params = [], []
        for key in dict.fromkeys(keys):
            arms.append("SELECT article_id FROM (SELECT article_id FROM article_keys "
                        "WHERE key = ? AND seen_at BETWEEN ? AND ? ORDER BY seen_at DESC "
                        "LIMIT ?)")
            params += [key, low, high, caps.get(key.split(":", 1)[0], default)]
        rows = self.db.execute(
            "SELECT id, story_id, duplicate_of, COALESCE(published_at, fetched_at), lang, "
            "fingerprint FROM articles WHERE id IN (" + " UNION ALL ".join(arms) + ")",
            params).fetchall()
        out = []
        for r in rows:
            if not r[5]:
                continue
            fp = cache.get(r[0])
            if fp is None:
                fp = cache[r[0]] = Fingerprint.from_json(json.loads(r[5]))
            out.append(Candidate(article_id=r[0], story_id=r[1], duplicate_of=r[2],
                                 seen_at=r[3], lang=r[4] or "", fingerprint=fp))
        if check:
            want = original(self, keys, around=around, window_days=window_days,
                            per_key=per_key)
            if sorted(c.article_id for c in want) != sorted(c.article_id for c in out):
                raise AssertionError("the one-query candidates differ from the original")
        return out
    store_module.Store.candidates = candidates


def one_pass(outlets: int, profile: bool, connections: int = 0,
             per_host: bool = False) -> dict[str, Any]:
    from bench.bench_pass import write_config
    from bench.newsweb import WebProcess, build_web
    from pipeline import runner
    from pipeline.config import load_config
    from pipeline.store import Store

    runner.POOL_AFTER_PAGES = 10**9  # every stage in this process
    runner.ThreadPoolExecutor = StoreThread  # type: ignore[misc]
    StoreThread.profile = profile
    if connections or per_host:  # experiments with the HTTP connection pool
        import httpx

        def make_client(config: Any, transport: Any = None) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                follow_redirects=False, timeout=httpx.Timeout(config.timeout),
                limits=httpx.Limits(max_connections=connections or 100,
                                    max_keepalive_connections=connections or 100,
                                    keepalive_expiry=30),
                transport=PerHostTransport() if per_host else transport, trust_env=False)
        runner.make_client = make_client  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="tidings-profile-") as tmp, \
            WebProcess(outlets, 40) as web:
        local = build_web(outlets, 40, port=web.port)
        config = load_config(write_config(Path(tmp), local))
        store = Store.open(config.store.path)
        statements: dict[str, int] = defaultdict(int)

        def trace(sql: str) -> None:
            statements[sql.split(None, 1)[0].upper() if sql.strip() else "?"] += 1
        store.db.conn.set_trace_callback(trace)
        main_profile = cProfile.Profile(time.thread_time)
        cpu, main_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
        if profile:
            main_profile.enable()
        report = runner.run_pass(config, store, translate=False)
        if profile:
            main_profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        main_cpu = time.thread_time() - main_cpu
        store.close()
    return {"pages": len(local.pages), "cpu": cpu, "wall": wall, "main_cpu": main_cpu,
            "store_cpu": StoreThread.cpu_at_exit[-1] if StoreThread.cpu_at_exit else 0.0,
            "report": report, "main_profile": main_profile, "statements": dict(statements)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outlets", type=int, default=50)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--cprofile", action="store_true", help="a second pass, profiled")
    parser.add_argument("--connections", type=int, default=0,
                        help="experiment: an HTTP pool of this many connections (keep-alive "
                             "30 s) instead of the fetcher's own")
    parser.add_argument("--per-host-pool", action="store_true",
                        help="experiment: one small connection pool per host")
    parser.add_argument("--batch", type=int, default=1,
                        help="experiment: commit every N articles")
    parser.add_argument("--one-query", action="store_true",
                        help="experiment: candidates in one query, decoded fingerprints cached")
    parser.add_argument("--check-one-query", action="store_true",
                        help="the same, each answer checked against the original (slower)")
    args = parser.parse_args(argv)

    from pipeline import runner
    timers = Timers()
    seen_pages: list[Any] = []
    seen_prepared: list[Any] = []
    original = runner.Preparer.__call__

    def keep(self: Any, page: Any) -> Any:
        result = original(self, page)
        if len(seen_pages) < 400:
            seen_pages.append(page)
            seen_prepared.append(result)
        return result
    runner.Preparer.__call__ = keep  # type: ignore[method-assign]

    from pipeline import store as store_module
    from pipeline.store import Store
    if args.one_query or args.check_one_query:
        one_query_candidates(store_module, args.check_one_query)
    decoded: list[int] = []
    original_candidates = Store.candidates

    def candidates(self: Any, *a: Any, **k: Any) -> Any:
        found = original_candidates(self, *a, **k)
        decoded.extend(c.article_id for c in found)
        return found
    Store.candidates = candidates  # type: ignore[method-assign]
    install(timers)  # the timer wraps the recording wrapper: one figure for both
    connects = [0]

    def count_connects(event: str, _args: Any) -> None:
        if event == "socket.connect":
            connects[0] += 1
    sys.addaudithook(count_connects)
    if args.batch > 1:
        batch_transactions(runner, args.batch)
    got = one_pass(args.outlets, profile=False, connections=args.connections,
                   per_host=args.per_host_pool)
    n = got["pages"]
    rep = got["report"]

    def ms(seconds: float) -> str:
        return f"{seconds / n * 1000:6.2f} ms"

    print(f"pass of {n:,} pages: {got['wall']:.1f} s wall, {got['cpu']:.1f} s CPU of the "
          f"process = {ms(got['cpu'])} per page; {rep.new_articles} new, {rep.duplicates} "
          "duplicates")
    print()
    print("CPU per article (ms), largest first; the thread's clock, stage timers inside it:")
    store_cpu, main_cpu = got["store_cpu"], got["main_cpu"]
    store_stages = {k: v for k, v in timers.cpu.items() if "event loop" not in k}
    loop_stages = {k: v for k, v in timers.cpu.items() if "event loop" in k}
    top_level = {k: v for k, v in store_stages.items() if not k.startswith("  ")}
    rows = sorted(top_level.items(), key=lambda kv: -kv[1])
    print(f"  {ms(store_cpu)}  store thread, in all")
    for label, seconds in rows:
        print(f"  {ms(seconds)}    {label}  ({timers.calls[label] / n:.2f} calls per page)")
        for sub, sub_s in store_stages.items():
            if sub.startswith("  ") and STAGE_PARENT.get(sub) == label:
                print(f"  {ms(sub_s)}      {sub.strip()}")
    print(f"  {ms(store_cpu - sum(top_level.values()))}    the rest of the store thread "
          "(executor hand-offs, Pass.process, the fetch log's bookkeeping)")
    print(f"  {ms(main_cpu)}  event-loop thread, in all (HTTP, politeness, robots, feeds; "
          f"{connects[0]:,} TCP connections opened)")
    for label, seconds in sorted(loop_stages.items(), key=lambda kv: -kv[1]):
        print(f"  {ms(seconds)}    {label}")
    other = got["cpu"] - store_cpu - main_cpu
    print(f"  {ms(other)}  other threads")
    sql = got["statements"]
    print()
    print(f"SQLite statements per article: {sum(sql.values()) / n:.1f} ("
          + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(sql.items(), key=lambda kv: -kv[1]))
          + ")")
    seen: set[int] = set()
    again = 0
    for article_id in decoded:
        again += article_id in seen
        seen.add(article_id)
    print(f"candidate fingerprints decoded per article: {len(decoded) / n:.1f}; "
          f"{again / max(1, len(decoded)) * 100:.0f}% of them had been decoded before in this "
          f"pass ({len(seen):,} distinct articles)")
    ipc, size_in, size_out = pool_cost(seen_pages, seen_prepared)
    k = max(1, len(seen_pages))
    print(f"  {ipc / k * 1000:6.2f} ms  with the worker pool on: pickling a page to the "
          f"worker and its result back ({size_in // k // 1024} KB + {size_out // k // 1024} KB "
          "per page), measured apart; the pool's pipes and threads come on top")
    if args.cprofile:
        profiled = one_pass(args.outlets, profile=True)
        stats = pstats.Stats(profiled["main_profile"])
        for prof in StoreThread.profiles:
            stats.add(prof)
        print()
        print(f"cProfile, a second pass (thread CPU clocks; {profiled['cpu']:.1f} s CPU "
              f"under the profiler), functions with the most time of their own:")
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.print_callers(r"posix.stat|copy.py:66|getpeername|'execute' of|'commit'|"
                            r"json/decoder.py.*raw_decode")
        print(out.getvalue())
    return 0


STAGE_PARENT = {
    "  of which figures and dates (figures.scan)": "fingerprint: stories.fingerprint",
    "  of which names (figures.names)": "fingerprint: stories.fingerprint",
    "  of which the embedding (Embedder.embed)": "fingerprint: stories.fingerprint",
    "  of which MinHash (stories._minhash)": "fingerprint: stories.fingerprint",
    "  of which fingerprint decode (Fingerprint.from_json)": "candidates: Store.candidates",
}


if __name__ == "__main__":
    sys.exit(main())
