"""Run N copies of a command at once, each on its shard, and wait for all of them.

    python -m bench.fanout N -- COMMAND [ARG …]    # in each ARG, "{i}" becomes I, "{n}" N

The benchmark's references (raw work, the minimal pipeline) run with as many processes
as tidings uses when their wall time is compared with tidings' (bench_pass). Exits with
the first non-zero exit code of the copies, else 0.
"""

from __future__ import annotations

import subprocess
import sys


def shard_args(cmd: list[str], i: int, n: int) -> list[str]:
    return [a.replace("{i}", str(i)).replace("{n}", str(n)) for a in cmd]


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write(__doc__ or "")
        return 2
    n, cmd = int(argv[0]), argv[2:]
    procs = [subprocess.Popen(shard_args(cmd, i, n)) for i in range(n)]
    codes = [p.wait() for p in procs]
    return next((c for c in codes if c), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
