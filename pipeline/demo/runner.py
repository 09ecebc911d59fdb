"""`tidings demo`: the whole flow on the bundled sample news web, served on 127.0.0.1.

State lives in `state/demo/` (configuration, store, digest); each demo starts from an empty
store so its figures are the same every time. Installed translation packages are kept.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text

from ..config import Config, load_config
from ..console import graceful_stop, out_console, plain, print_stories, progress
from ..lock import PassLock
from ..models import PassReport
from ..runner import run_pass
from ..store import Store
from .site import DemoWeb


def run_demo(state_dir: Path) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    store_path = state_dir / "tidings.db"
    for leftover in (store_path, Path(f"{store_path}-wal"), Path(f"{store_path}-shm"),
                     state_dir / "digest.eml"):
        leftover.unlink(missing_ok=True)
    config_path = state_dir / "tidings.toml"
    with DemoWeb() as web:
        config_path.write_text(web.config_toml(str(store_path)), "utf-8")
        config = load_config(config_path)
        out_console.print(f"[bold]tidings demo[/]: {len(web.outlets)} sample outlets on "
                          "127.0.0.1", highlight=False)
        for outlet in web.outlets:
            source = config.source(outlet.name)
            out_console.print(plain(f"  {outlet.name:<14} {outlet.language}  "
                                    f"{outlet.kind:<8} {source.url}"), highlight=False)
        with PassLock(config.lock_path, "tidings demo"), graceful_stop() as stop, \
                progress("fetching", True) as bar:
            store = Store.open(store_path)
            try:
                report = run_pass(config, store, progress=bar, stop=stop)
            finally:
                store.close()
    return _summarise(config, report, state_dir, config_path)


def _summarise(config: Config, report: PassReport, state_dir: Path, config_path: Path) -> int:
    console = out_console
    store = Store.open(config.store.path)
    try:
        counts = store.counts()
        stories = store.stories(limit=500)
        pending = store.pending_translation_by_language()
        digest_line = _write_digest(config, store, state_dir)
    finally:
        store.close()
    console.print()
    print_stories(stories)
    console.print()
    console.print(
        f"[bold]{counts['articles']}[/] articles ({counts['duplicates']} duplicates) · "
        f"[bold]{counts['stories']}[/] stories · [bold red]{counts['flagged']}[/] flagged "
        f"(★) · {len(report.errors)} pages reported (see below)", highlight=False)
    for error in report.errors:
        console.print(Text(f"  {error.source}: {error.url}: {error.error}", style="dim"),
                      highlight=False, soft_wrap=True)
    if pending:
        langs = ", ".join(f"{n} {lang}" for lang, n in pending.items())
        console.print(plain(
            f"\nTranslation pending for {langs} articles: no Argos package is installed in "
            f"{config.translate.package_dir}.\n  Install (online):  tidings models install it zh "
            f"--config {config_path}\n  Install (offline): tidings models install --file "
            f"PKG.argosmodel --config {config_path}\n  Then translate:    tidings translate "
            f"--config {config_path}"), highlight=False)
    console.print(plain(f"\nstore:   {config.store.path}\nconfig:  {config_path}"),
                  highlight=False)
    if digest_line:
        console.print(plain(digest_line), highlight=False)
    console.print(plain(f"explore: tidings stories --config {config_path}\n"
                        f"         tidings serve --config {config_path}   (datasette)"),
                  highlight=False)
    (state_dir / "last-report.json").write_text(json.dumps(report.as_dict(),
                                                           ensure_ascii=False), "utf-8")
    return 0


def _write_digest(config: Config, store: Store, state_dir: Path) -> str:
    """The demo ends with the digest it would mail, written as an .eml file."""
    from ..digest import run_digest

    output = state_dir / "digest.eml"
    result = run_digest(config, store, since=None, output=output, send=False)
    return f"digest:  {output} ({result.story_count} stories; not sent — a preview)"
