"""Run a command; report the CPU time of its whole process tree, orphans included.

    python -m bench.treetime OUT.json -- COMMAND [ARG …]

`os.wait4` on a process gives its CPU time plus that of the descendants it waited for; a
descendant whose parent exits first (multiprocessing's resource tracker, for one) is
reparented to init and its CPU time is lost. This wrapper makes itself a child subreaper
(Linux `PR_SET_CHILD_SUBREAPER`), so such orphans are reparented to it instead; it reaps
every descendant and writes, to OUT.json:

    {"returncode": …, "wall": …, "user": …, "sys": …, "reaped": …}

`user`/`sys` are `getrusage(RUSAGE_CHILDREN)`: the tree's, nothing of the wrapper itself.
`wall` runs from starting COMMAND to its exit (orphans still running after it do not
count). SIGTERM and SIGINT are passed on to COMMAND. stdin, stdout and stderr are
COMMAND's.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write(__doc__ or "")
        return 2
    out, cmd = Path(argv[0]), argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    started = time.perf_counter()
    child = subprocess.Popen(cmd)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    wall = None
    returncode = None
    reaped = 0
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue
        reaped += 1
        if pid == child.pid:
            wall = time.perf_counter() - started
            returncode = os.waitstatus_to_exitcode(status)
            child.returncode = returncode
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out.write_text(json.dumps({"returncode": returncode, "wall": wall, "user": usage.ru_utime,
                               "sys": usage.ru_stime, "reaped": reaped,
                               "subreaper": subreaper}), "utf-8")
    return returncode if returncode is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
