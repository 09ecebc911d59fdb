"""One writer at a time: an advisory lock file in `state/`.

`flock` is released by the kernel when its holder dies, so a lock left by a killed
process is simply taken over; the file's text says who holds it, for the message the
second process prints. The daemon's jobs take the lock *shared*: they run side by side
(each source's pass touches only its own links), while a `tidings run` or `translate`
from cron, which takes it exclusively, waits its turn (and says who holds it).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from .errors import LockHeld

log = logging.getLogger("tidings.lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PassLock:
    def __init__(self, path: Path, command: str, *, shared: bool = False) -> None:
        self.path = path
        self.command = command
        self.shared = shared
        self._fd: int | None = None

    def holder(self) -> str:
        for path in (self.path, self.path.with_name("daemon.lock")):  # shared: the daemon
            try:
                text = path.read_text("utf-8").strip()
            except OSError:
                continue
            if text:
                return text
        return "unknown holder"

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(str(self.path), self.holder()) from None
        if self.shared:  # several holders: the text stays the daemon's (daemon.lock)
            self._fd = fd
            return
        previous = os.read(fd, 4096).decode("utf-8", "replace").strip()
        if previous:
            pid = previous.split()[0].removeprefix("pid=")
            if pid.isdigit() and not _alive(int(pid)):
                log.warning("taking over the lock left by dead process %s (%s)", pid, previous)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
        os.write(fd, f"pid={os.getpid()} host={socket.gethostname()} command={self.command!r} "
                     f"since={stamp}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            if not self.shared:
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
