"""What a person sees in the terminal: consoles, tables, progress, the graceful stop.

Every string a page, feed or server controls (headlines, URLs, error texts) is shown as
plain text (`rich.text.Text`), never parsed as rich markup: a headline holding ``[/]``
cannot crash a table and ``[link=…]`` cannot become a terminal hyperlink.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .config import SourceConfig
from .models import PassReport, SourceState, StoryRow
from .packages import PackageInfo

# Piped output (cron mail, files, grep) gets long lines instead of folded table cells.
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
out_console = Console(width=None if sys.stdout.isatty() else 200)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: object, style: str = "") -> Text:
    """`text` as it is: no markup, no highlighting, and no control characters (a page's
    escape sequence could otherwise rewrite the terminal)."""
    return Text(_CONTROL.sub("\ufffd", str(text)), style=style)


def fail(message: str, code: int) -> NoReturn:
    """One unwrapped line on stderr, so cron mail and grep see the whole message."""
    err_console.print(Text("tidings: error: ", style="bold red") + plain(message),
                      highlight=False, soft_wrap=True)
    sys.exit(code)


class RichProgress:
    """A long job's progress on a terminal (the runner's and the translator's Progress)."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.task = progress.add_task(label, total=0)

    def add_total(self, n: int) -> None:
        task = self.progress.tasks[0]
        self.progress.update(self.task, total=(task.total or 0) + n)

    def advance(self, description: str) -> None:
        self.progress.update(self.task, advance=1, description=Text(description).plain)


@contextmanager
def progress(label: str, enabled: bool) -> Iterator[RichProgress | None]:
    """A progress bar on stderr when it is a terminal and `enabled`; else None."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    with Progress(TextColumn("{task.description:<14}", markup=False), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True) as bar:
        yield RichProgress(bar, label)


@contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT set the event: the article in hand is finished, then we stop."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        logging.getLogger("tidings").warning("%s received: finishing the article in hand",
                                             signal.Signals(signum).name)
        stop.set()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def print_report(report: PassReport, store_path: object) -> None:
    """The summary of one `tidings run`, errors on stderr."""
    out_console.print(
        f"{report.sources} sources · {report.fetched} fetched · "
        f"[bold]{report.new_articles}[/] new articles · {report.duplicates} duplicates · "
        f"{report.new_stories} new stories · [bold red]{report.flagged}[/] flagged · "
        f"{report.translated} translated · {report.pending_translation} pending translation",
        highlight=False)
    for skipped in report.skipped:
        err_console.print(Text("  ") + plain(skipped.source, "yellow")
                          + plain(f" skipped: {skipped.reason} until {skipped.until}"),
                          highlight=False, soft_wrap=True)
    for error in report.errors[:20]:
        err_console.print(Text("  ") + plain(error.source, "yellow")
                          + plain(f" {error.url}: {error.error}"),
                          highlight=False, soft_wrap=True)
    if len(report.errors) > 20:
        err_console.print(f"  … and {len(report.errors) - 20} more (see the fetches table)")
    out_console.print(plain(f"store: {store_path}"), highlight=False)


def print_stories(rows: list[StoryRow], console: Console = out_console) -> None:
    """Stories as a table: id, flag, first seen, articles, languages, entities, headline."""
    if not rows:
        console.print("no stories")
        return
    table = Table(show_lines=False, header_style="bold")
    table.add_column("id", justify="right")
    table.add_column("", width=1)
    table.add_column("first seen")
    table.add_column("arts", justify="right")
    table.add_column("langs")
    table.add_column("entities")
    table.add_column("headline", overflow="fold")
    for row in rows:
        table.add_row(str(row.id), "★" if row.flagged else "",
                      _short_time(row.first_seen), str(row.article_count),
                      plain(",".join(row.languages)), plain(", ".join(row.entities)),
                      plain(row.title_en))
    console.print(table)


def print_packages(packages: list[PackageInfo]) -> None:
    table = Table(header_style="bold")
    for col in ("package", "from", "to", "version", "size", "path"):
        table.add_column(col)
    for p in packages:
        table.add_row(p.name, p.from_code, p.to_code, p.version,
                      f"{p.size_bytes / 1e6:.1f} MB", plain(p.path))
    out_console.print(table)


def print_sources(rows: list[SourceState], sources: tuple[SourceConfig, ...]) -> None:
    """Each source's health, as `tidings sources` shows it."""
    table = Table(header_style="bold")
    for col in ("source", "kind", "every", "last success", "last error", "next due",
                "articles", "failures"):
        table.add_column(col, overflow="fold")
    by_name = {s.name: s for s in sources}
    for row in rows:
        source = by_name[row.name]
        error = f"{_short_time(row.last_error_at)} {row.last_error}" if row.last_error else ""
        failures = row.consecutive_failures
        table.add_row(plain(row.name), source.kind, short_interval(source.every),
                      _short_time(row.last_success_at) or "never", plain(error),
                      _short_time(row.next_due_at) or "now", str(row.articles),
                      plain(str(failures), "red" if failures else ""))
    out_console.print(table)


def _short_time(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


def short_interval(delta: timedelta) -> str:
    """30m, 2h, 1d: an interval as the configuration writes it."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
