"""`tidings demo`: the whole flow on the bundled sample news web, served on 127.0.0.1.

State lives in `state/demo/` (configuration, store, digest); each demo starts from an empty
store so its figures are the same every time. Installed translation packages are kept.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.text import Text

from ..config import Config, load_config
from ..console import (
    Clock,
    command,
    graceful_stop,
    out_console,
    plain,
    plural,
    print_stories,
    progress,
    translation_hints,
)
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
    """The stories, the counts, and commands to paste next (as this program was called,
    with the demo's `--config`)."""
    console = out_console
    store = Store.open(config.store.path)
    try:
        counts = store.counts()
        stories = store.stories(limit=500)
        pending = store.pending_translation_by_language()
        old_news = store.old_news(config.stories.fresh_days)
        digest_line = _write_digest(config, store, state_dir)
    finally:
        store.close()
    console.print()
    print_stories(stories, Clock.of(config))
    console.print()
    console.print(
        f"[bold]{plural(counts['articles'], 'article')}[/] "
        f"({plural(counts['duplicates'], 'duplicate')}) · "
        f"[bold]{plural(counts['stories'], 'story', 'stories')}[/] · "
        f"[bold red]{counts['flagged']}[/] flagged (★)", highlight=False)
    console.print(plain(
        f"  {plural(old_news, 'relevant story', 'relevant stories')} not flagged: published "
        f"over {config.stories.fresh_days:g} days before first seen"), highlight=False)
    if report.errors:
        console.print(plain(f"  {plural(len(report.errors), 'page')} reported:"),
                      highlight=False)
    for error in report.errors:
        console.print(Text(f"    {error.source}: {error.url}: {error.error}", style="dim"),
                      highlight=False, soft_wrap=True)
    if pending:
        langs = ", ".join(f"{n} {lang}" for lang, n in pending.items())
        console.print(plain(f"\nTranslation pending for {langs} articles: no Argos package "
                            f"is installed in {config.translate.package_dir}."),
                      highlight=False)
        for line in translation_hints(config, sorted(pending)):
            console.print(plain(f"  {line}"), highlight=False, soft_wrap=True)
    console.print(plain(f"\nstore:   {config.store.path}\nconfig:  {config_path}"),
                  highlight=False, soft_wrap=True)
    if digest_line:
        console.print(plain(digest_line), highlight=False, soft_wrap=True)
    console.print("\nexplore: the stories, the sources' health, datasette on :8001")
    for args in (["stories"], ["sources"], ["serve"]):
        console.print(plain(f"  {command(*args, config=config)}"), highlight=False,
                      soft_wrap=True)
    (state_dir / "last-report.json").write_text(json.dumps(report.as_dict(),
                                                           ensure_ascii=False), "utf-8")
    return 0


def _write_digest(config: Config, store: Store, state_dir: Path) -> str:
    """The demo ends with the digest it would mail, written as an .eml file."""
    from ..digest import run_digest

    output = state_dir / "digest.eml"
    result = run_digest(config, store, since=None, output=output, send=False)
    return (f"digest:  {output} ({plural(result.story_count, 'story', 'stories')}; "
            "not sent — a preview)")
