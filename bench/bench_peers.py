"""Peers on the same web: newspaper4k and news-please, CPU per article and text accuracy.

    python bench/run.py --only peers          # through the harness
    python -m bench.bench_peers [--quick]     # alone: prints the markdown section

On the generated news web (`bench.newsweb`, served by a process of its own), newspaper4k
(`Article(url).download(); .parse()`) and news-please (`NewsPlease.from_url`), each with 16
threads in one process, fetch and parse a sample of the article URLs; the raw work
(trafilatura + langdetect on the same pages' bytes, one process, `bench_pass raw`) runs on
the same sample in the same run. Figures: CPU per article of the whole process tree
(`bench/treetime.py`), its ratio to the raw work's, and text accuracy (bag-of-tokens F1
against the generated bodies). Two runs; a figure is quoted when they agree within 10%.

news-please runs from a virtualenv of its own (state/bench/newsplease-venv, made on first
use): it brings ~45 packages (Scrapy, Twisted, boto3 …) and faust-cchardet/chardet, which
would change how trafilatura and requests guess encodings in the project's environment.
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_pass import f1, mean_f1, run_raw
from bench.common import figure, reproduce, run_measured, table

PEER_THREADS = 16
NEWSPLEASE_VENV = ROOT / "state" / "bench" / "newsplease-venv"
SAMPLE = {"newspaper4k": 2, "news-please": 8}  # every Nth article URL (full mode)


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
            return str(article.text)
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

    with ThreadPoolExecutor(max_workers=threads) as pool:
        texts = dict(zip(urls, pool.map(safe, urls), strict=True))
    out.write_text(json.dumps({"version": version, "errors": errors, "texts": texts},
                              ensure_ascii=False), "utf-8")


def newsplease_python(notes: list[str]) -> str | None:
    """The news-please virtualenv's Python, made on first use (~50 s); None if it cannot
    be made (no package index). jieba is its tokenizer for Chinese."""
    python = NEWSPLEASE_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import newsplease, jieba"],
                                          check=False, capture_output=True,
                                          timeout=120).returncode == 0:
        return str(python)
    try:
        NEWSPLEASE_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(NEWSPLEASE_VENV)], check=True,
                       capture_output=True, timeout=120)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "news-please",
                               "jieba"], check=False, capture_output=True, text=True,
                              timeout=400)
    except (OSError, subprocess.SubprocessError) as exc:
        notes.append(f"news-please: could not make its virtualenv: {exc}")
        return None
    if done.returncode != 0:
        notes.append("news-please: `pip install news-please` failed: "
                     + " ".join(done.stderr.strip().splitlines()[-3:]))
        return None
    return str(python)


def run_peer(python: str, tool: str, urls_file: Path, workdir: Path) -> dict[str, Any]:
    out = workdir / f"{tool}.json"
    m = run_measured([python, "-m", "bench.bench_peers", "peer", tool, str(urls_file), str(out),
                      "--threads", str(PEER_THREADS)], cwd=ROOT, timeout=900, tree=True,
                     poll=0.1)
    if m.returncode != 0 or not out.exists():
        raise RuntimeError(f"{tool} failed (exit {m.returncode}): {m.stderr[-1500:]}")
    data: dict[str, Any] = json.loads(out.read_text("utf-8"))
    out.unlink()
    data.update(wall=m.wall, cpu=m.cpu, pss=m.peak_pss)
    return data


def page_kind(web: Any, url: str) -> str:
    """'zh cnportal GBK': the language, site template and charset of a page's outlet."""
    for o in web.outlets:
        if url.startswith(o.base + "/"):
            return f"{o.lang} {o.template}" + (f" {o.charset.upper()}" if o.charset != "utf-8"
                                               else "")
    return "?"


def run(quick: bool = False, *, runs: int | None = None) -> str:
    from bench.newsweb import WebProcess

    outlets, per_outlet = (10, 40) if quick else (50, 40)
    runs = runs or (1 if quick else 2)
    notes: list[str] = []
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="tidings-bench-peers-") as tmp, \
            WebProcess(outlets, per_outlet) as web:
        workdir = Path(tmp)
        local = web.local_copy()
        pythons = {"newspaper4k": sys.executable, "news-please": newsplease_python(notes)}
        samples: dict[str, tuple[Path, Path, list[str]]] = {}
        for tool, every in SAMPLE.items():
            urls = local.article_urls[::1 if quick else every]
            urls_file = workdir / f"urls-{tool}.json"
            urls_file.write_text(json.dumps(urls), "utf-8")
            pages_file = workdir / f"pages-{tool}.pickle"
            with pages_file.open("wb") as f:
                pickle.dump([(u, local.pages[u]) for u in urls], f)
            samples[tool] = (urls_file, pages_file, urls)
        for i in range(runs):
            for tool in (SAMPLE if i % 2 == 0 else list(SAMPLE)[::-1]):
                python = pythons[tool]
                if python is None:
                    continue
                urls_file, pages_file, urls = samples[tool]
                try:
                    peer = run_peer(python, tool, urls_file, workdir)
                except RuntimeError as exc:
                    notes.append(f"{tool} did not run: {exc}")
                    pythons[tool] = None
                    continue
                raw = run_raw(pages_file, workdir, 1)
                results.setdefault(tool, []).append({"peer": peer, "raw": raw,
                                                     "pages": len(urls)})
                print(f"[peers] run {i + 1}: {tool} {peer['cpu']:.1f} s CPU, raw "
                      f"{raw['cpu']:.1f} s CPU ({len(urls)} pages)", flush=True)
    return report_section(quick, local, results, notes)


def report_section(quick: bool, web: Any, results: dict[str, list[dict[str, Any]]],
                   notes: list[str]) -> str:
    truth = {u: t.body for u, t in web.truth.items()}
    rows = []
    kinds: dict[str, dict[str, list[float]]] = {}
    for tool, runs in results.items():
        n = runs[0]["pages"]
        peer_ms = [r["peer"]["cpu"] / n * 1000 for r in runs]
        raw_ms = [r["raw"]["cpu"] / n * 1000 for r in runs]
        last = runs[-1]
        sub = {u: truth[u] for u in last["peer"]["texts"]}
        f1_peer = mean_f1(last["peer"]["texts"], sub)
        f1_raw = mean_f1(last["raw"]["texts"], sub)
        missing = sum(1 for t in last["peer"]["texts"].values() if not t)
        rows.append([f"{tool} {last['peer']['version']}", f"{n:,} (1 in {len(truth) // n})",
                     figure(peer_ms), figure(raw_ms),
                     figure([p / r for p, r in zip(peer_ms, raw_ms, strict=True)], "×"),
                     f"{f1_peer:.3f}", f"{f1_raw:.3f}", str(missing)])
        for url, text in last["peer"]["texts"].items():
            kinds.setdefault(page_kind(web, url), {}).setdefault(tool, []).append(
                f1(text, truth[url]))
        errors = last["peer"].get("errors") or {}
        if errors:
            notes.append(f"{tool} raised on {sum(errors.values())} pages: "
                         + ", ".join(f"{k} ×{v}" for k, v in errors.items()))
    tools = list(results)
    by_kind = [[kind, *[(f"{sum(v) / len(v):.3f} ({len(v)})" if (v := per.get(t)) else "–")
                        for t in tools]] for kind, per in sorted(kinds.items())]
    how = "python bench/run.py --only peers" + (" --quick" if quick else "")
    lines = [
        "## Peers on the same web (bench_peers)",
        "",
        ("newspaper4k and news-please fetch and parse a sample of the generated web's "
         f"article URLs, {PEER_THREADS} threads in one process each, no politeness; the raw "
         "work (trafilatura + langdetect on the same pages' bytes, one process) runs on the "
         "same sample in the same run. CPU is the whole process tree's, imports included. "
         "Compare \"peer / raw work\" with tidings / raw work in bench_pass: both are "
         "ratios to the same raw work."),
        "",
        table(["peer", "pages", "CPU per article (ms)", "raw work (ms)", "peer / raw work",
               "F1", "F1 raw work", "no text"], rows, "lrrrrrrr"),
        "",
        "F1 by kind of page (language, site template, charset; pages in brackets), last run:",
        "",
        table(["page kind", *tools], by_kind, "l" + "r" * len(tools)),
        "",
    ]
    if quick:
        lines += ["*Quick mode: 10 outlets, every page, one run — a smoke test.*", ""]
    if notes:
        lines += ["Notes:", "", *[f"- {n}" for n in notes], ""]
    lines.append(reproduce(how) + " (news-please is installed into "
                 "state/bench/newsplease-venv on first use).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="peers on the generated web")
    sub = parser.add_subparsers(dest="cmd")
    p_peer = sub.add_parser("peer")
    p_peer.add_argument("tool")
    p_peer.add_argument("urls", type=Path)
    p_peer.add_argument("out", type=Path)
    p_peer.add_argument("--threads", type=int, default=PEER_THREADS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int)
    args = parser.parse_args(argv)
    if args.cmd == "peer":
        worker_peer(args.tool, args.urls, args.out, args.threads)
    else:
        print(run(args.quick, runs=args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
