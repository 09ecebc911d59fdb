"""What a person sees in the terminal: consoles, tables, progress, hints, the graceful stop.

Every string a page, feed or server controls (headlines, URLs, error texts) is shown as
plain text (`rich.text.Text`), never parsed as rich markup: a headline holding ``[/]``
cannot crash a table and ``[link=…]`` cannot become a terminal hyperlink.

Three promises to the person reading:

- every time is shown in `digest.timezone` and says which (`Clock`);
- every table fits the terminal, 80 columns included (`fit_table`): short columns are cut
  with an ellipsis, the headline wraps; widths are display columns (`pipeline.textwidth`:
  a Chinese character takes two);
- every hint is a command that runs when pasted (`command`): the program as it was called
  (``.venv/bin/tidings``, ``python -m pipeline``), with ``--config`` unless it is the default.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo

from .config import DEFAULT_CONFIG, Config
from .models import PassReport, SourceState, StoryRow, parse_time

if TYPE_CHECKING:  # rich (~25 ms) and wcwidth (~12 ms) load when something is shown
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    from rich.text import Text

    from .packages import PackageInfo

    err_console: Console  # built on first use, see `__getattr__`
    out_console: Console


def _width(stream: Any) -> int | None:
    """A terminal's own width, or $COLUMNS when set; piped output (cron mail, files, grep)
    gets long lines instead of folded table cells."""
    return None if stream.isatty() or os.environ.get("COLUMNS", "").isdigit() else 200


_CONSOLES: dict[str, Console] = {}


def _console(name: str) -> Console:
    """`err_console` (stderr) or `out_console` (stdout), made on first use: a command
    that prints nothing through them (`tidings run --json`) never imports rich."""
    if name not in _CONSOLES:
        from rich.console import Console
        stream = sys.stderr if name == "err_console" else sys.stdout
        _CONSOLES[name] = Console(stderr=name == "err_console", width=_width(stream))
    return _CONSOLES[name]


def __getattr__(name: str) -> Any:
    if name in ("err_console", "out_console"):
        return _console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _err() -> Console:
    return _console("err_console")


def _out() -> Console:
    return _console("out_console")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: object, style: str = "") -> Text:
    """`text` as it is: no markup, no highlighting, and no control characters (a page's
    escape sequence could otherwise rewrite the terminal)."""
    from rich.text import Text
    return Text(_CONTROL.sub("\ufffd", str(text)), style=style)


def fail(message: str, code: int) -> NoReturn:
    """One unwrapped line on stderr, so cron mail and grep see the whole message."""
    from rich.text import Text
    _err().print(Text("tidings: error: ", style="bold red") + plain(message),
                      highlight=False, soft_wrap=True)
    sys.exit(code)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 page', '2 pages', '1 story', '3 stories'."""
    return f"{n} {word if n == 1 else many or word + 's'}"


# ---------------------------------------------------------------------------- hints
def program() -> list[str]:
    """The command as the user called it, so that a hint pasted into the same shell runs:
    ``tidings`` when that is what PATH finds, else the path typed (``.venv/bin/tidings``);
    ``python -m pipeline`` with the interpreter that runs now."""
    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0 in ("-c", "-m") or Path(argv0).name == "__main__.py":
        return [_as_called(sys.executable, ("python3", "python")), "-m", "pipeline"]
    return [_as_called(argv0, ("tidings",))]


def _as_called(path: str, names: Sequence[str]) -> str:
    full = Path(path).absolute()  # not resolved: a venv's python is a symlink
    for name in names:
        found = shutil.which(name)
        if found and Path(found).absolute() == full:
            return name
    try:
        relative = str(full.relative_to(Path.cwd()))
    except ValueError:
        return str(full)
    return relative if "/" in relative else f"./{relative}"


def command(*args: str | Path, config: Config | Path | None = None) -> str:
    """A command line to paste: the program, `args`, and ``--config FILE`` unless the
    configuration is the default one."""
    path = config.path if isinstance(config, Config) else config
    words = [*program(), *(str(a) for a in args)]
    if path is not None and Path(path) != Path(DEFAULT_CONFIG):
        words += ["--config", str(path)]
    return shlex.join(words)


def translation_hints(config: Config, missing: Sequence[str]) -> list[str]:
    """How to get pending articles translated: install what is `missing`, then translate."""
    lines = []
    if missing:
        lines += [f"install (online):  {command('models', 'install', *missing, config=config)}",
                  "install (offline): "
                  + command("models", "install", "--file", "PKG.argosmodel", config=config)]
    return [*lines, f"then translate:    {command('translate', config=config)}"]


# ---------------------------------------------------------------------------- time
@dataclass(frozen=True)
class Clock:
    """Times as a person reads them: in `digest.timezone`, saying which zone."""

    zone: ZoneInfo
    now: datetime

    @classmethod
    def of(cls, config: Config, now: datetime | None = None) -> Clock:
        zone = ZoneInfo(config.digest.timezone)
        return cls(zone, (now or datetime.now(UTC)).astimezone(zone))

    def local(self, value: str | None) -> datetime | None:
        parsed = parse_time(value)
        return parsed.astimezone(self.zone) if parsed else None

    def short(self, value: str | None) -> str:
        """'Nov 28 19:22' within half a year of now, else 'Nov 28  2025' (as `ls -l`)."""
        t = self.local(value)
        if t is None:
            return ""
        return t.strftime("%b %d %H:%M" if abs(self.now - t) < timedelta(days=182)
                          else "%b %d  %Y")

    def stamp(self, value: str | None) -> str:
        """A time in a sentence, with its zone: 'Nov 29 03:00 CET' (within half a year of
        now), else 'Jan 01 2030 01:00 CET'."""
        t = self.local(value)
        if t is None:
            return ""
        recent = abs(self.now - t) < timedelta(days=182)
        return f"{t:%b %d}{'' if recent else f' {t:%Y}'} {t:%H:%M} {t.tzname()}"

    def date(self, value: str | None) -> str:
        """A publication date: 'Nov 28' within half a year of now, else 'Mar 13 2024'. A
        bare date (stored as midnight UTC) is that day, wherever the reader is."""
        parsed = parse_time(value)
        if parsed is None:
            return ""
        utc = parsed.astimezone(UTC)
        day = utc if utc.time() == datetime.min.time() else parsed.astimezone(self.zone)
        recent = abs(self.now.date() - day.date()) < timedelta(days=182)
        return day.strftime("%b %d" if recent else "%b %d %Y")

    def label(self, values: Iterable[str | None]) -> str:
        """The zone of a column of times: its abbreviation when they share one (CET),
        else its name (Europe/Rome, when a column spans summer and winter time)."""
        names = {t.tzname() or "" for t in map(self.local, values) if t is not None}
        return names.pop() if len(names) == 1 else str(self.zone.key)


# ---------------------------------------------------------------------------- tables
Cell = str | tuple[str, str]  # text, or (text, rich style)
MIN_WRAP = 24  # the wrapped column (a headline) is never narrower than this
MIN_CUT = 6  # a column cut with an ellipsis keeps at least this much


@dataclass(frozen=True)
class Column:
    header: str
    cap: int | None = None  # at most this wide; cut with an ellipsis (and shrunk to fit)
    right: bool = False
    wrap: bool = False  # the one column that takes the width left and wraps


def fit_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> Table:
    """A table no wider than `width` display columns: every column as wide as its widest
    cell (up to its cap), capped columns shrunk when they do not fit, the wrap column
    given the rest."""
    from rich import box
    from rich.table import Table

    from . import textwidth
    texts = [[c if isinstance(c, str) else c[0] for c in row] for row in rows]
    flex = next((i for i, c in enumerate(columns) if c.wrap), None)

    def natural(whole_headers: bool) -> list[int]:
        out = []
        for i, col in enumerate(columns):
            words = [col.header] if whole_headers else col.header.split() or [""]
            w = max([textwidth.width(t[i]) for t in texts] + [textwidth.width(x) for x in words])
            out.append(min(w, col.cap) if col.cap else w)
        return out
    widths = natural(True)  # headers on one line when all fits so, the headline unwrapped
    if sum(widths) + len(columns) - 1 > width:
        widths = natural(False)
    fixed = sum(w for i, w in enumerate(widths) if i != flex) + len(columns) - 1
    room = width - fixed
    want = MIN_WRAP if flex is not None else 0
    while room < want:  # shrink the widest capped column that can still give
        shrinkable = [i for i, c in enumerate(columns) if c.cap and widths[i] > MIN_CUT]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        room += 1
    if flex is not None:
        widths[flex] = max(min(widths[flex], room), MIN_CUT)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0),
                  header_style="bold")
    for col, w in zip(columns, widths, strict=True):
        header = "\n".join(textwidth.wrap(col.header, w, break_long=True))
        table.add_column(header, width=w, justify="right" if col.right else "left",
                         no_wrap=True, overflow="ellipsis")
    for row in rows:
        cells = []
        for i, (col, cell) in enumerate(zip(columns, row, strict=True)):
            text, style = (cell, "") if isinstance(cell, str) else cell
            if col.wrap:
                text = "\n".join(textwidth.wrap(text, widths[i], break_long=True)) or ""
            else:
                text = textwidth.truncate(text, widths[i])
            cells.append(plain(text, style))
        table.add_row(*cells)
    return table


def print_stories(rows: list[StoryRow], clock: Clock, console: Console | None = None) -> None:
    """Stories as a table: id, flag, published, first seen, articles, languages, entities,
    headline."""
    console = console or _out()
    if not rows:
        console.print("no stories")
        return
    columns = [Column("id", right=True), Column(""), Column("published"),
               Column(f"first seen ({clock.label(r.first_seen for r in rows)})"),
               Column("arts", right=True), Column("langs", cap=8),
               Column("entities", cap=16), Column("headline", wrap=True)]
    cells: list[list[Cell]] = [
        [str(r.id), ("★", "bold red") if r.flagged else "",
         clock.date(r.published_at or r.first_seen), clock.short(r.first_seen),
         str(r.article_count), ",".join(r.languages), ", ".join(r.entities), r.title_en]
        for r in rows]
    console.print(fit_table(columns, cells, console.width))


def print_packages(packages: list[PackageInfo], console: Console | None = None) -> None:
    console = console or _out()
    columns = [Column("package", cap=24), Column("from"), Column("to"), Column("version"),
               Column("size", right=True), Column("path", wrap=True)]
    cells: list[list[Cell]] = [[p.name, p.from_code, p.to_code, p.version,
                                f"{p.size_bytes / 1e6:.1f} MB", str(p.path)] for p in packages]
    console.print(fit_table(columns, cells, console.width))


def print_sources(rows: list[SourceState], config: Config, clock: Clock,
                  console: Console | None = None) -> None:
    """Each source's health, as `tidings sources` shows it; below the table, each source
    that backs off (until when, and how to try it now), its last error, its retired links."""
    console = console or _out()
    by_name = {s.name: s for s in config.sources}
    zone = clock.label([*(r.last_success_at for r in rows), *(r.next_due_at for r in rows)])
    columns = [Column("source", cap=18), Column("kind"), Column("every", right=True),
               Column(f"last success ({zone})"), Column(f"next due ({zone})"),
               Column("fails", right=True), Column("arts", right=True),
               Column("retired", right=True)]
    cells: list[list[Cell]] = []
    notes: list[tuple[str, str]] = []  # a source's name, a sentence about it
    for row in rows:
        source = by_name[row.name]
        due = parse_time(row.next_due_at)
        waiting = bool(row.consecutive_failures) and due is not None and due > clock.now
        cells.append([
            row.name, source.kind, short_interval(source.every),
            clock.short(row.last_success_at) or "never",
            (clock.short(row.next_due_at), "yellow") if waiting
            else clock.short(row.next_due_at) if due and due > clock.now else "now",
            (str(row.consecutive_failures), "red" if row.consecutive_failures else ""),
            str(row.articles), (str(row.retired_links), "yellow" if row.retired_links else "")])
        failures = plural(row.consecutive_failures, "failed pass", "failed passes")
        if waiting:
            until = clock.stamp(row.next_due_at)
            notes.append((row.name, f"backing off after {failures} in a row, until {until}"))
        if row.last_error:
            when = clock.stamp(row.last_error_at)
            notes.append((row.name, f"last error {when}: {row.last_error}"))
        if row.retired_links:
            gone = f"{plural(row.retired_links, 'link')} given up after repeated failures"
            notes.append((row.name, gone + " (status 'retired' in the links table)"))
    console.print(fit_table(columns, cells, console.width))
    for name, note in notes:
        _say(console, f"{name}: {note}", lead=len(name))
    if any(row.consecutive_failures for row in rows):  # a command: one line, pasted whole
        console.print(plain(f"  to try them now: {command('run', '--force', config=config)}"),
                      highlight=False, soft_wrap=True)


def short_interval(delta: timedelta) -> str:
    """30m, 2h, 1d: an interval as the configuration writes it."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------------------- a pass
def print_report(report: PassReport, config: Config, *, missing: Sequence[str] = ()) -> None:
    """The summary of one `tidings run`: counts and hints on stdout; skipped sources and
    errors on stderr. `missing`: languages that wait for a translation package. A pass
    that reached no source for a network error says only that, in one line."""
    from rich.text import Text
    err_console, out_console = _err(), _out()
    if report.unreachable:
        err_console.print(Text("tidings: error: ", style="bold red") + plain(
            f"{report.unreachable} (not counted against the sources; -v shows each error)"),
            highlight=False, soft_wrap=True)
        return
    clock = Clock.of(config)
    if report.sources or not report.skipped:
        counts = [(plural(report.sources, "source"), ""), (f"{report.fetched} fetched", ""),
                  (plural(report.new_articles, "new article"), "bold"),
                  (plural(report.duplicates, "duplicate"), ""),
                  (plural(report.new_stories, "new story", "new stories"), ""),
                  (f"{report.flagged} flagged", "bold red"),
                  (f"{report.translated} translated", ""),
                  (f"{report.pending_translation} pending translation", "")]
        out_console.print(_joined(counts, out_console.width), highlight=False)
    else:
        n = len(report.skipped)
        out_console.print("nothing fetched: " + ("the source backs" if n == 1 else
                                                 f"all {n} sources back") + " off after failures",
                          highlight=False)
    if report.interrupted:
        err_console.print("  interrupted: the links not reached wait for the next pass",
                          highlight=False)
    for skipped in report.skipped:
        _say(err_console, f"{skipped.source} skipped until {clock.stamp(skipped.until)}: "
             f"{skipped.reason}", lead=len(skipped.source))
    if report.skipped:  # a command stays on one line, to be pasted whole
        err_console.print(plain(f"  to fetch them now: {command('run', '--force', config=config)}"),
                          highlight=False, soft_wrap=True)
    for error in report.errors[:20]:
        err_console.print(Text("  ") + plain(error.source, "yellow")
                          + plain(f" {error.url}: {error.error}"),
                          highlight=False, soft_wrap=True)  # one line each, for grep
    if len(report.errors) > 20:
        err_console.print(f"  … and {len(report.errors) - 20} more (see the fetches table)")
    if report.pending_translation:
        _say(out_console, f"{plural(report.pending_translation, 'article')} wait for a "
             "translation package:")
        for line in translation_hints(config, missing):
            out_console.print(plain(f"    {line}"), highlight=False, soft_wrap=True)
    out_console.print(plain(f"store: {config.store.path}"), highlight=False)


def _joined(parts: Sequence[tuple[str, str]], width: int) -> Text:
    """Styled parts joined by " · ", a new line where the next would not fit."""
    from rich.text import Text

    from . import textwidth
    out, line = Text(), 0
    for i, (part, style) in enumerate(parts):
        if i:
            if line + 3 + textwidth.width(part) > width:
                out.append("\n")
                line = 0
            else:
                out.append(" · ")
                line += 3
        out.append(part, style)
        line += textwidth.width(part)
    return out


def _say(console: Console, text: str, *, lead: int = 0) -> None:
    """`text` indented two columns, wrapped at the console's width with a hanging indent;
    its first `lead` characters (a source's name) in yellow."""
    from rich.text import Text

    from . import textwidth
    lines = textwidth.wrap(_CONTROL.sub("\ufffd", text), console.width,
                           initial_indent="  ", subsequent_indent="    ")
    shown = Text("\n".join(lines))
    if lead:
        shown.stylize("yellow", 2, 2 + lead)
    console.print(shown, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------- long jobs
class RichProgress:
    """A long job's progress on a terminal (the runner's and the translator's Progress)."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.task = progress.add_task(label, total=0)

    def add_total(self, n: int) -> None:
        task = self.progress.tasks[0]
        self.progress.update(self.task, total=(task.total or 0) + n)

    def advance(self, description: str) -> None:
        self.progress.update(self.task, advance=1, description=description)


@contextmanager
def progress(label: str, enabled: bool) -> Iterator[RichProgress | None]:
    """A progress bar on stderr when it is a terminal (a real one: not a pipe that
    FORCE_COLOR dresses up as one) and `enabled`; else None."""
    if not enabled or not sys.stderr.isatty() or not _err().is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    with Progress(TextColumn("{task.description:<14}", markup=False), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=_err(),
                  transient=True) as bar:
        yield RichProgress(bar, label)


@contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT set the event: the article in hand is finished, then we stop. A
    stop is a normal event (the daemon's way to end): logged as info, not a warning."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        logging.getLogger("tidings").info("%s received: finishing the article in hand",
                                          signal.Signals(signum).name)
        stop.set()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
