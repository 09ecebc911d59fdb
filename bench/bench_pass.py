"""Benchmark of one pass: full pass vs the raw work, peers on the same web, nothing new, memory.

    python bench/run.py --only pass            # through the harness (writes docs/benchmarks.md)
    python -m bench.bench_pass [--quick]       # alone: prints the markdown section

On the generated news web (`bench.newsweb`: 50 outlets on 127.0.0.2…, 2,000 pages):

1. **Full pass**: `python -m pipeline run --json` in a subprocess (translation off,
   host_delay 0.05 s, concurrency 16) into an empty store; wall time and the kernel's peak
   RSS of the process. The **raw work** is trafilatura (tidings' options) plus langdetect
   over the same 2,000 pages' bytes, in one process, no HTTP: the least any pipeline must do.
2. **Peers**: newspaper4k (`Article(url).download(); .parse()`, 16 threads) and news-please
   (`NewsPlease.from_url`, 16 threads; its own virtualenv, see `_newsplease_python`) fetch
   and parse the same article URLs. Text accuracy for all: bag-of-tokens F1 between the
   extracted text and the body the page was made from (words; characters for Chinese).
3. **Nothing new**: a second `tidings run` on the same store: wall time and requests.
4. **Memory**: the full pass's peak RSS.

Rounds interleave the measured programs so each round's ratio is measured under the same
conditions; medians are over rounds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sqlite3
import subprocess
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
    fmt,
    mb,
    median,
    reproduce,
    run_measured,
    table,
)
from pipeline.config import dump_toml

HOST_DELAY = 0.05
CONCURRENCY = 16
PEER_THREADS = 16
NEWSPLEASE_VENV = ROOT / "state" / "bench" / "newsplease-venv"
ROUNDS_BUDGET = 300.0  # seconds for the tidings/raw rounds (full mode); ≥ 1 round always
NEWSPLEASE_SAMPLE = 4  # news-please (slowest) fetches every 4th article URL in full mode
RSS_TARGET = 400 * 2**20
RATIO_TARGET = 1.3
NOTHING_NEW_TARGET = 2.0
TRAFILATURA_OPTIONS = {"with_metadata": True, "include_comments": False, "include_tables": True,
                           "include_images": False, "include_links": False, "deduplicate": False,
                           "favor_precision": True}  # as pipeline/extract.py calls it

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


def accuracy(texts: dict[str, str | None], truth: dict[str, tuple[str, str]]
             ) -> dict[str, float]:
    """Mean F1 over every article URL (a page without text scores 0), overall and per
    language, and how many pages gave no text at all."""
    scores: dict[str, list[float]] = {"all": [], "en": [], "it": [], "zh": []}
    missing = 0
    for url, (lang, body) in truth.items():
        text = texts.get(url)
        if not text:
            missing += 1
        score = f1(text, body)
        scores["all"].append(score)
        scores.setdefault(lang, []).append(score)
    out = {k: (sum(v) / len(v) if v else float("nan")) for k, v in scores.items()}
    out["missing"] = missing
    out["median"] = median(scores["all"])
    out["ge90"] = sum(1 for s in scores["all"] if s >= 0.9) / max(1, len(scores["all"]))
    return out


# ------------------------------------------------------------------------ workers
# Run as `python -m bench.bench_pass raw|peer …` in their own processes.


def pages_digest(web: Any) -> str:
    """One hash of every page served, to check the raw work saw the very same bytes."""
    import hashlib
    digest = hashlib.sha1()
    for url, data in web.pages.items():
        digest.update(url.encode())
        digest.update(data)
    return digest.hexdigest()


def worker_raw(outlets: int, per_outlet: int, port: int, out: Path,
               digest: str | None = None) -> None:
    """The raw work: trafilatura + langdetect on every page's bytes, one process."""
    import trafilatura
    from langdetect import DetectorFactory, detect_langs
    from langdetect.detector_factory import init_factory

    from bench.newsweb import build_web

    DetectorFactory.seed = 0
    init_factory()
    web = build_web(outlets, per_outlet, port=port)
    if digest and pages_digest(web) != digest:
        raise SystemExit("the regenerated pages differ from the served ones")
    pages = list(web.pages.items())
    started, cpu = time.perf_counter(), time.process_time()
    texts: dict[str, str | None] = {}
    langs: Counter[str] = Counter()
    for url, data in pages:
        doc = trafilatura.bare_extraction(data, url=url, **TRAFILATURA_OPTIONS)
        text = (doc.text or "") if doc is not None else ""
        texts[url] = text
        try:
            lang = detect_langs(text[:3000])[0].lang if text else "und"
        except Exception:  # noqa: BLE001 - langdetect raises on text without features
            lang = "und"
        langs[lang] += 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    out.write_text(json.dumps({"seconds": seconds, "cpu": cpu, "pages": len(pages),
                               "langs": langs,
                               "texts": texts}, ensure_ascii=False), "utf-8")


def worker_peer(tool: str, urls_file: Path, out: Path, threads: int) -> None:
    """A peer fetching and parsing every URL with `threads` threads."""
    from concurrent.futures import ThreadPoolExecutor

    urls = json.loads(urls_file.read_text("utf-8"))
    if tool == "newspaper4k":
        import newspaper

        def one(url: str) -> str | None:
            article = newspaper.Article(url, fetch_images=False, request_timeout=20)
            article.download()
            article.parse()
            return article.text
        version = getattr(newspaper, "__version__", "?")
    elif tool == "news-please":
        from importlib.metadata import version as dist_version

        from newsplease import NewsPlease

        def one(url: str) -> str | None:
            article = NewsPlease.from_url(url, request_args={"timeout": 20},
                                          fetch_images=False)
            return getattr(article, "maintext", None) if article is not None else None
        version = dist_version("news-please")
    else:
        raise SystemExit(f"unknown peer {tool}")

    errors: Counter[str] = Counter()

    def safe(url: str) -> str | None:
        try:
            return one(url)
        except Exception as exc:  # noqa: BLE001 - a peer's failure is a page without text
            errors[type(exc).__name__] += 1
            return None

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        texts = dict(zip(urls, pool.map(safe, urls), strict=True))
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"seconds": seconds, "pages": len(urls), "version": version,
                               "errors": errors, "texts": texts}, ensure_ascii=False), "utf-8")


# ------------------------------------------------------------------------ tidings


def write_config(directory: Path, web: Any) -> Path:
    document = {
        "store": {"path": str(directory / "tidings.db")},
        "fetch": {"host_delay": HOST_DELAY, "concurrency": CONCURRENCY, "timeout": 20,
                  "retries": 1, "backoff": 0.2, "robots": True},
        "translate": {"languages": [], "package_dir": str(directory / "packages")},
        "sources": [{"name": o.slug, "url": o.source_url, "kind": o.kind, "language": o.lang,
                     "every": "1h"} for o in web.outlets],
    }
    path = directory / "tidings.toml"
    path.write_text(dump_toml(document), "utf-8")
    return path


def tidings_run(config: Path) -> tuple[Any, dict[str, Any]]:
    measured = run_measured([sys.executable, "-m", "pipeline", "run", "--json",
                             "--config", str(config)], cwd=ROOT, timeout=600,
                            env={k: "" for k in os.environ if k.startswith("TIDINGS_")})
    try:
        report = json.loads(measured.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"tidings run failed (exit {measured.returncode}): "
                           f"{measured.stderr[-2000:]}") from None
    return measured, report


def store_facts(db: Path) -> dict[str, Any]:
    con = sqlite3.connect(db)
    try:
        texts = dict(con.execute(
            "SELECT l.url, a.text FROM links l LEFT JOIN articles a ON a.id = l.article_id"))
        fetches = con.execute("SELECT COUNT(*) FROM fetches").fetchone()[0]
        articles = con.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        return {"texts": texts, "fetches": fetches, "articles": articles}
    finally:
        con.close()


def fetch_rows_since(db: Path, after: int) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT status, conditional FROM fetches WHERE rowid > ?",
                           [after]).fetchall()
        max_row = con.execute("SELECT COALESCE(MAX(rowid), 0) FROM fetches").fetchone()[0]
    finally:
        con.close()
    return {"rows": len(rows), "conditional": sum(1 for _, c in rows if c),
            "304": sum(1 for s, _ in rows if s == 304), "max_rowid": max_row}


def max_fetch_rowid(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT COALESCE(MAX(rowid), 0) FROM fetches").fetchone()[0])
    finally:
        con.close()


# ------------------------------------------------------------------------ peers


def _newsplease_python(log: list[str]) -> str | None:
    """news-please runs from its own virtualenv (state/bench/newsplease-venv), made on
    first use (~50 s): it brings ~45 packages (Scrapy, Twisted, boto3, psycopg2,
    elasticsearch …) and faust-cchardet/chardet, which would change how trafilatura and
    requests guess encodings in the project's environment. jieba is newspaper4k's
    tokenizer for Chinese (its `zh` extra), which news-please uses."""
    python = NEWSPLEASE_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import newsplease, jieba"], check=False,
                                          capture_output=True, timeout=120).returncode == 0:
        return str(python)
    try:
        NEWSPLEASE_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(NEWSPLEASE_VENV)], check=True,
                       capture_output=True, timeout=120)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "news-please",
                               "jieba"], check=False,
                              capture_output=True, text=True, timeout=400)
    except (OSError, subprocess.SubprocessError) as exc:
        log.append(f"news-please: could not make its virtualenv: {exc}")
        return None
    if done.returncode != 0:
        log.append("news-please: `pip install news-please` failed: "
                   + " ".join(done.stderr.strip().splitlines()[-3:]))
        return None
    return str(python)


def run_peer(python: str, tool: str, urls_file: Path, workdir: Path) -> dict[str, Any]:
    out = workdir / f"{tool}.json"
    measured = run_measured([python, "-m", "bench.bench_pass", "peer", tool, str(urls_file),
                             str(out), "--threads", str(PEER_THREADS)], cwd=ROOT, timeout=900)
    if measured.returncode != 0 or not out.exists():
        raise RuntimeError(f"{tool} failed (exit {measured.returncode}): "
                           f"{measured.stderr[-1500:]}")
    data = json.loads(out.read_text("utf-8"))
    data.update(wall=measured.wall, rss=measured.maxrss, cpu=measured.cpu)
    return data


def run_raw(outlets: int, per_outlet: int, port: int, workdir: Path, digest: str
            ) -> dict[str, Any]:
    out = workdir / "raw.json"
    measured = run_measured([sys.executable, "-m", "bench.bench_pass", "raw", str(outlets),
                             str(per_outlet), str(port), str(out), "--digest", digest],
                            cwd=ROOT, timeout=900)
    if measured.returncode != 0 or not out.exists():
        raise RuntimeError(f"raw work failed (exit {measured.returncode}): "
                           f"{measured.stderr[-1500:]}")
    data = json.loads(out.read_text("utf-8"))
    data.update(wall=measured.wall, rss=measured.maxrss)
    return data


# ------------------------------------------------------------------------ the benchmark


def run(quick: bool = False, *, rounds: int | None = None, peers: bool = True) -> str:
    from bench.newsweb import build_web, request_marks, request_stats, serve

    outlets, per_outlet = (10, 40) if quick else (50, 40)
    rounds = rounds or (1 if quick else 3)
    t0 = time.perf_counter()
    web = build_web(outlets, per_outlet)
    build_s = time.perf_counter() - t0
    info = web.summary()
    port = web.outlets[0].port
    truth = {u: (t.lang, t.body) for u, t in web.truth.items()}
    digest = pages_digest(web)
    notes: list[str] = []
    results: dict[str, list[Any]] = {"tidings": [], "raw": [], "nothing": []}
    peer_results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tidings-bench-pass-") as tmp, serve(web) as servers:
        workdir = Path(tmp)
        urls_file = workdir / "urls.json"
        urls_file.write_text(json.dumps(web.article_urls), "utf-8")
        rounds_started = time.perf_counter()
        for i in range(rounds):
            elapsed = time.perf_counter() - rounds_started
            if i and not quick and elapsed / i * (i + 1) > ROUNDS_BUDGET:
                notes.append(f"{i} rounds instead of {rounds}: another would have taken the "
                             f"pass benchmark over its {ROUNDS_BUDGET:.0f} s budget for rounds")
                break
            store_dir = workdir / f"round{i}"
            store_dir.mkdir()
            config = write_config(store_dir, web)
            marks = request_marks(servers)
            measured, report = tidings_run(config)
            served = request_stats(servers, marks)
            facts = store_facts(store_dir / "tidings.db")
            results["tidings"].append({"wall": measured.wall, "rss": measured.maxrss,
                                       "tree_rss": measured.peak_rss,
                                       "tree_pss": measured.peak_pss, "cpu": measured.cpu,
                                       "report": report, "served": served, **facts})
            print(f"[pass] round {i + 1}: tidings {measured.wall:.1f} s, "
                  f"{report['new_articles']} new, rss {mb(measured.maxrss)}", flush=True)
            # Nothing new: the same store, a second pass.
            before = max_fetch_rowid(store_dir / "tidings.db")
            marks = request_marks(servers)
            measured2, report2 = tidings_run(config)
            served2 = request_stats(servers, marks)
            rows2 = fetch_rows_since(store_dir / "tidings.db", before)
            results["nothing"].append({"wall": measured2.wall, "rss": measured2.maxrss,
                                       "report": report2, "served": served2, "rows": rows2})
            print(f"[pass] round {i + 1}: nothing new {measured2.wall:.2f} s, "
                  f"{served2['requests']} requests", flush=True)
            raw = run_raw(outlets, per_outlet, port, workdir, digest)
            results["raw"].append(raw)
            print(f"[pass] round {i + 1}: raw work {raw['seconds']:.1f} s", flush=True)
        if peers:
            sample = 1 if quick else NEWSPLEASE_SAMPLE
            peer_results = run_peers(urls_file, workdir, notes, web.article_urls[::sample])
    return report_section(quick, web, info, build_s, truth, results, peer_results, notes)


def run_peers(urls_file: Path, workdir: Path, notes: list[str], np_urls: list[str]
              ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    try:
        out["newspaper4k"] = run_peer(sys.executable, "newspaper4k", urls_file, workdir)
        print(f"[pass] newspaper4k {out['newspaper4k']['wall']:.1f} s", flush=True)
    except RuntimeError as exc:
        notes.append(f"newspaper4k did not run: {exc}")
    python = _newsplease_python(notes)
    if python:
        try:
            sample_file = workdir / "urls-news-please.json"
            sample_file.write_text(json.dumps(np_urls), "utf-8")
            out["news-please"] = run_peer(python, "news-please", sample_file, workdir)
            print(f"[pass] news-please {out['news-please']['wall']:.1f} s", flush=True)
        except RuntimeError as exc:
            notes.append(f"news-please did not run: {exc}")
    return out


# ------------------------------------------------------------------------ the section


def report_section(quick: bool, web: Any, info: dict[str, Any], build_s: float,
                   truth: dict[str, tuple[str, str]], results: dict[str, list[Any]],
                   peers: dict[str, dict[str, Any]], notes: list[str]) -> str:
    tid, raw, nothing = results["tidings"], results["raw"], results["nothing"]
    n_pages = info["articles"]
    rounds = len(tid)
    t_wall = median(r["wall"] for r in tid)
    r_work = median(r["seconds"] for r in raw)
    r_wall = median(r["wall"] for r in raw)
    ratios = [t["wall"] / r["seconds"] for t, r in zip(tid, raw, strict=True)]
    t_cpu = median(r["cpu"] for r in tid)
    r_cpu = median(r["cpu"] for r in raw)
    ratio = median(ratios)
    t_rss = max(r["rss"] for r in tid)
    t_pss = max(r.get("tree_pss", 0) for r in tid)
    t_tree_rss = max(r.get("tree_rss", 0) for r in tid)
    last = tid[-1]
    rep = last["report"]
    acc_t = accuracy(last["texts"], truth)
    acc_r = accuracy(raw[-1]["texts"], truth)
    how = "python bench/run.py --only pass" + (" --quick" if quick else "")
    langs = info["languages"]
    lines = [
        "## One pass over a generated news web (bench_pass)",
        "",
        (f"The web: {info['outlets']} outlets, each a server on its own loopback address "
        f"(127.0.0.2 … 127.0.0.{info['outlets'] + 1}), {n_pages:,} article pages "
        f"({langs.get('en', 0)} English, {langs.get('it', 0)} Italian, {langs.get('zh', 0)} "
        f"Chinese; {info['gbk_outlets']} outlets serve GBK), {info['duplicates']} of them "
        f"syndicated or AMP copies of another page; pages {info['min_kb']:.0f}–"
        f"{info['max_kb']:.0f} KB (median {info['median_kb']:.0f} KB, "
        f"{info['bytes'] / 2**20:.0f} MB in all) with five site templates' boilerplate. "
        f"Half the outlets are configured by RSS feed, half by news sitemap. Generated in "
        f"{build_s:.1f} s from seed {web.seed} (`bench/newsweb.py`)."),
        "",
        (f"tidings: `python -m pipeline run --json` in a fresh store, translation off "
        f"(`translate.languages = []`), `host_delay = {HOST_DELAY}`, `concurrency = "
        f"{CONCURRENCY}`, robots.txt on. Raw work: `trafilatura.bare_extraction` with "
        f"tidings' options plus langdetect, over the same pages' bytes, in one process, "
        f"no HTTP, timed around the loop only. {rounds} round(s), the programs interleaved "
        f"within each round; medians shown."),
        "",
        "### Full pass",
        "",
        table(["", "wall (median)", "articles/s", "CPU (median)", "CPU per article",
               "peak RSS", "runs (s)"], [
            ["`tidings run` (HTTP, politeness, store)", f"{t_wall:.1f} s",
             fmt(n_pages / t_wall, 1), f"{t_cpu:.1f} s", f"{t_cpu / n_pages * 1000:.1f} ms",
             f"{mb(t_pss)} (tree PSS)", ", ".join(f"{r['wall']:.1f}" for r in tid)],
            ["raw work: trafilatura + langdetect, in-process", f"{r_work:.1f} s",
             fmt(n_pages / r_work, 1), f"{r_cpu:.1f} s", f"{r_cpu / n_pages * 1000:.1f} ms",
             mb(max(r["rss"] for r in raw)), ", ".join(f"{r['seconds']:.1f}" for r in raw)],
            ["(raw work's process incl. imports and page generation)", f"{r_wall:.1f} s",
             "", "", "", "", ", ".join(f"{r['wall']:.1f}" for r in raw)],
        ], "lrrrrrl"),
        "",
        (f"**tidings / raw work: {ratio:.2f}×** (per round: "
        f"{', '.join(f'{x:.2f}×' for x in ratios)}); target ≤ {RATIO_TARGET}× — "
        f"{'**met**' if ratio <= RATIO_TARGET else f'**missed** by {(ratio / RATIO_TARGET - 1) * 100:.0f}%'}."
        f" tidings' wall time is the whole process: interpreter start, imports, robots.txt, "
        f"feeds and sitemaps, politeness delays, story placement and SQLite writes. "
        f"CPU time, less sensitive to other load on the machine: tidings / raw = "
        f"{t_cpu / r_cpu:.2f}× ({t_cpu / n_pages * 1000:.1f} vs {r_cpu / n_pages * 1000:.1f} "
        f"ms per article); its extraction stages run in a worker process beside the "
        f"parent's HTTP and store work, so the pass uses both cores, yet the extra CPU "
        f"per article keeps its wall time above 1.3× the raw work's."),
        "",
        (f"Last round's report: {rep['new_articles']:,} new articles, {rep['duplicates']:,} "
        f"duplicates, {rep['new_stories']:,} new stories, {rep['flagged']:,} flagged, "
        f"{len(rep['errors'])} errors; {last['served']['requests']:,} requests served, "
        f"{last['fetches']:,} rows in `fetches`."),
        "",
    ]
    # ---- peers
    rows = [["tidings", f"`tidings run`, concurrency {CONCURRENCY}, host_delay {HOST_DELAY} s",
             f"{t_wall:.1f} s", fmt(n_pages / t_wall, 1), *acc_cells(acc_t),
             f"{mb(t_pss)} (tree PSS)"]]
    for name, data in peers.items():
        sub = {u: truth[u] for u in data["texts"]}
        acc = accuracy(data["texts"], sub)
        how_peer = ("`Article(url).download(); .parse()`" if name == "newspaper4k"
                    else "`NewsPlease.from_url(url)`")
        if len(sub) < n_pages:
            how_peer += f" on 1 page in {n_pages // len(sub)} ({len(sub):,})"
            acc_sub = accuracy(last["texts"], sub)
            notes.append(f"{name} ran on {len(sub):,} of the {n_pages:,} pages (1 in "
                         f"{n_pages // len(sub)}, to keep `make bench` short); on the same "
                         f"pages tidings' F1 is {acc_sub['all']:.3f}.")
        missing = Counter(page_kind(web, u) for u, text in data["texts"].items() if not text)
        if missing:
            notes.append(f"{name} gave no text for {sum(missing.values())} pages: "
                         + ", ".join(f"{n} {kind}" for kind, n in missing.most_common(6)) + ".")
        rows.append([f"{name} {data.get('version', '')}",
                     f"{how_peer}, {PEER_THREADS} threads, no delay", f"{data['wall']:.1f} s",
                     fmt(data["pages"] / data["wall"], 1), *acc_cells(acc), mb(data["rss"])])
        data["acc"] = acc
        if data.get("errors"):
            notes.append(f"{name} raised on {sum(data['errors'].values())} pages: "
                         + ", ".join(f"{k} ×{v}" for k, v in data["errors"].items()))
    rows.append(["(raw trafilatura, for reference)", "no HTTP", f"{r_work:.1f} s",
                 fmt(n_pages / r_work, 1), *acc_cells(acc_r), ""])
    lines += [
        "### Peers on the same web, same run",
        "",
        table(["", "how", "wall", "articles/s", "F1 all", "F1 en", "F1 it", "F1 zh",
               "F1 ≥ 0.9", "no text", "peak RSS"],
              rows, "llrrrrrrrrr"),
        "",
        ("Text accuracy: mean over all pages of the bag-of-tokens F1 between the extracted "
        "text and the body the page was generated from (words case-folded; each Chinese "
        "character a token; a page without text scores 0). tidings' texts are read from its "
        "store through the `links` table, so a page stored as a duplicate or recognised by "
        "its canonical URL is scored with the text tidings kept for it. Walls include each "
        "program's start-up; peers' threads ignore politeness (no per-host delay, no "
        "robots.txt), tidings waits 0.05 s between requests to a host. newspaper4k runs "
        "with `fetch_images=False`, its fastest setting."),
        "",
    ]
    kinds = sorted({page_kind(web, u) for u in truth})
    tools = [("tidings", last["texts"])] + [(n, d["texts"]) for n, d in peers.items()]
    by_kind = []
    for kind in kinds:
        row = [kind]
        for _, texts in tools:
            urls = [u for u in texts if u in truth and page_kind(web, u) == kind] \
                if texts is not last["texts"] else \
                [u for u in truth if page_kind(web, u) == kind]
            scores = [f1(texts.get(u), truth[u][1]) for u in urls]
            row.append(f"{sum(scores) / len(scores):.3f} ({len(scores)})" if scores else "–")
        by_kind.append(row)
    lines += ["F1 by kind of page (language, site template, charset; pages in brackets):", "",
              table(["page kind", *[n for n, _ in tools]], by_kind, "l" + "r" * len(tools)), ""]
    if peers:
        best_speed = max(d["pages"] / d["wall"] for d in peers.values())
        best_f1 = max(d["acc"]["all"] for d in peers.values())
        speed_ok = n_pages / t_wall > best_speed
        f1_ok = acc_t["all"] > best_f1
        lines += [(f"Target — tidings ahead on speed: {'**met**' if speed_ok else '**missed**'} "
                  f"({n_pages / t_wall:.1f} vs best peer {best_speed:.1f} articles/s); ahead on "
                  f"accuracy: {'**met**' if f1_ok else '**missed**'} (F1 {acc_t['all']:.3f} vs "
                  f"best peer {best_f1:.3f})."), ""]
    # ---- nothing new
    n_wall = median(r["wall"] for r in nothing)
    lastn = nothing[-1]
    lines += [
        "### Nothing new: a second pass",
        "",
        table(["", "wall (median)", "requests served", "conditional", "answered 304",
               "rows in `fetches`", "new articles", "runs (s)"], [
            ["second `tidings run`, same store", f"{n_wall:.2f} s",
             str(lastn["served"]["requests"]), str(lastn["served"]["conditional"]),
             str(lastn["served"]["304"]), str(lastn["rows"]["rows"]),
             str(lastn["report"]["new_articles"]),
             ", ".join(f"{r['wall']:.2f}" for r in nothing)]], "lrrrrrrl"),
        "",
        (f"Target < {NOTHING_NEW_TARGET:.0f} s: "
        f"{'**met**' if n_wall < NOTHING_NEW_TARGET else f'**missed** by {n_wall - NOTHING_NEW_TARGET:.2f} s'}"
        f". One conditional GET per source (feed or sitemap); robots.txt comes from the "
        f"store's 24-hour cache; every article link is already done. The wall time is the "
        f"whole process, interpreter start and imports included "
        f"(peak RSS {mb(max(r['rss'] for r in nothing))})."),
        "",
        "### Memory",
        "",
        (f"A big pass runs its extraction stages in worker processes, so memory is the "
        f"process tree's (largest of {rounds} run(s), sampled every 0.2 s): "
        f"**{mb(t_pss)} PSS** (proportional set size: pages shared between the processes "
        f"counted once — what the pass really occupies); the plain sum of the processes' "
        f"RSS is {mb(t_tree_rss)}, and the parent alone peaks at {mb(t_rss)} (VmHWM). "
        f"Target < {mb(RSS_TARGET)} on PSS — "
        f"{'**met**' if t_pss < RSS_TARGET else '**missed**'}"
        f"{'' if t_tree_rss < RSS_TARGET else ' (on the RSS sum it would be missed)'}."),
        "",
    ]
    if quick:
        lines += [(f"*Quick mode: {info['outlets']} outlets, one round — a smoke test, not "
                  "figures to quote.*"), ""]
    if notes:
        lines += ["Notes:", "", *[f"- {n}" for n in notes], ""]
    lines.append(reproduce(how) + " (servers bind 127.0.0.2 … 127.0.0.51; "
                 "news-please is installed into state/bench/newsplease-venv on first use).")
    return "\n".join(lines)


def page_kind(web: Any, url: str) -> str:
    """'zh cnportal GBK': the language, site template and charset of a page's outlet."""
    for o in web.outlets:
        if url.startswith(o.base + "/"):
            return f"{o.lang} {o.template}" + (f" {o.charset.upper()}" if o.charset != "utf-8"
                                               else "")
    return "?"


def acc_cells(acc: dict[str, float]) -> list[str]:
    def cell(key: str) -> str:
        value = acc.get(key, float("nan"))
        return "–" if math.isnan(value) else f"{value:.3f}"
    return [cell("all"), cell("en"), cell("it"), cell("zh"),
            f"{acc['ge90'] * 100:.0f}%", str(int(acc["missing"]))]


# ------------------------------------------------------------------------ command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tidings' pass benchmark")
    sub = parser.add_subparsers(dest="cmd")
    p_raw = sub.add_parser("raw")
    p_raw.add_argument("outlets", type=int)
    p_raw.add_argument("per_outlet", type=int)
    p_raw.add_argument("port", type=int)
    p_raw.add_argument("out", type=Path)
    p_raw.add_argument("--digest")
    p_peer = sub.add_parser("peer")
    p_peer.add_argument("tool")
    p_peer.add_argument("urls", type=Path)
    p_peer.add_argument("out", type=Path)
    p_peer.add_argument("--threads", type=int, default=PEER_THREADS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd == "raw":
        worker_raw(args.outlets, args.per_outlet, args.port, args.out, args.digest)
    elif args.cmd == "peer":
        worker_peer(args.tool, args.urls, args.out, args.threads)
    else:
        print(run(args.quick, rounds=args.rounds, peers=not args.no_peers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
