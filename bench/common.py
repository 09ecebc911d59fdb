"""Helpers shared by the benchmark modules: the machine line, medians, markdown tables,
timing and peak-RSS measurement of subprocesses.

Import as `from bench.common import …` (the harness puts the repository root on sys.path)
or, from a module run as a script, after `sys.path.insert(0, str(ROOT))`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


# ------------------------------------------------------------------------ the machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().total)
    except ImportError:
        return 0


def os_name() -> str:
    try:
        fields = dict(line.split("=", 1) for line in
                      Path("/etc/os-release").read_text().splitlines() if "=" in line)
        pretty = fields.get("PRETTY_NAME", "").strip('"')
        if pretty:
            return f"{pretty}, Linux {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=False,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, check=False, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev or "no commit") + (" + uncommitted changes" if dirty else "")


def machine_line() -> str:
    """One line that says what the figures were measured on."""
    return (f"{cpu_model()} · {cores()} cores · {ram_bytes() / 2**30:.1f} GiB RAM · "
            f"Python {platform.python_version()} · {os_name()}")


# ------------------------------------------------------------------------ numbers


def median(values: Iterable[float]) -> float:
    items = [v for v in values if v is not None]
    return statistics.median(items) if items else float("nan")


def spread(values: Sequence[float]) -> str:
    """`min–max` of the runs, for the table's footnote."""
    if not values:
        return "–"
    if len(values) == 1:
        return "1 run"
    return f"{min(values):.2f}–{max(values):.2f} over {len(values)} runs"


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MB"


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          align: str | None = None) -> str:
    """A GitHub markdown table; `align` is one letter per column (l, r, c)."""
    align = align or ("l" + "r" * (len(headers) - 1))
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join(marks[a] for a in align) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def reproduce(command: str) -> str:
    return f"How to reproduce: `{command}`"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


# ------------------------------------------------------------------------ measuring


@dataclass
class Measured:
    """A finished subprocess: its exit code, output, wall time and peak RSS (bytes)."""

    returncode: int
    stdout: str
    stderr: str
    wall: float
    peak_rss: int  # the process tree's largest sum of RSS, sampled
    maxrss: int  # the child's own peak RSS: its VmHWM, the kernel's high-water mark
    cpu: float = 0.0  # user + system CPU seconds of the child (and children it waited for)
    timed_out: bool = False
    peak_pss: int = 0  # the tree's largest sum of PSS (shared pages counted once), sampled
    extra: dict[str, Any] = field(default_factory=dict)
    # With tree=True: CPU of every process of the tree, orphans included (bench/treetime.py).
    user: float = 0.0
    sys: float = 0.0
    max_procs: int = 0  # most processes alive in the tree at one sample
    pids: dict[int, ProcSeen] = field(default_factory=dict)  # every process sampled

    @property
    def busy_procs(self) -> int:
        """Processes of the tree that burnt at least 0.3 s of CPU: the ones doing work."""
        return sum(1 for p in self.pids.values() if p.cpu >= 0.3)


@dataclass
class ProcSeen:
    """A process of a measured tree, as last sampled."""

    name: str
    cmdline: str
    cpu: float = 0.0  # its own user + system seconds at the last sample


def _hwm(pid: int) -> int:
    """VmHWM (peak RSS since exec) of a live process, in bytes; 0 if unreadable.

    Not `ru_maxrss` from wait4: on Linux the child's ru_maxrss includes the parent's RSS at
    fork time (exec records the old mm's high-water mark), so a benchmark that holds
    200 MB of pages would see every child it starts at 200 MB or more."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree(proc: Any, skip_root: bool) -> list[Any]:
    try:
        return ([] if skip_root else [proc]) + proc.children(recursive=True)
    except Exception:  # noqa: BLE001 - the process may have exited
        return []


def _sample_procs(procs: list[Any], seen: dict[int, ProcSeen]) -> None:
    for one in procs:
        try:
            times = one.cpu_times()
            entry = seen.get(one.pid)
            if entry is None:
                entry = seen[one.pid] = ProcSeen(one.name(), " ".join(one.cmdline())[:200])
            entry.cpu = max(entry.cpu, times.user + times.system)
        except Exception:  # noqa: BLE001, S110 - a process may exit while we read it
            pass


def _sum_memory(procs: list[Any], read: Callable[[Any], int]) -> int:
    """`read(process)` summed over `procs` (RSS, PSS); a process that exits meanwhile
    counts 0."""
    total = 0
    for one in procs:
        try:
            total += read(one)
        except Exception:  # noqa: BLE001, S110 - a process may exit while we read it
            pass
    return total


def _rss(process: Any) -> int:
    return int(process.memory_info().rss)


def _pss(process: Any) -> int:
    return int(process.memory_full_info().pss)


def run_measured(cmd: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None
                 = None, timeout: float | None = None, poll: float = 0.05,
                 stdin: Any = subprocess.DEVNULL, echo: bool = False, tree: bool = False,
                 on_poll: Any = None) -> Measured:
    """Run `cmd`, wait for it, and measure wall time and peak RSS.

    Peak RSS comes two ways: psutil samples the process tree every `poll` seconds (the
    sum over the tree), and the child's own high-water mark (VmHWM, which misses nothing
    between samples) is read at every poll; CPU time comes from `os.wait4`.
    With `echo`, the child's stdout is also copied to ours as it comes (progress lines).

    With `tree`, the command runs under `bench/treetime.py`: CPU time is then that of
    every process of its tree (orphans included), wall time is the command's own, and the
    sampled figures (PSS, RSS, processes) leave the small wrapper out. `on_poll(measured
    so far, pid)` is called at every poll (the daemon check uses it to stop the daemon).
    """
    result_file = None
    if tree:
        import tempfile
        fd, name = tempfile.mkstemp(prefix="tidings-treetime-", suffix=".json")
        os.close(fd)
        result_file = Path(name)
        cmd = [PYTHON, "-m", "bench.treetime", str(result_file), "--", *cmd]
        env = {**(env or {}), "PYTHONPATH": str(ROOT) + os.pathsep
               + (env or {}).get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))}
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is in the bench extra
        psutil = None  # type: ignore[assignment]
    full_env = dict(os.environ)
    full_env.update(env or {})
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd or ROOT, env=full_env, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []

    def drain(stream: Any, into: list[bytes], copy: bool) -> None:
        for chunk in iter(stream.readline if copy else lambda: stream.read(65536), b""):
            into.append(chunk)
            if copy:
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()

    readers = [threading.Thread(target=drain, args=(proc.stdout, out_chunks, echo), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, err_chunks, False),
                                daemon=True)]
    for reader in readers:
        reader.start()
    ps = psutil.Process(proc.pid) if psutil else None
    seen: dict[int, ProcSeen] = {}
    max_procs = 0
    peak = 0
    pss = 0
    polls = 0
    hwm = 0
    timed_out = False
    rusage = None
    status = 0
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if not tree:
            hwm = max(hwm, _hwm(proc.pid))
        if ps is not None:
            procs = _tree(ps, skip_root=tree)
            max_procs = max(max_procs, len(procs))
            peak = max(peak, _sum_memory(procs, _rss))
            _sample_procs(procs, seen)
            if polls % 4 == 0:  # PSS reads smaps_rollup: a little dearer, every 4th poll
                pss = max(pss, _sum_memory(procs, _pss))
            polls += 1
        if on_poll is not None:
            on_poll(Measured(returncode=0, stdout="", stderr="", wall=time.perf_counter()
                             - started, peak_rss=peak, maxrss=hwm, pids=seen,
                             max_procs=max_procs), proc.pid)
        if timeout is not None and time.perf_counter() - started > timeout:
            timed_out = True
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            _, status, rusage = os.wait4(proc.pid, 0)
            break
        time.sleep(poll)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=5)
    maxrss = hwm
    cpu = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0
    user = system = 0.0
    if result_file is not None:
        try:
            data = json.loads(result_file.read_text("utf-8") or "{}")
        except (OSError, ValueError):
            data = {}
        finally:
            result_file.unlink(missing_ok=True)
        if data.get("wall") is not None:
            wall = float(data["wall"])
            proc.returncode = int(data["returncode"])
        user, system = float(data.get("user", 0.0)), float(data.get("sys", 0.0))
        cpu = user + system
    return Measured(returncode=proc.returncode, stdout=b"".join(out_chunks).decode(
        "utf-8", "replace"), stderr=b"".join(err_chunks).decode("utf-8", "replace"),
        wall=wall, peak_rss=max(peak, maxrss), maxrss=maxrss, cpu=cpu, timed_out=timed_out,
        peak_pss=pss, user=user, sys=system, max_procs=max_procs, pids=seen)


def self_maxrss() -> int:
    """This process's peak RSS in bytes (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def python_cmd(*args: str) -> list[str]:
    return [PYTHON, *args]


# ------------------------------------------------------------------------ two runs


TOLERANCE = 0.10  # two runs reproduce when the larger is at most 10% above the smaller


def reproduced(values: Sequence[float], tolerance: float = TOLERANCE) -> bool | None:
    """True when the runs agree within `tolerance`; None with a single run."""
    items = [v for v in values if v is not None and not math.isnan(v)]
    if len(items) < 2:
        return None
    low, high = min(items), max(items)
    if low <= 0:
        return high == low
    return high / low - 1 <= tolerance


def figure(values: Sequence[float], unit: str = "", digits: int = 2,
           tolerance: float = TOLERANCE) -> str:
    """A figure from repeated runs: `2.41× (2.38×, 2.44×)` when they agree (the mean,
    then each run), `**did not reproduce** (2.1×, 2.9×)` when they do not, and
    `2.41× (one run)` in quick mode."""
    def one(v: float) -> str:
        return f"{v:,.{digits}f}{unit}"
    ok = reproduced(values, tolerance)
    runs = ", ".join(one(v) for v in values)
    if ok is None:
        return f"{one(values[0])} (one run)" if values else "–"
    if ok:
        return f"{one(sum(values) / len(values))} ({runs})"
    return f"**did not reproduce** ({runs})"


def target_verdict(values: Sequence[float], ok: Any) -> str:
    """met / missed when every run says so, else `unclear` (docs/benchmarking.md, rule 5):
    two runs of 0.07 and 0.08 s against a 0.35 s target do not reproduce as a figure, but
    both meet the target."""
    hits = [bool(ok(v)) for v in values]
    if hits and len(set(hits)) > 1:
        return "unclear (the runs disagree)"
    return verdict(all(hits))
