"""Run tidings' benchmarks and write docs/benchmarks.md.

    python bench/run.py                 # every bench/bench_*.py module (make bench)
    python bench/run.py --quick         # smaller inputs, one run each: a smoke test
    python bench/run.py --only pass     # only bench_pass; other sections are kept as they were
    python bench/run.py --list          # the modules found

Each `bench/bench_NAME.py` module exposes `run(quick: bool = False) -> str`, returning one
markdown section. The harness runs every module in its own subprocess, so imports and peak
RSS do not leak from one to the next and one failing module does not stop the others: a
failure (exit code, timeout, exception) is recorded in the document in place of the
section. The document starts with the machine line and the date, then a summary of the
modules (status, wall time, peak RSS of the module's process tree), then the sections.
Sections are fenced by `<!-- bench:NAME -->` markers so `--only` can replace one and keep
the rest.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import git_revision, machine_line, mb, run_measured, table

BENCH_DIR = ROOT / "bench"
OUTPUT = ROOT / "docs" / "benchmarks.md"
# Modules run in this order; any other bench_*.py module follows, alphabetically.
ORDER = ("pass", "peers", "stories", "queries", "translate")
# Per-module limit, generous for a shared machine; on an idle one the whole suite stays
# under 15 minutes on 2 cores (see the summary table of benchmarks.md).
TIMEOUT = {"full": 1800.0, "quick": 300.0}
# A section states a target as a hidden line `<!-- target: measure | figure | target |
# verdict -->`, or in words as "Target: … — **met** (figure)."; the document opens with all
# of them in one table.
TARGET_MARK = re.compile(r"^<!-- target: (.+?) -->$", re.MULTILINE)
TARGET_WORDS = re.compile(r"^Target: (?P<what>.+?) — "
                          r"(?P<verdict>\*\*\w+\*\*|unclear(?: \(the runs disagree\))?) "
                          r"\((?P<figure>.+)\)\.$", re.MULTILINE)
MARK = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)\n<!-- /bench:(?P=name) -->",
                  re.DOTALL)


def discover() -> list[str]:
    """Names (`pass` for bench_pass.py) of every benchmark module, in running order."""
    found = sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))
    ordered = [n for n in ORDER if n in found]
    return ordered + [n for n in found if n not in ordered]


# ------------------------------------------------------------------------ the child side


def child(name: str, quick: bool, out: Path) -> int:
    """Import bench_NAME, call run(quick) and write the section (or the failure) to `out`."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.bench_{name}")
        section = module.run(quick=quick)
        if not isinstance(section, str):
            raise TypeError(f"run() returned {type(section).__name__}, not a markdown str")
        result = {"ok": True, "section": section}
    except BaseException as exc:  # noqa: BLE001 - everything is recorded, nothing escapes
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
    result["seconds"] = time.perf_counter() - started
    out.write_text(json.dumps(result), "utf-8")
    return 0 if result["ok"] else 1


# ------------------------------------------------------------------------ the parent side


def run_module(name: str, quick: bool, timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"tidings-bench-{name}-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name,
               "--result", str(out)] + (["--quick"] if quick else [])
        print(f"[bench] {name}: running{' (quick)' if quick else ''} …", flush=True)
        measured = run_measured(cmd, cwd=ROOT, timeout=timeout, poll=0.2, echo=True)
        result: dict[str, object] = {}
        if out.exists():
            try:
                result = json.loads(out.read_text("utf-8"))
            except ValueError:
                result = {}
    result.update(name=name, wall=measured.wall, peak_rss=measured.peak_rss,
                  returncode=measured.returncode)
    if measured.timed_out:
        result.update(ok=False, error=f"timed out after {timeout:.0f} s (killed)")
    elif not result:
        tail = "\n".join(measured.stderr.strip().splitlines()[-15:])
        result.update(ok=False, error=f"the module's process exited with code "
                      f"{measured.returncode} before writing a result", traceback=tail)
    if not result.get("ok"):
        tail = "\n".join(measured.stderr.strip().splitlines()[-30:])
        result.setdefault("traceback", tail)
        result["stderr"] = tail
    state = "ok" if result.get("ok") else f"FAILED: {result.get('error')}"
    print(f"[bench] {name}: {state} ({measured.wall:.1f} s, peak RSS {mb(measured.peak_rss)})",
          flush=True)
    if not result.get("ok") and measured.stderr.strip():
        sys.stderr.write(measured.stderr[-4000:])
    return result


def failure_section(result: dict[str, object]) -> str:
    name = result["name"]
    lines = [f"## bench_{name}: failed", "",
             (f"The module `bench/bench_{name}.py` did not produce its section in this run: "
             f"{result.get('error')}."), ""]
    detail = str(result.get("traceback") or "").strip()
    if detail:
        lines += ["```", *detail.splitlines()[-25:], "```", ""]
    lines.append(f"Run it alone to see why: `python bench/run.py --only {name}`.")
    return "\n".join(lines)


def previous_sections(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {m["name"]: m["body"] for m in MARK.finditer(path.read_text("utf-8"))}


def previous_summary(path: Path) -> dict[str, list[str]]:
    """Summary rows of the previous document (kept for modules not re-run with --only)."""
    rows: dict[str, list[str]] = {}
    if not path.exists():
        return rows
    for line in path.read_text("utf-8").splitlines():
        m = re.match(r"\| `bench_([\w-]+)` \|(.*)\|$", line)
        if m:
            rows[m[1]] = [c.strip() for c in m[2].split("|")]
    return rows


def targets(name: str, body: str) -> list[list[str]]:
    """The targets a section states, as rows: measure, figure, target, verdict, section."""
    rows = [[*(c.strip() for c in m[1].split(" | ")), f"`bench_{name}`"]
            for m in TARGET_MARK.finditer(body)]
    rows += [[m["what"], m["figure"], "", m["verdict"].strip(), f"`bench_{name}`"]
             for m in TARGET_WORDS.finditer(body)]
    return [r for r in rows if len(r) == 5]


def write_document(path: Path, names: list[str], results: dict[str, dict[str, object]],
                   quick: bool, started: datetime, total: float,
                   load_at_start: tuple[float, float]) -> None:
    one, five = load_at_start
    load = f"{one:.2f} (1 min), {five:.2f} (5 min)"
    busy = five > 0.5 * (os.cpu_count() or 1)
    busy_note = (" — other work was running, so timings are noisier than on an idle machine: "
                 "these figures are provisional; regenerate them with `make bench` on an idle "
                 "machine before quoting them" if busy else "")
    kept = previous_sections(path)
    kept_rows = previous_summary(path)
    sections: list[str] = []
    rows: list[list[str]] = []
    goals: list[list[str]] = []
    for name in names:
        if name in results:
            r = results[name]
            body = str(r["section"]).strip() if r.get("ok") else failure_section(r)
            status = "ok" if r.get("ok") else "**failed**"
            rows.append([f"`bench_{name}`", status, f"{float(r['wall']):.1f} s",  # type: ignore[arg-type]
                         mb(float(r["peak_rss"])),  # type: ignore[arg-type]
                         "quick" if quick else "full", started.strftime("%Y-%m-%d")])
        elif name in kept:
            body = kept[name].strip()
            rows.append([f"`bench_{name}`", *kept_rows.get(name, ["kept", "–", "–", "–", "–"])])
        else:
            continue
        sections.append(f"<!-- bench:{name} -->\n{body}\n<!-- /bench:{name} -->")
        goals += targets(name, body)
    mode = ("**quick mode** (smaller inputs, single runs: a smoke test, not figures to quote)"
            if quick else "full mode")
    doc = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (python bench/run.py); do not edit by hand. -->",
        "",
        f"Machine: {machine_line()}  ",
        f"Load average when the suite started: {load}{busy_note}  ",
        f"Date: {started.strftime('%Y-%m-%d %H:%M UTC')} · tidings {git_revision()} · {mode}"
        + (f" · suite wall time {total / 60:.1f} min" if set(results) >= set(names) else
           f" · this run: {', '.join(results)} ({total / 60:.1f} min); the other sections "
           "are kept from earlier runs (see the dates)"),
        "",
        ("How the figures are made, and how to reproduce them: [benchmarking.md]"
        "(benchmarking.md). Every module runs in its own process; the summary's peak RSS is "
        "that process tree's, harness included."),
        "",
        table(["module", "status", "wall", "peak RSS", "mode", "date"], rows, "llrrll"),
        "",
        *(["## Targets", "",
           "Each as its section states it (two runs: the mean, then each run).", "",
           table(["measure", "figure", "target", "verdict", "section"], goals, "lrlll"), ""]
          if goals else []),
        "\n\n".join(sections),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(doc), "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smaller inputs and single runs (a smoke test)")
    parser.add_argument("--only", action="append", metavar="NAME", default=[],
                        help="run only bench_NAME (repeatable); other sections are kept")
    parser.add_argument("--output", type=Path, default=OUTPUT,
                        help="the document to write (default: docs/benchmarks.md)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds allowed per module (default 900, quick 300)")
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        os.chdir(ROOT)
        return child(args.child, args.quick, args.result)
    names = discover()
    if args.list:
        print("\n".join(f"bench_{n}" for n in names))
        return 0
    wanted = [n.removeprefix("bench_").removesuffix(".py") for n in args.only] or names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        parser.error(f"no module bench/bench_{unknown[0]}.py (found: {', '.join(names)})")
    timeout = args.timeout or TIMEOUT["quick" if args.quick else "full"]
    started = datetime.now(UTC)
    load = os.getloadavg()[:2] if hasattr(os, "getloadavg") else (0.0, 0.0)
    t0 = time.perf_counter()
    results = {name: run_module(name, args.quick, timeout) for name in wanted}
    total = time.perf_counter() - t0
    write_document(args.output, names, results, args.quick, started, total, load)
    failed = [n for n, r in results.items() if not r.get("ok")]
    print(f"[bench] wrote {args.output} in {total / 60:.1f} min"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
