"""A process's memory by kind of mapping, read from /proc/PID/smaps (Linux).

The kinds: heap = the main malloc arena, arenas = glibc's per-thread arenas, anon = other
anonymous memory (Python's object arenas, numpy, large blocks), weights = files of the
embedding's cache mapped as `.npy` (0 since the model runs in ONNX Runtime, which reads
its graph into anonymous memory, and the token table is read row by row), db = the
store's file mapped by SQLite, libs = shared libraries. Used by `bench/memory_pass.py`
(over a pass) and `bench/bench_pass.py` (at the peak).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

KINDS = ("heap", "arenas", "anon", "weights", "db", "libs", "other")
ARENA = 64 * 2**20  # glibc's HEAP_MAX_SIZE on 64-bit: a thread arena's reservation
MB = 2**20


def _kind(path: str, start: int, end: int, arena_regions: set[int]) -> str:
    if path == "[heap]":
        return "heap"
    if not path or path.startswith("["):  # anonymous, [stack], [anon:…], [vvar] …
        if path in ("", "[anon]") and (start // ARENA) in arena_regions:
            return "arenas"
        return "anon"
    if path.endswith(".npy"):
        return "weights"
    if "tidings.db" in path:
        return "db"
    if ".so" in path or "/python" in path:
        return "libs"
    return "other"


def read_smaps(pid: int) -> dict[str, dict[str, int]] | None:
    """{kind: {"pss": bytes, "rss": bytes, "private": bytes}} of one process, or None."""
    try:
        text = Path(f"/proc/{pid}/smaps").read_text("utf-8", "replace")
    except OSError:
        return None
    maps: list[tuple[int, int, str, dict[str, int]]] = []
    current: dict[str, int] | None = None
    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            parts = rest.split(None, 4)
            path = parts[4].strip() if len(parts) > 4 else ""
            current = {}
            maps.append((lo, hi, path, current))
        elif current is not None and head in ("Pss:", "Rss:", "Private_Clean:",
                                              "Private_Dirty:"):
            current[head[:-1]] = int(rest.split()[0]) * 1024
    # a glibc thread arena: an anonymous 64 MB-aligned start whose region is exactly the
    # reservation (the rw part and its ---p remainder add up to 64 MB)
    size_at: dict[int, int] = defaultdict(int)
    for lo, hi, path, _ in maps:
        if path == "" and lo % ARENA == 0 or path == "" and (lo // ARENA) in size_at:
            size_at[lo // ARENA] += hi - lo
    arena_regions = {r for r, size in size_at.items() if size == ARENA}
    out: dict[str, dict[str, int]] = {k: {"pss": 0, "rss": 0, "private": 0} for k in KINDS}
    for lo, hi, path, fields in maps:
        kind = out[_kind(path, lo, hi, arena_regions)]
        kind["pss"] += fields.get("Pss", 0)
        kind["rss"] += fields.get("Rss", 0)
        kind["private"] += fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    out["_"] = {"arenas": len(arena_regions), "maps": len(maps)}
    return out


def role(cmdline: list[str]) -> str:
    joined = " ".join(cmdline)
    if "resource_tracker" in joined:
        return "resource tracker"
    if "spawn_main" in joined:
        return "worker"
    if "pipeline" in joined or "tidings" in joined:
        return "parent"
    return joined[:40]
