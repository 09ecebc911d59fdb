"""The `tidings` command line: thin commands, each calling one library function.

Exit codes: 0 the work ran (per-source errors are reported, not fatal); 1 nothing could be
done (every source failed, SMTP refused, store unusable); 2 bad usage or configuration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import logs
from .config import Config, load_config, parse_interval
from .errors import ConfigError, DigestError, LockHeld, StoreError, TidingsError
from .store import Store

F = TypeVar("F", bound=Callable[..., Any])
# Piped output (cron mail, files, grep) gets long lines instead of folded table cells.
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
out_console = Console(width=None if sys.stdout.isatty() else 200)


def config_option(fn: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        default=None, envvar="TIDINGS_CONFIG", show_envvar=True,
        help="Configuration file (default: config/tidings.toml).")(fn)


def _load(config_path: Path | None) -> Config:
    return load_config(config_path)


@contextmanager
def _store(config: Config) -> Iterator[Store]:
    store = Store.open(config.store.path)
    try:
        yield store
    finally:
        store.close()


def _fail(message: str, code: int) -> NoReturn:
    """One unwrapped line on stderr, so cron mail and grep see the whole message."""
    err_console.print(f"[bold red]tidings: error:[/] {message}", highlight=False,
                      soft_wrap=True)
    sys.exit(code)


class TidingsGroup(click.Group):
    """Turns tidings errors into the contract's exit codes and one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(str(exc), 2)
        except LockHeld as exc:
            err_console.print(f"tidings: {exc}; nothing to do", highlight=False,
                              soft_wrap=True)
            sys.exit(0)
        except (StoreError, DigestError) as exc:
            _fail(str(exc), 1)
        except TidingsError as exc:
            _fail(str(exc), 1)


@click.group(cls=TidingsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-vv for debug).")
@click.option("--json-logs", is_flag=True, help="Log lines as JSON objects (for collectors).")
@click.version_option(package_name="tidings")
@click.pass_context
def cli(ctx: click.Context, verbose: int, json_logs: bool) -> None:
    """tidings: multilingual news monitoring — fetch, clean, translate, deduplicate, flag.

    Example: tidings run --json
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["json_logs"] = json_logs
    logs.setup(verbose=verbose, json_logs=json_logs)


class _RichProgress:
    """The runner's progress display on a terminal."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress = progress
        self.task = progress.add_task(label, total=0)

    def add_total(self, n: int) -> None:
        task = self.progress.tasks[0]
        self.progress.update(self.task, total=(task.total or 0) + n)

    def advance(self, description: str) -> None:
        self.progress.update(self.task, advance=1, description=description)


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[_RichProgress | None]:
    if not enabled or not err_console.is_terminal:
        yield None
        return
    with Progress(TextColumn("[bold]{task.description:<14}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True) as progress:
        yield _RichProgress(progress, label)


@contextmanager
def _graceful_stop() -> Iterator[threading.Event]:
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


# ---------------------------------------------------------------------------- run
@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.option("--source", "source", metavar="NAME", help="Only this source.")
def run(config_path: Path | None, as_json: bool, source: str | None) -> None:
    """One pass over every source (or one): fetch, extract, detect, dedup, flag, store.

    Example: tidings run --json --source cnevpost
    """
    from .lock import PassLock
    from .runner import run_pass

    config = _load(config_path)
    if source:
        config.source(source)  # unknown name → exit 2 before any work
    logs.add_file(config.state_dir / "tidings.log",
                  json_logs=click.get_current_context().find_root().obj["json_logs"])
    with PassLock(config.state_dir / "tidings.lock", "tidings run"), _store(config) as store, \
            _graceful_stop() as stop, _progress("fetching", not as_json) as progress:
        report = run_pass(config, store, source=source, progress=progress, stop=stop)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _print_report(report.as_dict(), config)
    if report.sources and len(report.failed_sources) == report.sources:
        sys.exit(1)


def _print_report(report: dict[str, Any], config: Config) -> None:
    out_console.print(
        f"{report['sources']} sources · {report['fetched']} fetched · "
        f"[bold]{report['new_articles']}[/] new articles · {report['duplicates']} duplicates · "
        f"{report['new_stories']} new stories · [bold red]{report['flagged']}[/] flagged · "
        f"{report['translated']} translated · {report['pending_translation']} pending translation",
        highlight=False)
    for error in report["errors"][:20]:
        err_console.print(f"  [yellow]{error['source']}[/] {error['url']}: {error['error']}",
                          highlight=False, soft_wrap=True)
    if len(report["errors"]) > 20:
        err_console.print(f"  … and {len(report['errors']) - 20} more (see the fetches table)")
    out_console.print(f"store: {config.store.path}", highlight=False)


# ---------------------------------------------------------------------------- stories
@cli.command()
@config_option
@click.option("--flagged", is_flag=True, help="Only stories flagged as new developments.")
@click.option("--since", default=None, metavar="INTERVAL",
              help="Only stories seen within this interval, e.g. 24h or 7d.")
@click.option("--limit", default=50, show_default=True, help="At most this many stories.")
def stories(config_path: Path | None, flagged: bool, since: str | None, limit: int) -> None:
    """Show stories as a table: languages, article counts, entities, flags.

    Example: tidings stories --flagged --since 7d
    """
    config = _load(config_path)
    cutoff = None
    if since:
        try:
            cutoff = (datetime.now(UTC) - parse_interval(since)).replace(microsecond=0)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from exc
    with _store(config) as store:
        rows = store.stories(flagged=flagged, since=cutoff.isoformat() if cutoff else None,
                             limit=limit)
    print_stories(rows)


def print_stories(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out_console.print("no stories")
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
        table.add_row(str(row["id"]), "★" if row["flagged"] else "",
                      str(row["first_seen"])[:16].replace("T", " "), str(row["article_count"]),
                      ",".join(row["languages"]), ", ".join(row["entities"]),
                      row["title_en"] or "")
    out_console.print(table)


# ---------------------------------------------------------------------------- models
@cli.group()
def models() -> None:
    """Argos Translate packages: list installed ones, install more."""


@models.command("list")
@config_option
def models_list(config_path: Path | None) -> None:
    """List installed translation packages.

    Example: tidings models list
    """
    from .translate import list_packages
    config = _load(config_path)
    packages = list_packages(config.translate)
    if not packages:
        out_console.print(f"no packages in {config.translate.package_dir}\n"
                          "install one: tidings models install it zh  (online)\n"
                          "         or: tidings models install --file PKG.argosmodel",
                          highlight=False)
        return
    table = Table(header_style="bold")
    for col in ("package", "from", "to", "version", "size", "path"):
        table.add_column(col)
    for p in packages:
        table.add_row(p.name, p.from_code, p.to_code, p.version,
                      f"{p.size_bytes / 1e6:.1f} MB", str(p.path))
    out_console.print(table)


@models.command("install")
@config_option
@click.argument("langs", nargs=-1)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Install from a local .argosmodel file (works offline).")
def models_install(config_path: Path | None, langs: tuple[str, ...], file: Path | None) -> None:
    """Install packages LANG→target from the Argos index, or one from --file.

    Example: tidings models install it zh
             tidings models install --file translate-it_en-1_0.argosmodel
    """
    from .translate import install_from_file, install_from_index
    config = _load(config_path)
    if not file and not langs:
        raise click.UsageError("name languages (e.g. it zh) or give --file PKG.argosmodel")
    # A TranslateError (offline index, bad file) exits 1 with its message, via TidingsGroup.
    installed = ([install_from_file(config.translate, file)] if file
                 else install_from_index(config.translate, list(langs),
                                         index_url=config.translate.index_url or None))
    for p in installed:
        out_console.print(f"installed {p.name} ({p.from_code}→{p.to_code} {p.version}) "
                          f"in {p.path}", highlight=False)


# ---------------------------------------------------------------------------- translate
@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def translate(config_path: Path | None, as_json: bool) -> None:
    """Translate articles whose translation is pending, and retry failed ones.

    Example: tidings translate
    """
    from .lock import PassLock
    from .runner import default_translator
    config = _load(config_path)
    with PassLock(config.state_dir / "tidings.lock", "tidings translate"), \
            _store(config) as store:
        stage = default_translator(config, store)
        if stage is None:
            _fail(f"no translation package in {config.translate.package_dir}; install one "
                  "with: tidings models install --file PKG.argosmodel", 1)
        with _progress("translating", not as_json) as progress:
            done = stage.translate_ids(None, statuses=("pending", "failed"), progress=progress,
                                       languages=config.translate.languages)
        counts = store.counts()
    result = {"translated": done, "pending_translation": counts["pending_translation"]}
    if as_json:
        click.echo(json.dumps(result))
    else:
        out_console.print(f"{done} articles translated; {result['pending_translation']} "
                          "still pending", highlight=False)


# ---------------------------------------------------------------------------- digest
@cli.command()
@config_option
@click.option("--since", default=None, metavar="INTERVAL",
              help="Stories first seen within this interval (default: digest.since, 24h).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the message (.eml, RFC 5322) to this file.")
@click.option("--send", is_flag=True, help="Send over SMTP and mark the stories as sent.")
def digest(config_path: Path | None, since: str | None, output: Path | None,
           send: bool) -> None:
    """Build the digest of flagged stories not yet sent; write it and/or send it.

    Example: tidings digest --since 24h --output digest.eml --send
    """
    from .digest import run_digest
    config = _load(config_path)
    window = None
    if since:
        try:
            window = parse_interval(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from exc
    from .lock import PassLock
    lock = (PassLock(config.state_dir / "tidings.lock", "tidings digest --send") if send
            else contextlib.nullcontext())
    with lock, _store(config) as store:  # sending marks stories: one sender at a time
        result = run_digest(config, store, since=window, output=output, send=send)
    out_console.print(result.reason, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------- serve
@cli.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8001, show_default=True, help="Port to listen on.")
def serve(config_path: Path | None, host: str, port: int) -> None:
    """Explore the store in datasette (read-only, with canned queries).

    Example: tidings serve --port 8001
    """
    from .serve import serve as run_datasette
    config = _load(config_path)
    sys.exit(run_datasette(config, host=host, port=port))


# ---------------------------------------------------------------------------- daemon
@cli.command()
@config_option
@click.pass_context
def daemon(ctx: click.Context, config_path: Path | None) -> None:
    """Scheduled passes per source interval and the daily digest, until SIGTERM/SIGINT.

    Logs go to stderr and to state/tidings.log (rotated). A second daemon on the same
    state directory says who holds it and exits 0.

    Example: tidings daemon --config config/tidings.toml
    """
    from .lock import PassLock
    from .scheduler import Daemon
    config = _load(config_path)
    logs.add_file(config.state_dir / "tidings.log", json_logs=ctx.obj["json_logs"])
    with PassLock(config.state_dir / "daemon.lock", "tidings daemon"), \
            _graceful_stop() as stop:
        code = Daemon(config, stop).run_forever()
    sys.exit(code)


# ---------------------------------------------------------------------------- sources
@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def sources(config_path: Path | None, as_json: bool) -> None:
    """Each source's health: last success, last error, next due time, articles, failures.

    Example: tidings sources
    """
    config = _load(config_path)
    with _store(config) as store:
        rows = store.source_health([s.name for s in config.sources])
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(header_style="bold")
    for col in ("source", "kind", "every", "last success", "last error", "next due",
                "articles", "failures"):
        table.add_column(col, overflow="fold")
    by_name = {s.name: s for s in config.sources}
    for row in rows:
        source = by_name[row["name"]]
        error = ""
        if row["last_error"]:
            error = f"{_short_time(row['last_error_at'])} {row['last_error']}"
        failures = row["consecutive_failures"] or 0
        table.add_row(row["name"], source.kind, _short_interval(source.every),
                      _short_time(row["last_success_at"]) or "never", error,
                      _short_time(row["next_due_at"]) or "now", str(row["articles"]),
                      f"[red]{failures}[/]" if failures else "0")
    out_console.print(table)


def _short_time(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


def _short_interval(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------------------- demo
@cli.command()
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("state/demo"), show_default=True,
              help="Where the demo keeps its configuration, store and digest.")
def demo(state_dir: Path) -> None:
    """The whole flow on the bundled sample news site, served on 127.0.0.1.

    Example: tidings demo
    """
    from .demo.runner import run_demo
    sys.exit(run_demo(state_dir, console=out_console, err_console=err_console,
                      progress_factory=_progress, graceful_stop=_graceful_stop))


def main() -> None:
    cli(prog_name="tidings")


if __name__ == "__main__":
    main()
