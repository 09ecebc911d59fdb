"""Where the memory of a full pass goes: each process of the tree, each kind of mapping.

    python -m bench.memory_pass [--outlets 50] [--runs 1] [--interval 0.2]
                                [--env NAME=VALUE …] [--json OUT.json]

Serves the generated news web (`bench.newsweb`, as bench_pass does), runs `tidings run
--json` into an empty store and reads `/proc/PID/smaps` of every process of its tree every
`--interval` seconds. Each mapping is put in one kind:

- `db`: the store's files mapped by SQLite (`tidings.db` through `PRAGMA mmap_size`, its
  `-shm` WAL index);
- `weights`: the embedding model's `.npy` files (mmapped, shared between processes: PSS
  divides each page among the processes that map it);
- `libs`: shared libraries (`.so`) and the interpreter binary;
- `heap`: the main malloc arena (`[heap]`, brk);
- `arenas`: anonymous mappings inside 64 MB-aligned regions that are glibc's per-thread
  malloc arenas (a thread arena is a 64 MB reservation, committed as it grows);
- `anon`: other anonymous memory (Python's obmalloc arenas, mmapped large blocks, numpy
  arrays, thread stacks);
- `other`: any other file.

With `--trace N`, tidings' own process runs under `tracemalloc` (N frames; its workers
do not): when the pass records its end (`Store.finish_run`, everything of the pass still
alive) the largest Python allocations are printed, by the line that made them. Slower:
for finding what the parent holds, not for figures.

Printed: the tree's peak PSS and, at that sample, each process's PSS by kind; each
process's own peak; and the sum by kind over the pass. Nothing here is a target: it says
what the target of bench_pass (tree PSS) is made of.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_pass import CLEAN_ENV, tidings_cmd, write_config
from bench.smaps import KINDS, MB, read_smaps, role


def traced_run(config: Path, frames: int, top: int = 25) -> int:
    """`tidings run --json --config CONFIG` in this process under tracemalloc; the largest
    allocations alive as the pass records its end, to stderr."""
    import tracemalloc

    from pipeline import cli
    from pipeline.store import Store

    finish = Store.finish_run

    def finish_and_trace(self: Store, *args: Any, **kwargs: Any) -> Any:
        snapshot = tracemalloc.take_snapshot()
        stats = snapshot.statistics("traceback")
        sys.stderr.write(f"traced: {sum(s.size for s in stats) / MB:.1f} MB alive\n")
        for stat in stats[:top]:
            frames_ = [f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}"
                       for f in stat.traceback][::-1]
            sys.stderr.write(f"{stat.size / MB:7.1f} MB {stat.count:8d}  "
                             f"{' < '.join(frames_[:4])}\n")
        return finish(self, *args, **kwargs)

    Store.finish_run = finish_and_trace  # type: ignore[method-assign]
    tracemalloc.start(frames)
    try:
        cli.cli(["run", "--json", "--config", str(config)], prog_name="tidings")
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def sample_pass(config: Path, interval: float, env: dict[str, str],
                trace: int = 0) -> dict[str, Any]:
    import psutil

    cmd = tidings_cmd("run", "--json", "--config", str(config))
    if trace:
        cmd = [sys.executable, "-m", "bench.memory_pass", "--traced-run", str(config),
               "--trace", str(trace)]
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **CLEAN_ENV, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    samples: list[dict[str, Any]] = []
    roles: dict[int, str] = {}
    while proc.poll() is None:
        t = time.perf_counter() - started
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        one: dict[str, Any] = {"t": t, "procs": {}}
        for p in tree:
            try:
                if p.pid not in roles:
                    roles[p.pid] = role(p.cmdline())
                threads = p.num_threads()
            except psutil.Error:
                continue
            smaps = read_smaps(p.pid)
            if smaps is not None:
                smaps["_"]["threads"] = threads
                one["procs"][p.pid] = smaps
        samples.append(one)
        time.sleep(interval)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"tidings run failed ({proc.returncode}): {err[-2000:]}")
    if trace:
        sys.stdout.write("".join(line + "\n" for line in err.splitlines()
                                 if line.startswith(("traced:", " "))))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    report = json.loads(out.strip().splitlines()[-1])
    return {"samples": samples, "roles": {str(k): v for k, v in roles.items()},
            "wall": time.perf_counter() - started, "cpu": cpu, "report": report}


def total(one: dict[str, Any]) -> int:
    return sum(sum(k["pss"] for n, k in smaps.items() if n != "_")
               for smaps in one["procs"].values())


def summary(result: dict[str, Any]) -> str:
    samples, roles = result["samples"], result["roles"]
    peak = max(samples, key=total)
    lines = [(f"pass: {result['wall']:.1f} s wall, {result['cpu']:.1f} s CPU (the tree, "
              f"sampling excluded), {len(samples)} samples, "
              f"{result['report']['new_articles']} new articles"),
             f"tree PSS peak {total(peak) / MB:.0f} MB at {peak['t']:.1f} s"]
    header = f"  {'process':<22}" + "".join(f"{k:>9}" for k in KINDS) + \
        f"{'total':>9}{'thr':>5}{'arenas':>7}"
    lines.append(header)
    for pid, smaps in peak["procs"].items():
        row = f"  {roles.get(str(pid), '?') + ' ' + str(pid):<22}"
        row += "".join(f"{smaps[k]['pss'] / MB:9.1f}" for k in KINDS)
        row += f"{sum(smaps[k]['pss'] for k in KINDS) / MB:9.1f}"
        row += f"{smaps['_']['threads']:>5}{smaps['_']['arenas']:>7}"
        lines.append(row)
    lines.append("each process's own peak PSS (MB), and its RSS then:")
    peaks: dict[str, tuple[float, int, int]] = {}
    for one in samples:
        for pid, smaps in one["procs"].items():
            pss = sum(smaps[k]["pss"] for k in KINDS)
            rss = sum(smaps[k]["rss"] for k in KINDS)
            if pss > peaks.get(pid, (0, 0, 0))[1]:
                peaks[pid] = (one["t"], pss, rss)
    for pid, (t, pss, rss) in peaks.items():
        lines.append(f"  {roles.get(str(pid), '?') + ' ' + str(pid):<22} {pss / MB:7.1f} "
                     f"(RSS {rss / MB:.1f}) at {t:.1f} s")
    lines.append("tree PSS over time (MB, every ~10th sample): " + ", ".join(
        f"{s['t']:.0f}s {total(s) / MB:.0f}" for s in samples[::max(1, len(samples) // 20)]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench.newsweb import WebProcess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--outlets", type=int, default=50)
    parser.add_argument("--per-outlet", type=int, default=40)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE for tidings' environment (e.g. MALLOC_ARENA_MAX=2)")
    parser.add_argument("--json", type=Path, help="write every sample here")
    parser.add_argument("--trace", type=int, default=0, metavar="FRAMES",
                        help="run tidings' process under tracemalloc")
    parser.add_argument("--traced-run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.traced_run:
        return traced_run(args.traced_run, args.trace or 1)
    env = dict(e.split("=", 1) for e in args.env)
    results = []
    with tempfile.TemporaryDirectory(prefix="tidings-memory-pass-") as tmp, \
            WebProcess(args.outlets, args.per_outlet) as web:
        local = web.local_copy()
        for i in range(args.runs):
            store = Path(tmp) / f"run{i}"
            store.mkdir()
            result = sample_pass(write_config(store, local), args.interval, env, args.trace)
            print(f"--- run {i + 1}" + (f" ({' '.join(args.env)})" if env else ""))
            print(summary(result), flush=True)
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
