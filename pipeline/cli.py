"""The `tidings` command line: thin commands, each calling one library function.

Exit codes: 0 the work ran (per-source errors are reported, not fatal); 1 nothing could be
done (every source failed, SMTP refused, store unusable); 2 bad usage or configuration.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from . import logs
from .config import Config, load_config, parse_interval
from .console import (
    err_console,
    fail,
    graceful_stop,
    out_console,
    print_packages,
    print_report,
    print_sources,
    print_stories,
    progress,
)
from .errors import ConfigError, DigestError, LockHeld, StoreError, TidingsError
from .store import Store

F = TypeVar("F", bound=Callable[..., Any])


def config_option(fn: F) -> F:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        default=None, envvar="TIDINGS_CONFIG", show_envvar=True,
        help="Configuration file (default: config/tidings.toml).")(fn)


def _load(config_path: Path | None) -> Config:
    """The configuration named after the command, else before it (`tidings --config F
    run`), else $TIDINGS_CONFIG or the default."""
    if config_path is None:
        ctx = click.get_current_context(silent=True)
        root = ctx.find_root().obj if ctx is not None else None
        config_path = (root or {}).get("config_path")
    return load_config(config_path)


@contextmanager
def _store(config: Config) -> Iterator[Store]:
    store = Store.open(config.store.path)
    try:
        yield store
    finally:
        store.close()


class TidingsGroup(click.Group):
    """Turns tidings errors into the contract's exit codes and one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            fail(str(exc), 2)
        except LockHeld as exc:
            err_console.print(f"tidings: {exc}; nothing to do", highlight=False,
                              soft_wrap=True)
            sys.exit(0)
        except (StoreError, DigestError) as exc:
            fail(str(exc), 1)
        except TidingsError as exc:
            fail(str(exc), 1)


@click.group(cls=TidingsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-vv for debug).")
@click.option("--json-logs", is_flag=True, help="Log lines as JSON objects (for collectors).")
@config_option
@click.version_option(package_name="tidings")
@click.pass_context
def cli(ctx: click.Context, verbose: int, json_logs: bool, config_path: Path | None) -> None:
    """tidings: multilingual news monitoring — fetch, clean, translate, deduplicate, flag.

    Example: tidings run --json
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

    Example: tidings run --json --source cnevpost
    """
    from .lock import PassLock
    from .runner import run_pass

    config = _load(config_path)
    if source:
        config.source(source)  # unknown name → exit 2 before any work
    logs.add_file(config.state_dir / "tidings.log",
                  json_logs=click.get_current_context().find_root().obj["json_logs"])
    with PassLock(config.lock_path, "tidings run"), _store(config) as store, \
            graceful_stop() as stop, progress("fetching", not as_json) as bar:
        report = run_pass(config, store, source=source, force=force, progress=bar, stop=stop)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print_report(report, config.store.path)
    if report.sources and len(report.failed_sources) == report.sources:
        sys.exit(1)


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
    from .packages import list_packages
    config = _load(config_path)
    packages = list_packages(config.translate)
    if not packages:
        out_console.print(f"no packages in {config.translate.package_dir}\n"
                          "install one: tidings models install it zh  (online)\n"
                          "         or: tidings models install --file PKG.argosmodel",
                          highlight=False)
        return
    print_packages(packages)


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
    from .packages import install_from_file, install_from_index
    config = _load(config_path)
    if not file and not langs:
        raise click.UsageError("name languages (e.g. it zh) or give --file PKG.argosmodel")
    # A TranslateError (offline index, bad file) exits 1 with its message, via TidingsGroup.
    installed = ([install_from_file(config.translate, file)] if file
                 else install_from_index(config.translate, list(langs)))
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
    from .translate import TranslatorKeeper
    config = _load(config_path)
    with PassLock(config.lock_path, "tidings translate"), _store(config) as store:
        stage = TranslatorKeeper(config).stage(store)
        if stage is None:
            fail(f"no translation package in {config.translate.package_dir}; install one "
                 "with: tidings models install --file PKG.argosmodel", 1)
        with progress("translating", not as_json) as bar:
            done = len(stage.translate_ids(None, statuses=("pending", "failed"),
                                           progress=bar, languages=config.translate.languages))
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
    lock = (PassLock(config.lock_path, "tidings digest --send") if send
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
            graceful_stop() as stop:
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
        click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False))
        return
    print_sources(rows, config.sources)


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
    sys.exit(run_demo(state_dir))


def main() -> None:
    cli(prog_name="tidings")


if __name__ == "__main__":
    main()
