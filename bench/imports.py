"""What a tidings command imports, and who imports it: `python -X importtime`, summarised.

    python -m bench.imports -- -m pipeline --help          # 5 runs, the fastest of each row
    python -m bench.imports --runs 7 -- -c "import pipeline.cli"

Each row is a package (its top-level name) and the tidings module whose import statement
first brought it in — the nearest `pipeline.*` module above it in the import tree, or
"(at run time)" for an import made by a function call after start-up (httpx's transport
stack, for example). The figure is the package's cumulative import time (its own
dependencies included, if it was first to need them), the minimum over the runs: the
machine is shared, and imports only ever get slower under load. `pipeline.X (own)` rows
are tidings' module bodies themselves.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def parse(stderr: str) -> tuple[Counter[tuple[str, str]], float]:
    """{(importer, package): microseconds} from one run's `-X importtime` output, and the
    run's total import time in microseconds."""
    rows = []
    for line in stderr.splitlines():
        m = _LINE.match(line)
        if m:
            rows.append((int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
    # importtime prints a module after everything it imported, one indent level deeper.
    parent: list[int | None] = [None] * len(rows)
    waiting: dict[int, list[int]] = {}
    for i, (_, _, depth, _) in enumerate(rows):
        for j in waiting.pop(depth + 1, []):
            parent[j] = i
        waiting.setdefault(depth, []).append(i)
    out: Counter[tuple[str, str]] = Counter()
    for i, (own, cumulative, _, name) in enumerate(rows):
        if name == "pipeline" or name.startswith("pipeline."):
            out[(name, "(own)")] += own
            continue
        up = parent[i]
        if up is None:
            out[("(at run time)" if name.split(".")[0] not in _STARTUP else "(interpreter)",
                 name.split(".")[0])] += cumulative
        elif rows[up][3].startswith("pipeline"):
            out[(rows[up][3], name.split(".")[0])] += cumulative
    total = float(sum(cumulative for _, cumulative, depth, _ in rows if depth == 0))
    return out, total


# Imported by the interpreter before any tidings code runs (site, encodings, the runpy
# machinery of `-m`): not tidings' choice.
_STARTUP = {"site", "encodings", "_frozen_importlib_external", "zipimport", "codecs", "io",
            "abc", "os", "stat", "posixpath", "genericpath", "_collections_abc", "_sitebuiltins",
            "runpy", "importlib", "pkgutil", "__editable___tidings_0_1_0_finder", "types",
            "_distutils_hack", "warnings", "enum", "functools", "operator", "keyword",
            "reprlib", "collections", "heapq", "itertools", "_virtualenv"}


def profile(args: list[str], *, runs: int = 5, env: dict[str, str] | None = None,
            cwd: Path = ROOT) -> tuple[dict[tuple[str, str], float], list[float]]:
    """Run `python -X importtime ARGS` `runs` times: the minimum per row (seconds), and
    each run's total import time (seconds)."""
    best: dict[tuple[str, str], float] = {}
    totals: list[float] = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        rows, total = parse(done.stderr)
        totals.append(total / 1e6)
        for key, us in rows.items():
            best[key] = min(best.get(key, float("inf")), us / 1e6)
    return best, totals


def top_rows(best: dict[tuple[str, str], float], n: int = 20,
             min_ms: float = 2.0) -> list[tuple[str, str, float]]:
    rows = [(importer, pkg, s) for (importer, pkg), s in best.items() if s * 1000 >= min_ms]
    rows.sort(key=lambda r: -r[2])
    return rows[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="arguments for python after `--`")
    ns = parser.parse_args(argv)
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    best, totals = profile(args, runs=ns.runs)
    print(f"total import time per run: {', '.join(f'{t * 1000:.0f}' for t in totals)} ms")
    for importer, pkg, s in top_rows(best, ns.top):
        print(f"{s * 1000:7.1f} ms  {importer:24s} -> {pkg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
