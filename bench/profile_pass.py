"""Where a pass's CPU goes, per article: every stage timed, then (optionally) cProfile.

    python -m bench.profile_pass                  # 50 outlets, 2,000 pages (~1 minute)
    python -m bench.profile_pass --outlets 10     # smaller
    python -m bench.profile_pass --cprofile       # then a second pass under cProfile
    python -m bench.profile_pass --shared-pool --commit-every 1 --per-key-candidates
                                                  # ablations: as before issue 16's changes
    python -m bench.profile_pass --check-candidates   # the one-query candidates are checked

`make bench` runs it once per run of bench_pass (`--json`) for the per-stage table of
docs/benchmarks.md. The pass runs in this process against the generated web (served
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
import json
import pickle
import pstats
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# (label, module, attribute path): the stage functions, wrapped with a CPU timer.
STAGES = [
    ("extract: trafilatura, canonical URL, content hash", "pipeline.extract", "extract"),
    ("language: detect_article", "pipeline.language", "detect_article"),
    ("relevance: Matcher.judge", "pipeline.relevance", "Matcher.judge"),
    ("embedding: stories.embedding (ONNX Runtime)", "pipeline.stories", "embedding"),
    ("fingerprint: stories.fingerprint", "pipeline.stories", "fingerprint"),
    ("  of which figures and dates (figures.scan)", "pipeline.figures", "scan"),
    ("  of which names (figures.names)", "pipeline.figures", "names"),
    ("  of which MinHash: shingles, their and the content words' signatures", "pipeline.stories",
     "shingles"),
    ("", "pipeline.stories", "_shingle_minhash"),
    ("", "pipeline.stories", "_minhash"),
    ("index keys: stories.index_keys", "pipeline.stories", "index_keys"),
    ("candidates: Store.candidates", "pipeline.store", "Store.candidates"),
    ("  of which fingerprint decode (Fingerprint.from_json)", "pipeline.stories",
     "Fingerprint.from_json"),
    ("place: stories.place", "pipeline.stories", "place"),
    ("save: Store.save_article (a savepoint in its batch)", "pipeline.store",
     "Store.save_article"),
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


def shared_pool_client(runner: Any) -> None:
    """Ablation: one httpx connection pool shared by every host (sized to the hosts, as
    before the per-host pools) instead of `fetch.PerHostTransport`."""
    import httpx

    from pipeline import fetch

    def make_client(config: Any, transport: Any = None, *, hosts: int = 0) -> Any:
        keep = max(2 * config.concurrency, hosts, 64)
        return httpx.AsyncClient(
            follow_redirects=False, timeout=httpx.Timeout(config.timeout),
            event_hooks={"response": [fetch._hold_location]},
            limits=httpx.Limits(max_connections=keep + config.concurrency,
                                max_keepalive_connections=keep),
            transport=transport, trust_env=False)
    runner.make_client = make_client


def commit_every(runner: Any, links: int) -> None:
    """Ablation: the store thread commits after `links` finished links (1: about one
    commit per article, as before the batches)."""
    from pipeline.storethread import StoreCalls
    runner.StoreCalls = lambda store: StoreCalls(store, links=links)


def per_key_candidates(store_module: Any, check: bool) -> None:
    """Ablation: `Store.candidates` as it was (one query per key, then the articles, every
    fingerprint decoded again). With `check`, the store's own answer is compared with it,
    article by article and in order, on every call (and the pass uses the store's)."""
    from pipeline.stories import Candidate, Fingerprint

    built = store_module.Store.candidates

    def old(self: Any, keys: list[str], *, around: str, window_days: float,
            per_key: Any = 20) -> list[Any]:
        caps = per_key if not isinstance(per_key, int) else {}
        default = per_key if isinstance(per_key, int) else 20
        if not keys:
            return []
        centre = store_module.parse_time(around)
        low = (centre - store_module.timedelta(days=window_days)).isoformat()
        high = (centre + store_module.timedelta(days=window_days)).isoformat()
        ids: dict[int, None] = {}
        for key in dict.fromkeys(keys):
            for (article_id,) in self.db.execute(
                    "SELECT article_id FROM article_keys WHERE key = ? AND seen_at BETWEEN ? "
                    "AND ? ORDER BY seen_at DESC LIMIT ?",
                    [key, low, high, caps.get(key.split(":", 1)[0], default)]):
                ids[article_id] = None
        if not ids:
            return []
        rows = self.db.execute(
            f"SELECT id, story_id, duplicate_of, COALESCE(published_at, fetched_at), lang, "
            f"fingerprint FROM articles WHERE id IN ({','.join('?' * len(ids))})",
            list(ids)).fetchall()
        return [Candidate(article_id=r[0], story_id=r[1], duplicate_of=r[2], seen_at=r[3],
                          lang=r[4] or "", fingerprint=Fingerprint.from_json(json.loads(r[5])))
                for r in rows if r[5]]

    def checked(self: Any, keys: list[str], **kwargs: Any) -> list[Any]:
        got = built(self, keys, **kwargs)
        want = old(self, keys, **kwargs)
        if [(c.article_id, c.story_id, c.duplicate_of, c.seen_at, c.lang) for c in got] != \
                [(c.article_id, c.story_id, c.duplicate_of, c.seen_at, c.lang) for c in want]:
            raise AssertionError("the one-query candidates differ from the per-key ones")
        if any(a.fingerprint.to_json() != b.fingerprint.to_json()
               for a, b in zip(got, want, strict=True)):
            raise AssertionError("a cached fingerprint differs from the stored one")
        CHECKED[0] += 1
        return got
    store_module.Store.candidates = checked if check else old


CHECKED = [0]


def one_pass(outlets: int, profile: bool) -> dict[str, Any]:
    from bench.bench_pass import write_config
    from bench.newsweb import WebProcess, build_web
    from pipeline import runner, storethread
    from pipeline.config import load_config
    from pipeline.store import Store

    runner.POOL_AFTER_PAGES = 10**9  # every stage in this process
    storethread.ThreadPoolExecutor = StoreThread  # type: ignore[misc]
    StoreThread.profile = profile
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
    parser.add_argument("--shared-pool", action="store_true",
                        help="ablation: one HTTP connection pool for every host (as before)")
    parser.add_argument("--commit-every", type=int, default=0, metavar="LINKS",
                        help="ablation: commit after this many links (1: one per article)")
    parser.add_argument("--per-key-candidates", action="store_true",
                        help="ablation: candidates one query per key, no fingerprint cache")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the figures (ms per article) to FILE")
    parser.add_argument("--check-candidates", action="store_true",
                        help="compare the store's candidates with the per-key query's on "
                             "every call (slower)")
    args = parser.parse_args(argv)

    from pipeline import prepare, runner
    timers = Timers()
    seen_pages: list[Any] = []
    seen_prepared: list[Any] = []
    original = prepare.Preparer.__call__

    def keep(self: Any, page: Any) -> Any:
        result = original(self, page)
        if len(seen_pages) < 400:
            seen_pages.append(page)
            seen_prepared.append(result)
        return result
    prepare.Preparer.__call__ = keep  # type: ignore[method-assign]

    from pipeline import store as store_module
    from pipeline.store import Store
    if args.per_key_candidates or args.check_candidates:
        per_key_candidates(store_module, args.check_candidates)
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
    if args.shared_pool:
        shared_pool_client(runner)
    if args.commit_every:
        commit_every(runner, args.commit_every)
    got = one_pass(args.outlets, profile=False)
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
    if args.check_candidates:
        print(f"candidates checked against the per-key query: {CHECKED[0]:,} calls, all equal")
    print(f"candidate fingerprints returned per article: {len(decoded) / n:.1f}; "
          f"{again / max(1, len(decoded)) * 100:.0f}% of them returned before in this pass "
          f"({len(seen):,} distinct articles); decoded from JSON: "
          f"{timers.calls.get(DECODE, 0) / n:.2f} per article")
    ipc, size_in, size_out = pool_cost(seen_pages, seen_prepared)
    k = max(1, len(seen_pages))
    print(f"  {ipc / k * 1000:6.2f} ms  with the worker pool on: pickling a page to the "
          f"worker and its result back ({size_in // k // 1024} KB + {size_out // k // 1024} KB "
          "per page), measured apart; the pool's pipes and threads come on top")
    if args.json:
        per = 1000 / n
        stages = [(label.strip(), label.startswith("  "), timers.cpu[label] * per)
                  for label, _, _ in STAGES if label and label in timers.cpu]
        args.json.write_text(json.dumps({
            "pages": n, "cpu_ms": got["cpu"] * per, "wall": got["wall"],
            "store_ms": store_cpu * per, "loop_ms": main_cpu * per,
            "rest_ms": (store_cpu - sum(top_level.values())) * per,
            "other_ms": other * per, "stages": stages, "connects": connects[0],
            "statements": sum(sql.values()) / n, "commits": sql.get("COMMIT", 0) / n,
            "decoded": timers.calls.get(DECODE, 0) / n, "returned": len(decoded) / n,
            "pickle_ms": ipc / k * 1000}), "utf-8")
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


DECODE = "  of which fingerprint decode (Fingerprint.from_json)"
STAGE_PARENT = {
    "  of which figures and dates (figures.scan)": "fingerprint: stories.fingerprint",
    "  of which names (figures.names)": "fingerprint: stories.fingerprint",
    "  of which MinHash: shingles, their and the content words' signatures":
        "fingerprint: stories.fingerprint",
    "  of which fingerprint decode (Fingerprint.from_json)": "candidates: Store.candidates",
}


if __name__ == "__main__":
    sys.exit(main())
