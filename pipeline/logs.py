"""Log lines: one line per event with level, source and URL, on stderr; JSON on request.

`tidings run` and the daemon add a rotating file in `state/` (see `add_file`).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

_FIELDS = ("source", "url")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # a page's escape sequences


class LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%d %H:%M:%S")
        extra = " ".join(f"{k}={getattr(record, k)}" for k in _FIELDS
                         if getattr(record, k, None))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extra:
            line += f" [{extra}]"
        line = _CONTROL.sub("\ufffd", line)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        for key in _FIELDS:
            if getattr(record, key, None):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup(*, verbose: int = 0, json_logs: bool = False) -> None:
    """stderr handler: warnings by default, -v info, -vv debug."""
    root = logging.getLogger("tidings")
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root.setLevel(min(level, root.level) if root.handlers else level)
    for handler in list(root.handlers):
        if getattr(handler, "_tidings_stderr", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._tidings_stderr = True  # type: ignore[attr-defined]
    handler.setLevel(level)
    handler.setFormatter(JSONFormatter() if json_logs else LineFormatter())
    root.addHandler(handler)
    root.propagate = False


def add_file(path: Path, *, json_logs: bool = False, max_bytes: int = 5_000_000,
             backups: int = 5) -> None:
    """A rotating log file (info and above), for unattended runs."""
    import logging.handlers  # here: it pulls socket, pickle and queue (~9 ms)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("tidings")
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes,
                                                   backupCount=backups, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(JSONFormatter() if json_logs else LineFormatter())
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO))
