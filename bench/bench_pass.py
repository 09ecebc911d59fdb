"""Benchmark of one pass: tidings' cost per article against the work it wraps.

    python bench/run.py --only pass          # through the harness (writes docs/benchmarks.md)
    python -m bench.bench_pass [--quick]     # alone: prints the markdown section

On the generated news web (`bench.newsweb`: 50 outlets on 127.0.0.2 …, 2,000 article
pages), served by a process of its own, each run measures, the programs interleaved
(run 2 in the reverse order of run 1):

- **tidings**: `python -m pipeline run --json` into an empty store (translation off,
  host_delay 0.05 s, concurrency 16, robots.txt on), then three more passes on the same
  store (nothing new);
- **raw work**: trafilatura (tidings' options) + langdetect over the same pages' bytes, read
  from a file, no HTTP — in one process, and in as many processes as tidings uses;
- **minimal pipeline** (`bench/minimal.py`): httpx fetch, decode, extract, detect, one
  insert per article — in as many processes as tidings uses.

Every program runs under `bench/treetime.py`, so its CPU time is that of its whole process
tree (interpreter start and imports included, orphans too); the process tree's PSS is
sampled for memory. The headline is CPU per article, tidings / raw work in one process;
wall-time ratios are given only between programs with the same number of processes.
Also: `tidings --help` (the fastest of 5, per run), and whether a daemon pass of one
source starts any process; and, per run, where tidings' CPU goes stage by stage
(`bench/profile_pass.py`: the same pass in one process, each stage's CPU time). tidings'
own modules are compiled to bytecode first, as an installed package is (this machine sets
PYTHONDONTWRITEBYTECODE). Each figure is measured in two runs and quoted only when the
two agree within 10% (`bench.common.figure`).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (
    Measured,
    cores,
    figure,
    reproduce,
    run_measured,
    table,
    target_verdict,
)
from pipeline.config import dump_toml

HOST_DELAY = 0.05
CONCURRENCY = 16
NOTHING_NEW_RUNS = 3
HELP_RUNS = 5
TARGET_CPU_RATIO = 1.8
TARGET_HELP = 0.35
TARGET_NOTHING_NEW = 0.6
TARGET_PSS = 400 * 2**20
TRAFILATURA_OPTIONS = {"with_metadata": True, "include_comments": False, "include_tables": True,
                       "include_images": False, "include_links": False, "deduplicate": False,
                       "favor_precision": True}  # as pipeline/extract.py calls it
CLEAN_ENV = {k: "" for k in os.environ if k.startswith("TIDINGS_")}

# ------------------------------------------------------------------------ accuracy

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def tokens(text: str) -> Counter[str]:
    """Words (case-folded) and, for Chinese, single characters; punctuation ignored."""
    return Counter(t.casefold() for t in _TOKEN.findall(text or ""))


def f1(extracted: str | None, truth: str) -> float:
    got, want = tokens(extracted or ""), tokens(truth)
    if not got or not want:
        return 0.0
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def mean_f1(texts: dict[str, str | None], truth: dict[str, str]) -> float:
    """Mean F1 over every page of `truth` (a page without text scores 0)."""
    return sum(f1(texts.get(url), body) for url, body in truth.items()) / max(1, len(truth))


# ------------------------------------------------------------------------ the raw work
# Run as `python -m bench.bench_pass raw PAGES OUT [--shard I/N]` in a process of its own.


def worker_raw(pages_file: Path, out: Path, shard: str) -> None:
    """trafilatura + langdetect on every page's bytes of the shard, no HTTP."""
    import trafilatura
    from langdetect import DetectorFactory, detect_langs
    from langdetect.detector_factory import init_factory

    DetectorFactory.seed = 0
    init_factory()
    index, count = (int(x) for x in shard.split("/"))
    with pages_file.open("rb") as f:
        pages: list[tuple[str, bytes]] = pickle.load(f)[index::count]
    cpu = time.process_time()
    texts: dict[str, str | None] = {}
    for url, data in pages:
        doc = trafilatura.bare_extraction(data, url=url, **TRAFILATURA_OPTIONS)
        text = (doc.text or "") if doc is not None else ""
        texts[url] = text
        try:
            detect_langs(text[:3000])
        except Exception:  # noqa: BLE001, S110 - langdetect raises on text without features
            pass
    out.write_text(json.dumps({"loop_cpu": time.process_time() - cpu, "pages": len(pages),
                               "texts": texts}, ensure_ascii=False), "utf-8")


# ------------------------------------------------------------------------ the programs


def write_config(directory: Path, web: Any, outlets: list[Any] | None = None,
                 every: str = "1h") -> Path:
    document = {
        "store": {"path": str(directory / "tidings.db")},
        "fetch": {"host_delay": HOST_DELAY, "concurrency": CONCURRENCY, "timeout": 20,
                  "retries": 1, "backoff": 0.2, "robots": True},
        "translate": {"languages": [], "package_dir": str(directory / "packages")},
        "digest": {"grace": "1s"},
        "sources": [{"name": o.slug, "url": o.source_url, "kind": o.kind, "language": o.lang,
                     "every": every} for o in (outlets or web.outlets)],
    }
    path = directory / "tidings.toml"
    path.write_text(dump_toml(document), "utf-8")
    return path


def tidings_cmd(*args: str) -> list[str]:
    """The `tidings` console script beside this Python, else `python -m pipeline`."""
    script = Path(sys.executable).with_name("tidings")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "pipeline", *args]


def measured_dict(m: Measured, **more: Any) -> dict[str, Any]:
    return {"wall": m.wall, "cpu": m.cpu, "pss": m.peak_pss, "rss": m.peak_rss,
            "max_procs": m.max_procs, "busy_procs": m.busy_procs,
            "procs": [p.name for p in m.pids.values()], **more}


def run_tidings(config: Path, web: Any) -> dict[str, Any]:
    marks = web.marks()
    breakdown = PeakBreakdown()
    m = run_measured(tidings_cmd("run", "--json", "--config", str(config)), cwd=ROOT,
                     timeout=900, env=CLEAN_ENV, tree=True, poll=0.1, on_poll=breakdown)
    try:
        report = json.loads(m.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"tidings run failed (exit {m.returncode}): "
                           f"{m.stderr[-2000:]}") from None
    return measured_dict(m, report=report, served=web.stats(marks), breakdown=breakdown.peak)


class PeakBreakdown:
    """Every 4th poll, the PSS of each process of the tree by kind of memory
    (`bench.smaps.read_smaps`); `peak` keeps the sample whose total was largest."""

    def __init__(self) -> None:
        self.polls = 0
        self.peak: dict[str, dict[str, float]] = {}
        self._total = 0

    def __call__(self, _so_far: Measured, pid: int) -> None:
        from bench.smaps import KINDS, read_smaps, role
        self.polls += 1
        if self.polls % 4:
            return
        try:
            import psutil
            procs = psutil.Process(pid).children(recursive=True)
            sample = {f"{role(p.cmdline())} {p.pid}": read_smaps(p.pid) for p in procs}
        except Exception:  # noqa: BLE001 - psutil may be missing, a process may exit
            return
        total = sum(k[kind]["pss"] for k in sample.values() if k for kind in KINDS)
        if total > self._total:
            self._total = total
            self.peak = {name: {kind: k[kind]["pss"] / 2**20 for kind in KINDS}
                         for name, k in sample.items() if k}


def sharded(cmd: list[str], procs: int) -> list[str]:
    """`cmd` once (shard 0/1), or `procs` copies at once through bench/fanout.py."""
    from bench.fanout import shard_args
    if procs == 1:
        return shard_args(cmd, 0, 1)
    return [sys.executable, "-m", "bench.fanout", str(procs), "--", *cmd]


def shard_results(workdir: Path, prefix: str, procs: int) -> list[dict[str, Any]]:
    found = []
    for i in range(procs):
        path = workdir / f"{prefix}-{i}.json"
        if path.exists():
            found.append(json.loads(path.read_text("utf-8")))
            path.unlink()
    return found


def run_raw(pages_file: Path, workdir: Path, procs: int) -> dict[str, Any]:
    prefix = f"raw{procs}"
    m = run_measured(sharded([sys.executable, "-m", "bench.bench_pass", "raw", str(pages_file),
                              str(workdir / f"{prefix}-{{i}}.json"), "--shard", "{i}/{n}"],
                             procs), cwd=ROOT, timeout=900, tree=True, poll=0.1)
    results = shard_results(workdir, prefix, procs)
    if m.returncode != 0 or len(results) != procs:
        raise RuntimeError(f"raw work failed (exit {m.returncode}): {m.stderr[-1500:]}")
    texts: dict[str, str | None] = {}
    for r in results:
        texts.update(r["texts"])
    return measured_dict(m, loop_cpu=sum(r["loop_cpu"] for r in results), texts=texts)


def run_minimal(urls_file: Path, workdir: Path, procs: int, web: Any) -> dict[str, Any]:
    prefix = f"minimal{procs}"
    db = workdir / f"{prefix}-{time.monotonic_ns()}.db"
    marks = web.marks()
    m = run_measured(sharded([sys.executable, "-m", "bench.minimal", str(urls_file), str(db),
                              str(workdir / f"{prefix}-{{i}}.json"), "--shard", "{i}/{n}",
                              "--concurrency", str(CONCURRENCY)], procs),
                     cwd=ROOT, timeout=900, tree=True, poll=0.1)
    results = shard_results(workdir, prefix, procs)
    if m.returncode != 0 or len(results) != procs:
        raise RuntimeError(f"minimal pipeline failed (exit {m.returncode}): "
                           f"{m.stderr[-1500:]}")
    texts: dict[str, str | None] = {}
    for r in results:
        texts.update(r["texts"])
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        con.close()
    return measured_dict(m, texts=texts, rows=rows, served=web.stats(marks))


def store_texts(db: Path) -> dict[str, str | None]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute(
            "SELECT l.url, a.text FROM links l LEFT JOIN articles a ON a.id = l.article_id"))
    finally:
        con.close()


def help_wall() -> dict[str, Any]:
    """`tidings --help`: the fastest of HELP_RUNS, wall and CPU."""
    runs = [run_measured(tidings_cmd("--help"), cwd=ROOT, timeout=60, env=CLEAN_ENV,
                         tree=True, poll=0.02) for _ in range(HELP_RUNS)]
    if any(r.returncode for r in runs):
        raise RuntimeError(f"tidings --help failed: {runs[0].stderr[-800:]}")
    return {"wall": min(r.wall for r in runs), "cpu": min(r.cpu for r in runs),
            "walls": [r.wall for r in runs]}


def stage_profile(workdir: Path, outlets: int) -> dict[str, Any]:
    """`python -m bench.profile_pass --json`: the pass in one process, stage by stage."""
    out = workdir / f"profile-{time.monotonic_ns()}.json"
    m = run_measured([sys.executable, "-m", "bench.profile_pass", "--outlets", str(outlets),
                      "--json", str(out)], cwd=ROOT, timeout=900, env=CLEAN_ENV, poll=0.5)
    if m.returncode != 0 or not out.exists():
        raise RuntimeError(f"profile_pass failed (exit {m.returncode}): {m.stderr[-1500:]}")
    found: dict[str, Any] = json.loads(out.read_text("utf-8"))
    return found


def compile_bytecode() -> None:
    """tidings' modules as an installed package has them: compiled once, not at each start."""
    import compileall
    compileall.compile_dir(str(ROOT / "pipeline"), quiet=1)


def daemon_pass(workdir: Path, web_local: Any, port: int) -> dict[str, Any]:
    """`tidings daemon` with one source (40 articles, a fresh store): stopped with SIGTERM
    once its first pass is recorded as finished; which processes did its tree hold?"""
    store_dir = workdir / f"daemon-{time.monotonic_ns()}"
    store_dir.mkdir()
    # every 30 s: the daemon's start jitter (a tenth of that, a quarter of it at start) is
    # small; it is stopped after its first pass anyway.
    config = write_config(store_dir, web_local, outlets=web_local.outlets[:1], every="30s")
    db = store_dir / "tidings.db"
    state: dict[str, Any] = {"stopped_at": None}

    def finished() -> bool:
        if not db.exists():
            return False
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            try:
                row = con.execute("SELECT COUNT(*) FROM runs WHERE finished_at IS NOT NULL"
                                  ).fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return False
        return bool(row and row[0])

    def on_poll(so_far: Measured, pid: int) -> None:
        if state["stopped_at"] is None and finished():
            state["stopped_at"] = so_far.wall
            os.kill(pid, signal.SIGTERM)  # the wrapper passes it on to the daemon

    m = run_measured(tidings_cmd("daemon", "--config", str(config)), cwd=ROOT, timeout=300,
                     env=CLEAN_ENV, tree=True, poll=0.05, on_poll=on_poll)
    if state["stopped_at"] is None:
        raise RuntimeError(f"the daemon never finished a pass: {m.stderr[-1500:]}")
    con = sqlite3.connect(db)
    try:
        articles = con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        con.close()
    procs = list(m.pids.values())
    children = procs[1:]  # the first process sampled is the daemon itself
    return {"children": len(children), "names": [_what(p.cmdline) for p in children],
            "articles": articles, "cpu": m.cpu, "wall": state["stopped_at"],
            "pss": m.peak_pss}


def _what(cmdline: str) -> str:
    if "resource_tracker" in cmdline:
        return "multiprocessing's resource tracker"
    if "spawn_main" in cmdline:
        return "a spawned worker process"
    return f"`{cmdline[:60]}`"


def nothing_new(config: Path, web: Any) -> dict[str, Any]:
    runs = []
    for _ in range(NOTHING_NEW_RUNS):
        marks = web.marks()
        m = run_measured(tidings_cmd("run", "--json", "--config", str(config)), cwd=ROOT,
                         timeout=120, env=CLEAN_ENV, tree=True, poll=0.05)
        report = json.loads(m.stdout.strip().splitlines()[-1])
        runs.append({"wall": m.wall, "cpu": m.cpu, "served": web.stats(marks),
                     "new": report["new_articles"], "procs": m.max_procs})
    return {"wall": statistics.median(r["wall"] for r in runs),
            "cpu": statistics.median(r["cpu"] for r in runs), "runs": runs}


# ------------------------------------------------------------------------ the benchmark


def run(quick: bool = False, *, runs: int | None = None) -> str:
    from bench.imports import profile, top_rows
    from bench.newsweb import WebProcess

    outlets, per_outlet = (10, 40) if quick else (50, 40)
    runs = runs or (1 if quick else 2)
    procs = cores()  # tidings' default: the parent and cores − 1 workers
    compile_bytecode()
    results: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tidings-bench-pass-") as tmp, \
            WebProcess(outlets, per_outlet) as web:
        workdir = Path(tmp)
        local = web.local_copy()
        info = local.summary()
        n_pages = int(info["articles"])  # type: ignore[call-overload]
        truth = {u: t.body for u, t in local.truth.items()}
        pages_file = workdir / "pages.pickle"
        with pages_file.open("wb") as f:
            pickle.dump(list(local.pages.items()), f)
        urls_file = workdir / "urls.json"
        urls_file.write_text(json.dumps(local.article_urls), "utf-8")
        for i in range(runs):
            one: dict[str, Any] = {}
            store_dir = workdir / f"run{i}"
            store_dir.mkdir()
            config = write_config(store_dir, local)

            def tidings_and_nothing(one: dict[str, Any] = one, config: Path = config,
                                    store_dir: Path = store_dir) -> None:
                one["tidings"] = run_tidings(config, web)
                one["tidings"]["texts"] = store_texts(store_dir / "tidings.db")
                one["nothing"] = nothing_new(config, web)

            steps = [("tidings", tidings_and_nothing),
                     ("raw1", lambda one=one: one.__setitem__(
                         "raw1", run_raw(pages_file, workdir, 1))),
                     ("rawP", lambda one=one: one.__setitem__(
                         "rawP", run_raw(pages_file, workdir, procs))),
                     ("minP", lambda one=one: one.__setitem__(
                         "minP", run_minimal(urls_file, workdir, procs, web)))]
            for name, step in (steps if i % 2 == 0 else steps[::-1]):
                step()
                got = one.get(name) or one.get("tidings")
                print(f"[pass] run {i + 1}: {name} {got['wall']:.1f} s wall, "
                      f"{got['cpu']:.1f} s CPU", flush=True)
            one["help"] = help_wall()
            one["daemon"] = daemon_pass(workdir, local, web.port)
            one["stages"] = stage_profile(workdir, outlets)
            print(f"[pass] run {i + 1}: --help {one['help']['wall']:.2f} s; nothing new "
                  f"{one['nothing']['wall']:.2f} s; daemon pass: {one['daemon']['children']} "
                  f"child processes", flush=True)
            if i == 0:
                cfg = str(store_dir / "tidings.toml")
                extra["imports_nothing"] = profile(
                    ["-m", "pipeline", "run", "--json", "--config", cfg], runs=3,
                    env={**os.environ, **CLEAN_ENV})
                extra["imports_help"] = profile(["-m", "pipeline", "--help"], runs=3,
                                                env={**os.environ, **CLEAN_ENV})
            results.append(one)
        extra["top_nothing"] = top_rows(extra["imports_nothing"][0], 12)
        extra["top_help"] = top_rows(extra["imports_help"][0], 10)
    return report_section(quick, info, n_pages, truth, procs, results, extra)


# ------------------------------------------------------------------------ the section


def report_section(quick: bool, info: dict[str, Any], n: int, truth: dict[str, str],
                   procs: int, results: list[dict[str, Any]], extra: dict[str, Any]) -> str:
    def per(key: str, field: str = "cpu") -> list[float]:
        return [r[key][field] for r in results]

    def per_article_ms(key: str) -> list[float]:
        return [r[key]["cpu"] / n * 1000 for r in results]

    def ratio(a: str, b: str, field: str = "cpu") -> list[float]:
        return [r[a][field] / r[b][field] for r in results]

    cpu_ratio = ratio("tidings", "raw1")
    last = results[-1]
    rep = last["tidings"]["report"]
    busy = [r["tidings"]["busy_procs"] for r in results]
    how = "python bench/run.py --only pass" + (" --quick" if quick else "")
    langs = info["languages"]
    lines = [
        "## One pass over a generated news web (bench_pass)",
        "",
        (f"The web: {info['outlets']} outlets, each a server on its own loopback address "
         f"(127.0.0.2 … 127.0.0.{info['outlets'] + 1}), served by a process of their own; "
         f"{n:,} article pages ({langs.get('en', 0)} English, {langs.get('it', 0)} Italian, "
         f"{langs.get('zh', 0)} Chinese; {info['gbk_outlets']} outlets serve GBK), "
         f"{info['duplicates']} of them syndicated or AMP copies; pages "
         f"{info['min_kb']:.0f}–{info['max_kb']:.0f} KB (median {info['median_kb']:.0f} KB). "
         "Half the outlets are configured by RSS feed, half by news sitemap."),
        "",
        (f"Every figure is the whole process tree of the program (bench/treetime.py: "
         f"interpreter start, imports, worker processes, orphans), measured in "
         f"{len(results)} run(s), programs interleaved, the second run in reverse order. "
         "A figure is given as the mean followed by each run, and only when the runs agree "
         "within 10%; otherwise the runs are shown as *did not reproduce*."),
        "",
        "### CPU per article",
        "",
        table(["program", "processes", "CPU per article (ms)", "tidings / this"], [
            ["`tidings run` (fetch, robots, feeds, extract, detect, stories, store)",
             ", ".join(str(b) for b in busy) + " busy", figure(per_article_ms("tidings")),
             ""],
            ["raw work: trafilatura + langdetect on the page bytes, no HTTP", "1",
             figure(per_article_ms("raw1")), figure(cpu_ratio, "×")],
            [f"raw work in {procs} processes", str(procs), figure(per_article_ms("rawP")),
             figure(ratio("tidings", "rawP"), "×")],
            ["minimal pipeline: httpx, decode, extract, detect, one INSERT per article",
             str(procs), figure(per_article_ms("minP")), figure(ratio("tidings", "minP"), "×")],
        ], "lrrr"),
        "",
        (f"Headline — CPU per article, tidings / raw work: {figure(cpu_ratio, '×')}; "
         f"target ≤ {TARGET_CPU_RATIO}× — "
         f"{target_verdict(cpu_ratio, lambda v: v <= TARGET_CPU_RATIO)}. "
         f"The minimal pipeline / raw work, both in {procs} processes = "
         f"{figure(ratio('minP', 'rawP'), '×')}: what real fetching, decoding and storing add. "
         "The raw work's CPU of the extraction loop alone "
         f"(no interpreter start, imports or file reading): "
         f"{figure([r['raw1']['loop_cpu'] / n * 1000 for r in results])} ms per article."),
        "",
        *stage_lines(results, n),
        "### Wall time, same number of processes",
        "",
        table(["reference", "processes", "tidings wall (s)", "reference wall (s)",
               "tidings / reference"], [
            ["raw work", str(procs), figure(per("tidings", "wall"), digits=1),
             figure(per("rawP", "wall"), digits=1), figure(ratio("tidings", "rawP", "wall"), "×")],
            ["minimal pipeline", str(procs), figure(per("tidings", "wall"), digits=1),
             figure(per("minP", "wall"), digits=1), figure(ratio("tidings", "minP", "wall"), "×")],
        ], "lrrrr"),
        "",
        (f"tidings waits {HOST_DELAY} s between requests to a host and reads robots.txt, "
         "feeds and sitemaps; the minimal pipeline fetches the article URLs directly, without "
         "delay. The raw work reads its pages from a file. Wall ratios move with the load "
         "of the machine, which is shared; the CPU ratios above are the steadier figure."),
        "",
    ]
    # ---- accuracy and the report
    f1s = [mean_f1(last[k]["texts"], truth) for k in ("tidings", "raw1", "minP")]
    lines += [
        (f"Text accuracy (mean bag-of-tokens F1 against the generated bodies, last run): "
         f"tidings {f1s[0]:.3f}, raw work {f1s[1]:.3f}, minimal pipeline {f1s[2]:.3f}. "
         f"tidings' last report: {rep['new_articles']:,} new articles, "
         f"{rep['duplicates']:,} duplicates, {rep['new_stories']:,} new stories, "
         f"{rep['flagged']:,} flagged, {len(rep['errors'])} errors; "
         f"{last['tidings']['served']['requests']:,} requests served "
         f"(minimal pipeline: {last['minP']['served']['requests']:,})."),
        "",
    ]
    # ---- start-up, nothing new, memory, daemon
    helps = [r["help"]["wall"] for r in results]
    nothing = [r["nothing"]["wall"] for r in results]
    pss = [r["tidings"]["pss"] / 2**20 for r in results]
    daemon_children = [r["daemon"]["children"] for r in results]
    served = last["nothing"]["runs"][-1]["served"]
    daemon_walls = ", ".join(f"{r['daemon']['wall']:.1f}" for r in results)
    lines += [
        "### Start-up, nothing new, memory, the daemon",
        "",
        table(["measure", "figure", "target", ""], [
            [f"`tidings --help`, wall, fastest of {HELP_RUNS}", figure(helps, " s"),
             f"≤ {TARGET_HELP} s", target_verdict(helps, lambda v: v <= TARGET_HELP)],
            ["  (its CPU, fastest of 5)", figure([r["help"]["cpu"] for r in results], " s"),
             "", ""],
            [(f"nothing-new pass over {info['outlets']} sources, whole process, median of "
              f"{NOTHING_NEW_RUNS}"), figure(nothing, " s"), f"≤ {TARGET_NOTHING_NEW} s",
             target_verdict(nothing, lambda v: v <= TARGET_NOTHING_NEW)],
            ["  (its CPU, median)", figure([r["nothing"]["cpu"] for r in results], " s"),
             "", ""],
            [f"peak memory of the {n:,}-page pass, tree PSS", figure(pss, " MB", 0),
             f"≤ {TARGET_PSS >> 20} MB", target_verdict(pss, lambda v: v <= TARGET_PSS >> 20)],
            ["processes started by a daemon pass of one source (40 new articles)",
             ", ".join(str(c) for c in daemon_children), "0",
             target_verdict([float(c) for c in daemon_children], lambda v: v == 0)],
        ], "lrll"),
        "",
        (f"Nothing new: {served['requests']} requests ({served['conditional']} conditional, "
         f"{served['304']} answered 304), {last['nothing']['runs'][-1]['new']} new articles. "
         f"The daemon (runs: {daemon_walls} s from start to its first finished pass, "
         f"{last['daemon']['articles']} articles stored) held these "
         f"processes besides the daemon: "
         f"{'; '.join(sorted(set(last['daemon']['names']))) or 'none'}. Processes are sampled "
         "every 0.05 s; a worker lives for seconds."),
        "",
        *memory_lines(results, n),
        *target_marks([
            (("CPU per article, tidings / raw trafilatura + langdetect (embedding on, "
             "translation off)"), figure(cpu_ratio, "×"), f"≤ {TARGET_CPU_RATIO}×",
             target_verdict(cpu_ratio, lambda v: v <= TARGET_CPU_RATIO)),
            (f"`tidings --help`, wall, fastest of {HELP_RUNS}", figure(helps, " s"),
             f"≤ {TARGET_HELP} s", target_verdict(helps, lambda v: v <= TARGET_HELP)),
            ((f"nothing-new pass over {info['outlets']} feeds and sitemaps, median of "
             f"{NOTHING_NEW_RUNS}"), figure(nothing, " s"), f"≤ {TARGET_NOTHING_NEW} s",
             target_verdict(nothing, lambda v: v <= TARGET_NOTHING_NEW)),
            ("processes a daemon pass of one source starts",
             ", ".join(str(c) for c in daemon_children), "0",
             target_verdict([float(c) for c in daemon_children], lambda v: v == 0)),
            (f"peak memory of the {n:,}-page pass, tree PSS, embedding model loaded",
             figure(pss, " MB", 0), f"≤ {TARGET_PSS >> 20} MB",
             target_verdict(pss, lambda v: v <= TARGET_PSS >> 20)),
            *soak_target()]),
    ]
    # ---- imports
    lines += [
        "### What start-up imports",
        "",
        ("`python -X importtime`, summarised by `python -m bench.imports` (first run only; "
         "each row the fastest of 3): the package, and the tidings module whose import "
         "brought it in (\"at run time\": imported by a call, not at start-up)."),
        "",
        table(["`tidings --help`", "ms", "nothing-new pass", "ms"],
              _side_by_side(extra["top_help"], extra["top_nothing"]), "lrlr"),
        "",
        (f"Total import time per run: `--help` "
         f"{', '.join(f'{t * 1000:.0f}' for t in extra['imports_help'][1])} ms; nothing-new "
         f"pass {', '.join(f'{t * 1000:.0f}' for t in extra['imports_nothing'][1])} ms."),
        "",
    ]
    if quick:
        lines += [(f"*Quick mode: {info['outlets']} outlets, one run — a smoke test, not "
                   "figures to quote.*"), ""]
    lines.append(reproduce(how) + f" (servers bind 127.0.0.2 … 127.0.0.{info['outlets'] + 1}).")
    return "\n".join(lines)


RAW_STAGES = ("extract: trafilatura, canonical URL, content hash", "language: detect_article")
EMBEDDING = "embedding: stories.embedding (ONNX Runtime)"
STORY_STAGES = ("fingerprint: stories.fingerprint", "index keys: stories.index_keys",
                "candidates: Store.candidates", "place: stories.place",
                "settle: follow-ups and importance (StoryStage.settle)")


def stage_lines(results: list[dict[str, Any]], n: int) -> list[str]:
    """Where the CPU goes, stage by stage (bench/profile_pass.py, one process), and why the
    headline ratio is what it is."""
    profiles = [r["stages"] for r in results]
    labels = [label for label, _, _ in profiles[0]["stages"]]

    def per(label: str) -> list[float]:
        return [next((ms for lab, _, ms in p["stages"] if lab == label), 0.0) for p in profiles]

    def total(labels_: tuple[str, ...] | list[str]) -> list[float]:
        return [sum(v) for v in zip(*(per(label) for label in labels_), strict=True)]

    nested = {label for label, inner, _ in profiles[0]["stages"] if inner}
    rows = [[("  " if label in nested else "") + label, figure(per(label))]
            for label in labels]
    rows += [["the rest of the store thread (hand-offs, the runner's own work)",
              figure([p["rest_ms"] for p in profiles])],
             ["event-loop thread: HTTP, politeness, robots.txt, feeds and sitemaps",
              figure([p["loop_ms"] for p in profiles])],
             ["**the pass in one process, in all**", figure([p["cpu_ms"] for p in profiles])]]
    raw = [r["raw1"]["cpu"] / n * 1000 for r in results]
    own = total(RAW_STAGES)
    embedding = per(EMBEDDING)
    story = total(STORY_STAGES)  # the embedding is a stage of its own
    sqlite = total(["save: Store.save_article (a savepoint in its batch)",
                    "fetch log: Store.record_fetches", "known URL? Store.article_id_for_url",
                    "links: Store.finish_link, add_links, pending_links"])
    pickle_ms = [p["pickle_ms"] for p in profiles]
    last = profiles[-1]
    return [
        "### Where tidings' CPU goes, stage by stage",
        "",
        (f"`python -m bench.profile_pass` in each run: the same pass (a fresh store, "
         f"{profiles[0]['pages']:,} pages) in one process without worker processes, each "
         "stage's CPU time on its thread's clock; indented rows are inside the row above."),
        "",
        table(["stage", "ms per article"], rows, "lr"),
        "",
        (f"The raw work's own stages (extraction and language detection) take "
         f"{figure(own)} ms per article here, against {figure(raw)} ms for the raw work "
         f"(its whole process); on top of them come the multilingual embedding, "
         f"{figure(embedding)} ms by itself — "
         f"{figure([e / r for e, r in zip(embedding, raw, strict=True)], '×')} of the raw "
         f"work, so with the embedding on the 1.8× target leaves under "
         f"{figure([1.8 * r - o - e for r, o, e in zip(raw, own, embedding, strict=True)])} "
         "ms for everything else — the rest of the story stage (other fingerprints, index "
         f"keys, candidates, placement, follow-ups and importance) {figure(story)} ms, "
         f"SQLite writes {figure(sqlite)} ms, HTTP and the event loop "
         f"{figure([p['loop_ms'] for p in profiles])} ms. A full pass runs these stages in a "
         "worker process, which adds its start (imports, the models) and moving each page "
         f"to it and the result back: pickling alone {figure(pickle_ms)} ms per article. "
         "SQLite: "
         f"{last['statements']:.1f} statements and {last['commits']:.2f} commits per "
         f"article; candidate fingerprints: {last['returned']:.1f} per article, "
         f"{last['decoded']:.2f} of them decoded from JSON (the rest from the store's cache); "
         f"{last['connects']} TCP connections for the whole pass."),
        "",
    ]


def memory_lines(results: list[dict[str, Any]], n: int) -> list[str]:
    """What each run's peak tree PSS was made of, process by process."""
    from bench.smaps import KINDS
    rows = []
    for i, r in enumerate(results, 1):
        for name, kinds in sorted(r["tidings"].get("breakdown", {}).items()):
            rows.append([f"run {i}: {name.rsplit(' ', 1)[0]}",
                         *(f"{kinds[k]:.0f}" for k in KINDS), f"{sum(kinds.values()):.0f}"])
    if not rows:
        return []
    return [
        (f"What the peak of the {n:,}-page pass is made of: each process's PSS (MB) at the "
         "sample where the tree's was largest, by kind of mapping (`bench/memory_pass.py`: "
         "heap = the main malloc arena, arenas = glibc's per-thread arenas, anon = other "
         "anonymous memory — Python's object arenas, numpy, large blocks —, weights = the "
         "embedding's cache mapped as `.npy` files: 0 since ONNX Runtime reads its graph into "
         "anonymous memory and the token table is read row by row, db = the store's file mapped by SQLite, libs = "
         "shared libraries). `python -m bench.memory_pass` shows the same over time."),
        "",
        table(["process", *KINDS, "total"], rows, "l" + "r" * (len(KINDS) + 1)),
        "",
    ]


def target_marks(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """Hidden lines that bench/run.py gathers into the document's table of targets."""
    return [f"<!-- target: {' | '.join(r)} -->" for r in rows] + [""]


def soak_target() -> list[tuple[str, str, str, str]]:
    """The daemon soak's verdict, as `scripts/soak.py` last wrote it to docs/soak.md."""
    path = ROOT / "docs" / "soak.md"
    if not path.exists():
        return []
    text = path.read_text("utf-8")
    missing = re.search(r"\| published pages missing from the store \| (\d+) \|", text)
    extra = re.search(r"\| extra rows for one URL \| (\d+) \|", text)
    when = re.search(r"Run (\S+ \S+) UTC with `python scripts/soak.py --minutes (\S+)`", text)
    if not (missing and extra and when):
        return []
    ok = missing[1] == "0" and extra[1] == "0"
    return [((f"daemon soak (`scripts/soak.py`, {when[2]} min, {when[1]} UTC): pages missing "
             "/ stored twice"), f"{missing[1]} / {extra[1]}", "0 / 0",
             "**met**" if ok else "**missed**")]


def _side_by_side(left: list[tuple[str, str, float]], right: list[tuple[str, str, float]]
                  ) -> list[list[str]]:
    def cell(row: tuple[str, str, float] | None) -> list[str]:
        if row is None:
            return ["", ""]
        importer, pkg, s = row
        name = f"{importer} (own code)" if pkg == "(own)" else f"{pkg} ← {importer}"
        return [name, f"{s * 1000:.0f}"]
    n = max(len(left), len(right))
    return [cell(left[i] if i < len(left) else None) + cell(right[i] if i < len(right)
                                                             else None) for i in range(n)]


# ------------------------------------------------------------------------ command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tidings' pass benchmark")
    sub = parser.add_subparsers(dest="cmd")
    p_raw = sub.add_parser("raw")
    p_raw.add_argument("pages", type=Path)
    p_raw.add_argument("out", type=Path)
    p_raw.add_argument("--shard", default="0/1")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int)
    args = parser.parse_args(argv)
    if args.cmd == "raw":
        worker_raw(args.pages, args.out, args.shard)
    else:
        print(run(args.quick, runs=args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
