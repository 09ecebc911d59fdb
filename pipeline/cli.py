"""The `tidings` command line: thin commands, each calling one library function.

Exit codes (the same in README.md and `tidings --help`): 0 the work ran (per-source errors
are reported, not fatal; also when another process holds the lock: it says who); 1
nothing could be done (every source failed, no source reachable, SMTP refused, the store
or the state folder unusable, the port of `serve` taken); 2 bad usage or configuration,
naming the file and the key. An error is one line on stderr; `-vv` adds the traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import logs
from .config import Config, load_config, parse_interval
from .errors import ConfigError, LockHeld, StoreError, TidingsError

if TYPE_CHECKING:  # each command imports what it uses: `tidings --help` stays quick
    from .store import Store

F = TypeVar("F", bound=Callable[..., Any])


def config_option(fn: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        default=None, envvar="TIDINGS_CONFIG", show_envvar=True,
        help="Configuration file (default: config/tidings.toml).")(fn)


def _load(config_path: Path | None) -> Config:
    """The configuration named after the command, else before it (`tidings --config F
    run`), else $TIDINGS_CONFIG or the default. Kept for the error messages' hints."""
    ctx = click.get_current_context(silent=True)
    root = (ctx.find_root().obj if ctx is not None else None) or {}
    config = load_config(config_path or root.get("config_path"))
    root["config"] = config
    return config


def _need_sources(config: Config) -> None:
    if not config.sources:
        raise ConfigError(str(config.path), "[[sources]]", "no sources configured: add at "
                          'least one [[sources]] table with name, url and kind = "feed", '
                          '"sitemap" or "page"')


@contextmanager
def _damage(config: Config) -> Iterator[None]:
    """A store whose pages are damaged fails on the first query that reads them: one line
    naming the file and what to do, not a traceback."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the store {config.store.path} is damaged ({exc}): restore a copy, "
                         "or move it aside and run `tidings run` to begin a new one") from exc


@contextmanager
def _store(config: Config) -> Iterator[Store]:
    """The store, to write."""
    from .store import Store
    with _closing(config, Store.open(config.store.path)) as store:
        yield store


@contextmanager
def _closing(config: Config, store: Store) -> Iterator[Store]:
    """`store`, closed in the end; a damaged one said in one line."""
    try:
        with _damage(config):
            yield store
    finally:
        store.close()


@contextmanager
def _read_store(config: Config) -> Iterator[Store]:
    """The store, only to read: nothing written, so a read-only mount is enough. Before
    the first pass there is no store: then a new one is made (as every command does), or,
    where nothing can be written, an empty one in memory."""
    from .store import Store
    path = config.store.path
    if path.exists():
        store = Store.open_readonly(path)
    else:
        try:
            store = Store.open(path)
        except StoreError:
            store = Store.open(":memory:")
    with _closing(config, store) as opened:
        yield opened


@contextmanager
def _state(config: Config, command_name: str, *, log_file: bool = True,
           lock: str = "") -> Iterator[None]:
    """The state folder (beside `store.path`) for a command that writes: its log file and
    the pass lock (or the `lock` file named). A folder that cannot be written is one line
    naming it."""
    from .lock import PassLock
    held = PassLock(config.state_dir / lock if lock else config.lock_path, command_name)
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        if log_file:
            root = click.get_current_context().find_root().obj or {}
            logs.add_file(config.state_dir / "tidings.log",
                          json_logs=root.get("json_logs", False))
        held.acquire()
    except OSError as exc:
        raise StoreError(f"cannot write the state folder {config.state_dir} "
                         f"({exc.strerror or exc}): it holds the store, log and lock "
                         f"(store.path in {config.path}); make it writable or choose "
                         "another store.path") from exc
    try:
        yield
    finally:
        held.release()


def _missing_packages(config: Config) -> list[str]:
    """Languages to translate that no installed package covers."""
    from .packages import list_packages
    installed = {p.from_code for p in list_packages(config.translate)}
    return [lang for lang in config.translate.languages if lang not in installed]


class TidingsGroup(click.Group):
    """Turns tidings errors into the contract's exit codes and one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LockHeld as exc:
            from .console import err_console
            err_console.print(f"tidings: {exc}; nothing to do", highlight=False,
                              soft_wrap=True)
            sys.exit(0)
        except ConfigError as exc:
            self._fail(ctx, exc, 2)
        except TidingsError as exc:  # StoreError, DigestError, TranslateError …
            self._fail(ctx, exc, 1)
        except BrokenPipeError:  # `tidings stories | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except OSError as exc:  # a file or folder tidings was told to use
            self._fail(ctx, exc, 1, f"cannot use {exc.filename or 'a file'}: "
                       f"{exc.strerror or exc}")

    @staticmethod
    def _fail(ctx: click.Context, exc: Exception, code: int, message: str = "") -> None:
        obj = ctx.obj or {}
        if obj.get("verbose", 0) >= 2:
            traceback.print_exc()
        from .console import command, fail
        from .packages import INSTALL_HINT
        text = (message or str(exc)).replace(INSTALL_HINT, command(
            "models", "install", "--file", "PKG.argosmodel", config=obj.get("config")))
        fail(text, code)


@click.group(cls=TidingsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True,
              help="More log lines on stderr (-vv: debug, and the traceback of an error).")
@click.option("--json-logs", is_flag=True, help="Log lines as JSON objects (for collectors).")
@config_option
@click.version_option(package_name="tidings")
@click.pass_context
def cli(ctx: click.Context, verbose: int, json_logs: bool, config_path: Path | None) -> None:
    """tidings: multilingual news monitoring — fetch, clean, translate, deduplicate, flag.

    Example: tidings run --json

    \b
    Exit codes:
      0  the work ran (per-source errors are reported, not fatal), or another
         tidings process holds the lock (it says who; nothing is done)
      1  nothing could be done: every source failed or none could be reached,
         SMTP refused, the store or the state folder unusable, the port of
         `serve` taken
      2  bad usage or configuration: the message names the file and the key
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["json_logs"] = json_logs
    ctx.obj["config_path"] = config_path
    logs.setup(verbose=verbose, json_logs=json_logs)


# ---------------------------------------------------------------------------- run
@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.option("--source", "source", metavar="NAME", help="Only this source.")
@click.option("--force", is_flag=True,
              help="Fetch every source now, even those backing off after failures.")
def run(config_path: Path | None, as_json: bool, source: str | None, force: bool) -> None:
    """One pass over every source (or one): fetch, extract, detect, dedup, flag, store.

    Exits 1 when every source failed; when none could be reached for a network error it
    says so in one line and counts it against no source's backoff.

    Example: tidings run --json --source cnevpost
    """
    from . import console
    from .runner import run_pass

    config = _load(config_path)
    _need_sources(config)
    if source:
        config.source(source)  # unknown name → exit 2 before any work
    with _state(config, "tidings run"), _store(config) as store, \
            console.graceful_stop() as stop, console.progress("fetching", not as_json) as bar:
        report = run_pass(config, store, source=source, force=force, progress=bar, stop=stop)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        if report.unreachable:
            console.err_console.print(console.plain(f"tidings: error: {report.unreachable}"),
                                      highlight=False, soft_wrap=True)
    else:
        console.print_report(report, config, missing=_missing_packages(config)
                             if report.pending_translation else ())
    if report.unreachable or (report.sources and len(report.failed_sources) == report.sources):
        sys.exit(1)


# ---------------------------------------------------------------------------- stories
@cli.command()
@config_option
@click.option("--flagged", is_flag=True, help="Only stories flagged as new developments.")
@click.option("--since", default=None, metavar="INTERVAL",
              help="Only stories seen within this interval, e.g. 24h or 7d.")
@click.option("--limit", default=50, show_default=True, help="At most this many stories.")
def stories(config_path: Path | None, flagged: bool, since: str | None, limit: int) -> None:
    """Show stories as a table: published, first seen, articles, languages, entities, flag.

    Times are in digest.timezone; the store is only read.

    Example: tidings stories --flagged --since 7d
    """
    from .console import Clock, print_stories
    config = _load(config_path)
    cutoff = None
    if since:
        try:
            cutoff = (datetime.now(UTC) - parse_interval(since)).replace(microsecond=0)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from exc
    with _read_store(config) as store:
        rows = store.stories(flagged=flagged, since=cutoff.isoformat() if cutoff else None,
                             limit=limit)
    print_stories(rows, Clock.of(config))


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
    from .console import out_console, plain, print_packages, translation_hints
    from .packages import list_packages
    config = _load(config_path)
    packages = list_packages(config.translate)
    if not packages:
        out_console.print(plain(f"no packages in {config.translate.package_dir}"),
                          highlight=False, soft_wrap=True)
        for line in translation_hints(config, config.translate.languages)[:2]:
            out_console.print(plain(line), highlight=False, soft_wrap=True)
        return
    print_packages(packages)


@models.command("install")
@config_option
@click.argument("langs", nargs=-1)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Install from a local .argosmodel file (works offline).")
def models_install(config_path: Path | None, langs: tuple[str, ...], file: Path | None) -> None:
    """Install packages LANG→target from the Argos index, or one from --file.

    \b
    Example: tidings models install it zh
             tidings models install --file translate-it_en-1_0.argosmodel
    """
    from .console import out_console, plain
    from .packages import install_from_file, install_from_index
    config = _load(config_path)
    if not file and not langs:
        raise click.UsageError("name languages (e.g. it zh) or give --file PKG.argosmodel")
    # A TranslateError (offline index, bad file) exits 1 with its message, via TidingsGroup.
    installed = ([install_from_file(config.translate, file)] if file
                 else install_from_index(config.translate, list(langs)))
    for p in installed:
        out_console.print(plain(f"installed {p.name} ({p.from_code}→{p.to_code} {p.version}) "
                                f"in {p.path}"), highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------- translate
@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def translate(config_path: Path | None, as_json: bool) -> None:
    """Translate articles whose translation is pending, and retry failed ones.

    Example: tidings translate
    """
    from .console import command, fail, out_console, plural, progress
    from .storystage import StoryStage
    from .translate import TranslatorKeeper
    config = _load(config_path)
    with _state(config, "tidings translate", log_file=False), _store(config) as store:
        stage = TranslatorKeeper(config).stage(store)
        if stage is None:
            fail(f"no translation package in {config.translate.package_dir}; install one "
                 f"with: {command('models', 'install', '--file', 'PKG.argosmodel', config=config)}",
                 1)
        story_stage = StoryStage(config, store)
        merged: list[int] = []
        with progress("translating", not as_json) as bar:
            done = len(stage.translate_ids(
                None, statuses=("pending", "failed"), progress=bar,
                languages=config.translate.languages,
                then=lambda article: merged.extend(story_stage.place_again(article))))
        counts = store.counts()
    result = {"translated": done, "pending_translation": counts["pending_translation"],
              "stories_merged": len(merged)}
    if as_json:
        click.echo(json.dumps(result))
    else:
        out_console.print(f"{plural(done, 'article')} translated; "
                          f"{result['pending_translation']} still pending; "
                          f"{plural(len(merged), 'story', 'stories')} merged into others",
                          highlight=False)


# ---------------------------------------------------------------------------- digest
@cli.command()
@config_option
@click.option("--since", default=None, metavar="INTERVAL",
              help="Stories seen within this interval (default: digest.since, 24h).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the message (.eml, RFC 5322) to this file.")
@click.option("--send", is_flag=True, help="Send over SMTP and mark the stories as sent.")
def digest(config_path: Path | None, since: str | None, output: Path | None,
           send: bool) -> None:
    """Build the digest of flagged stories not yet sent; write it and/or send it.

    Without --send the store is only read. --send with no digest.to is a configuration
    error (exit 2); a refused or unreachable SMTP server exits 1 and marks nothing.

    Example: tidings digest --since 24h --output digest.eml --send
    """
    from .console import out_console, plain
    from .digest import run_digest
    config = _load(config_path)
    window = None
    if since:
        try:
            window = parse_interval(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from exc
    if send:  # sending marks stories: one sender at a time
        with _state(config, "tidings digest --send", log_file=False), _store(config) as store:
            result = run_digest(config, store, since=window, output=output, send=True)
    else:
        with _read_store(config) as store:
            result = run_digest(config, store, since=window, output=output, send=False)
    out_console.print(plain(result.reason), highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------- serve
@cli.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8001, show_default=True, help="Port to listen on.")
def serve(config_path: Path | None, host: str, port: int) -> None:
    """Explore the store in datasette (read-only, with canned queries).

    Exits 1, before serving anything, when the port is taken.

    Example: tidings serve --port 8001
    """
    from .serve import serve as run_datasette
    config = _load(config_path)
    sys.exit(run_datasette(config, host=host, port=port))


# ---------------------------------------------------------------------------- daemon
@cli.command()
@config_option
def daemon(config_path: Path | None) -> None:
    """Scheduled passes per source interval and the daily digest, until SIGTERM/SIGINT.

    Logs go to stderr and to tidings.log beside the store (rotated). A second daemon on
    the same state folder says who holds it and exits 0.

    Example: tidings daemon --config config/tidings.toml
    """
    from .console import graceful_stop
    from .scheduler import Daemon
    config = _load(config_path)
    _need_sources(config)
    with _state(config, "tidings daemon", lock="daemon.lock"), graceful_stop() as stop:
        code = Daemon(config, stop).run_forever()
    sys.exit(code)


# ---------------------------------------------------------------------------- sources
@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def sources(config_path: Path | None, as_json: bool) -> None:
    """Each source's health: last success, next due time (backing off?), failures,
    articles, retired links, last error. Times are in digest.timezone.

    Example: tidings sources
    """
    from .console import Clock, print_sources
    config = _load(config_path)
    with _read_store(config) as store:
        rows = store.source_health([s.name for s in config.sources])
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False))
        return
    print_sources(rows, config, Clock.of(config))


# ---------------------------------------------------------------------------- demo
@cli.command()
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("state/demo"), show_default=True,
              help="Where the demo keeps its configuration, store and digest.")
def demo(state_dir: Path) -> None:
    """The whole flow on the bundled sample news site, served on 127.0.0.1.

    It ends with commands to paste next, for the store it made.

    Example: tidings demo
    """
    from .demo.runner import run_demo
    sys.exit(run_demo(state_dir))


def main() -> None:
    cli(prog_name="tidings")


if __name__ == "__main__":
    main()
