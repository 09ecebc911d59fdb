"""Load and validate configuration once, into a frozen `Config`.

Order of precedence: packaged defaults (`pipeline/defaults.toml`), then the user's file,
then environment (`TIDINGS_STORE`, `TIDINGS_SMTP_PASSWORD`, `ARGOS_PACKAGES_DIR`,
`TIDINGS_ARGOS_INDEX`, `ARGOS_PACKAGE_INDEX`; no other module reads the environment), then
command-line flags. Every problem is a `ConfigError` that names the file, the key and what
is wrong, because a cron job's only feedback is that one line.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

DEFAULT_CONFIG = "config/tidings.toml"
SOURCE_KINDS = ("feed", "sitemap", "page")
SOURCE_KEYS = ("name", "url", "kind", "language", "every")  # of each [[sources]] table
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")
_INTERVAL = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


@dataclass(frozen=True)
class StoreConfig:
    path: Path


@dataclass(frozen=True)
class FetchConfig:
    user_agent: str
    timeout: float
    max_bytes: int
    host_delay: float
    robots: bool
    retries: int
    backoff: float
    max_retry_wait: float
    max_redirects: int
    max_articles: int
    concurrency: int
    min_text_chars: int
    workers: int = 0
    source_budget: float = 0.0  # seconds per source per pass (0: 20 × timeout)
    pass_budget: float = 0.0  # seconds per pass (0: 60 × timeout)
    max_pending: int = 5000  # links a source may keep waiting

    @property
    def source_seconds(self) -> float:
        return self.source_budget or 20 * self.timeout

    @property
    def pass_seconds(self) -> float:
        return self.pass_budget or 60 * self.timeout
    allow_private: bool = False


@dataclass(frozen=True)
class TranslateConfig:
    target: str
    languages: tuple[str, ...]
    package_dir: Path
    beam_size: int
    threads: int
    batch_tokens: int
    max_sentence_tokens: int
    index_url: str = ""


@dataclass(frozen=True)
class DigestConfig:
    to: tuple[str, ...]
    from_: str
    smtp_host: str
    smtp_port: int
    starttls: bool
    ssl: bool
    username: str
    password: str = field(repr=False)
    at: str
    timezone: str
    since: timedelta
    send_empty: bool
    grace: timedelta


@dataclass(frozen=True)
class StoriesConfig:
    window_days: float
    near_duplicate: float
    join: float
    fresh_days: float = 7.0  # flag only stories published within this of first seen


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str
    kind: str
    language: str | None
    every: timedelta


@dataclass(frozen=True)
class WatchConfig:
    name: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class TopicConfig:
    terms: tuple[str, ...]
    off_topic: tuple[str, ...]


@dataclass(frozen=True)
class Config:
    path: Path
    store: StoreConfig
    fetch: FetchConfig
    translate: TranslateConfig
    digest: DigestConfig
    stories: StoriesConfig
    topic: TopicConfig
    sources: tuple[SourceConfig, ...]
    watch: tuple[WatchConfig, ...]

    @property
    def state_dir(self) -> Path:
        """Runtime files (lock, logs, packages) live beside the store."""
        return self.store.path.parent

    @property
    def lock_path(self) -> Path:
        """The pass lock: one writer at a time (runs, translations, sent digests, the
        daemon's jobs)."""
        return self.state_dir / "tidings.lock"

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(str(self.path), "sources", f"no source named {name!r} (known: {known})")


def parse_interval(text: str) -> timedelta:
    """'30m', '1h', '1h30m', '45s', '2d' → timedelta; ValueError on anything else."""
    match = _INTERVAL.match(str(text))
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not an interval like 30m, 1h, 1h30m, 45s or 2d")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if delta.total_seconds() <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return delta


def toml_value(value: Any) -> str:
    """A scalar or an array as TOML (strings as JSON strings, which TOML reads alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def dump_toml(data: dict[str, Any]) -> str:
    """Write a configuration document: top-level keys, [tables] and [[arrays of tables]].
    For generated configurations (the demo, tests, benchmarks); `load_config` reads it."""
    top: list[str] = []
    rest: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rest += [f"[{key}]", *(f"{k} = {toml_value(v)}" for k, v in value.items()), ""]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                rest += [f"[[{key}]]", *(f"{k} = {toml_value(v)}" for k, v in item.items()),
                         ""]
        else:
            top.append(f"{key} = {toml_value(value)}")
    return "\n".join([*top, *([""] if top else []), *rest])


def default_config_path() -> Path:
    return Path(os.environ.get("TIDINGS_CONFIG") or DEFAULT_CONFIG)


def load_defaults() -> dict[str, Any]:
    text = resources.files("pipeline").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_config(path: str | Path | None = None, *, env: dict[str, str] | None = None) -> Config:
    """Read `path` (or the default), merge it over the packaged defaults and validate."""
    env = dict(os.environ) if env is None else env
    path = Path(path) if path is not None else default_config_path()
    if not path.exists():
        raise ConfigError(str(path), None, "file not found (set --config or $TIDINGS_CONFIG)")
    try:
        user = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot be read: {exc}") from exc
    return build_config(user, path=path, env=env)


def build_config(user: dict[str, Any], *, path: Path, env: dict[str, str]) -> Config:
    """Validate a parsed TOML document (merged over the defaults) into a `Config`."""
    defaults = load_defaults()
    v = _Validator(str(path))
    known = set(defaults) | {"sources"}
    for key in user:
        if key not in known:
            v.fail(key, f"unknown section (known: {', '.join(sorted(known))})")
    merged: dict[str, Any] = {}
    for section, values in defaults.items():
        if isinstance(values, dict):
            given = user.get(section, {})
            if not isinstance(given, dict):
                v.fail(section, "must be a table, like [" + section + "]")
            for key in given:
                if key not in values:
                    v.fail(f"{section}.{key}", f"unknown key (known: {', '.join(values)})")
            merged[section] = {**values, **given}
        else:
            merged[section] = user.get(section, values)
    merged["sources"] = user.get("sources", [])

    store_path = env.get("TIDINGS_STORE") or v.string(merged["store"], "store", "path")
    f = merged["fetch"]
    fetch = FetchConfig(
        user_agent=v.string(f, "fetch", "user_agent"),
        timeout=v.number(f, "fetch", "timeout", minimum=0.1, maximum=3600),
        max_bytes=v.integer(f, "fetch", "max_bytes", minimum=1024, maximum=1_000_000_000),
        host_delay=v.number(f, "fetch", "host_delay", minimum=0, maximum=3600),
        robots=v.boolean(f, "fetch", "robots"),
        retries=v.integer(f, "fetch", "retries", minimum=0, maximum=10),
        backoff=v.number(f, "fetch", "backoff", minimum=0, maximum=3600),
        max_retry_wait=v.number(f, "fetch", "max_retry_wait", minimum=0, maximum=3600),
        max_redirects=v.integer(f, "fetch", "max_redirects", minimum=0, maximum=30),
        max_articles=v.integer(f, "fetch", "max_articles", minimum=1, maximum=1_000_000),
        concurrency=v.integer(f, "fetch", "concurrency", minimum=1, maximum=1000),
        min_text_chars=v.integer(f, "fetch", "min_text_chars", minimum=1, maximum=1_000_000),
        workers=v.integer(f, "fetch", "workers", minimum=0, maximum=1024),
        source_budget=v.number(f, "fetch", "source_budget", minimum=0, maximum=86400),
        pass_budget=v.number(f, "fetch", "pass_budget", minimum=0, maximum=86400),
        max_pending=v.integer(f, "fetch", "max_pending", minimum=1, maximum=10_000_000),
        allow_private=v.boolean(f, "fetch", "allow_private"),
    )
    t = merged["translate"]
    package_dir = (v.string(t, "translate", "package_dir", empty_ok=True)
                   or env.get("ARGOS_PACKAGES_DIR")
                   or str(Path(store_path).parent / "argos-packages"))
    translate = TranslateConfig(
        target=v.language(v.string(t, "translate", "target"), "translate.target"),
        languages=tuple(v.language(lang, "translate.languages")
                        for lang in v.strings(t, "translate", "languages")),
        package_dir=Path(package_dir),
        beam_size=v.integer(t, "translate", "beam_size", minimum=1, maximum=64),
        threads=v.integer(t, "translate", "threads", minimum=0, maximum=1024),
        batch_tokens=v.integer(t, "translate", "batch_tokens", minimum=16,
                               maximum=1_000_000),
        max_sentence_tokens=v.integer(t, "translate", "max_sentence_tokens", minimum=8,
                                      maximum=100_000),
        index_url=(v.string(t, "translate", "index_url", empty_ok=True)
                   or env.get("TIDINGS_ARGOS_INDEX") or env.get("ARGOS_PACKAGE_INDEX") or ""),
    )
    d = merged["digest"]
    timezone = v.string(d, "digest", "timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        v.fail("digest.timezone", f"unknown time zone {timezone!r}", exc)
    at = v.string(d, "digest", "at")
    if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", at):
        v.fail("digest.at", f"{at!r} is not a time like 07:30")
    digest = DigestConfig(
        to=tuple(v.strings(d, "digest", "to")),
        from_=v.string(d, "digest", "from"),
        smtp_host=v.string(d, "digest", "smtp_host"),
        smtp_port=v.integer(d, "digest", "smtp_port", minimum=1, maximum=65535),
        starttls=v.boolean(d, "digest", "starttls"),
        ssl=v.boolean(d, "digest", "ssl"),
        username=v.string(d, "digest", "username", empty_ok=True),
        password=env.get("TIDINGS_SMTP_PASSWORD", ""),
        at=at,
        timezone=timezone,
        since=v.interval(d, "digest", "since"),
        send_empty=v.boolean(d, "digest", "send_empty"),
        grace=v.interval(d, "digest", "grace"),
    )
    s = merged["stories"]
    stories = StoriesConfig(
        window_days=v.number(s, "stories", "window_days", minimum=0.1, maximum=36500),
        near_duplicate=v.number(s, "stories", "near_duplicate", minimum=0, maximum=1),
        join=v.number(s, "stories", "join", minimum=0, maximum=1),
        fresh_days=v.number(s, "stories", "fresh_days", minimum=0),
    )
    tp = merged["topic"]
    topic = TopicConfig(terms=tuple(v.strings(tp, "topic", "terms")),
                        off_topic=tuple(v.strings(tp, "topic", "off_topic")))
    return Config(
        path=path,
        store=StoreConfig(path=Path(store_path)),
        fetch=fetch,
        translate=translate,
        digest=digest,
        stories=stories,
        topic=topic,
        sources=tuple(_sources(v, merged["sources"])),
        watch=tuple(_watch(v, merged["watch"])),
    )


def _sources(v: _Validator, items: Any) -> list[SourceConfig]:
    if not isinstance(items, list):
        v.fail("sources", "must be an array of tables: [[sources]]")
    out: list[SourceConfig] = []
    names: set[str] = set()
    allowed = set(SOURCE_KEYS)
    for i, item in enumerate(items):
        where = f"sources[{i}]"
        if not isinstance(item, dict):
            v.fail(where, "must be a table with name, url and kind")
        for key in item:
            if key not in allowed:
                v.fail(f"{where}.{key}", f"unknown key (known: {', '.join(sorted(allowed))})")
        name = v.string(item, where, "name")
        where = f"sources[{i}] ({name})"
        if name in names:
            v.fail(f"{where}.name", f"{name!r} is used by two sources")
        names.add(name)
        if "url" not in item:
            v.fail(f"{where}.url", "missing: every source needs the URL of its feed, "
                   "sitemap or listing page")
        url = v.string(item, where, "url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            v.fail(f"{where}.url", f"{url!r} is not an http(s) URL")
        kind = v.string(item, where, "kind") if "kind" in item else "feed"
        if kind not in SOURCE_KINDS:
            v.fail(f"{where}.kind", f"unknown kind {kind!r} (use one of: {', '.join(SOURCE_KINDS)})")
        language = item.get("language")
        if language is not None and not isinstance(language, str):
            v.fail(f"{where}.language", "must be a language code such as en, it or zh")
        every = v.interval(item, where, "every") if "every" in item else parse_interval("1h")
        out.append(SourceConfig(name=name, url=url, kind=kind, language=language, every=every))
    return out


def _watch(v: _Validator, items: Any) -> list[WatchConfig]:
    if not isinstance(items, list):
        v.fail("watch", "must be an array of tables: [[watch]]")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            v.fail(f"watch[{i}]", "must be a table with name and aliases")
        name = v.string(item, f"watch[{i}]", "name")
        aliases = v.strings(item, f"watch[{i}] ({name})", "aliases")
        if not aliases:
            v.fail(f"watch[{i}] ({name}).aliases", "empty: list the names to match, e.g. "
                   f'aliases = ["{name}"] (and its other spellings, 小米 for Xiaomi)')
        out.append(WatchConfig(name=name, aliases=tuple(dict.fromkeys([name, *aliases]))))
    return out


class _Validator:
    """Type checks that raise `ConfigError` naming the file and the dotted key."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, problem: str, cause: BaseException | None = None) -> NoReturn:
        raise ConfigError(self.path, key, problem) from cause

    def string(self, table: dict[str, Any], section: str, key: str, *,
               empty_ok: bool = False) -> str:
        value = table.get(key)
        if not isinstance(value, str):
            self.fail(f"{section}.{key}", f"must be a string, got {_kind(value)}")
        if not empty_ok and not value.strip():
            self.fail(f"{section}.{key}", "must not be empty")
        return value

    def strings(self, table: dict[str, Any], section: str, key: str) -> list[str]:
        value = table.get(key)
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            self.fail(f"{section}.{key}", f"must be an array of strings, got {_kind(value)}")
        return [x for x in value if x.strip()]

    def language(self, code: str, key: str) -> str:
        """A language code as Argos and langdetect write them: it, zh, en, pt-BR."""
        if not _LANGUAGE.fullmatch(code):
            self.fail(key, f"{code!r} is not a language code: write ISO 639-1 codes such as "
                      '"it", "zh" or "en"')
        return code

    def number(self, table: dict[str, Any], section: str, key: str, *,
               minimum: float | None = None, maximum: float | None = None) -> float:
        """A finite number within bounds: TOML allows `inf` and `nan`, and `timeout = inf`
        would hang a pass for ever, `host_delay = nan` would fail in the middle of one."""
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{section}.{key}", f"must be a number, got {_kind(value)}")
        if not math.isfinite(value):
            self.fail(f"{section}.{key}", f"must be a finite number, got {value}")
        if minimum is not None and value < minimum:
            self.fail(f"{section}.{key}", f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.fail(f"{section}.{key}", f"must be at most {maximum}, got {value}")
        return float(value)

    def integer(self, table: dict[str, Any], section: str, key: str, *,
                minimum: int | None = None, maximum: int | None = None) -> int:
        """A whole number within bounds (`retries = 2.5` is a mistake, not 2)."""
        value = self.number(table, section, key, minimum=minimum, maximum=maximum)
        if value != int(value):
            self.fail(f"{section}.{key}", f"must be a whole number, got {table.get(key)}")
        return int(value)

    def boolean(self, table: dict[str, Any], section: str, key: str) -> bool:
        value = table.get(key)
        if not isinstance(value, bool):
            self.fail(f"{section}.{key}", f"must be true or false, got {_kind(value)}")
        return value

    def interval(self, table: dict[str, Any], section: str, key: str) -> timedelta:
        value = table.get(key)
        if not isinstance(value, str):
            self.fail(f"{section}.{key}", f"must be an interval like \"30m\", got {_kind(value)}")
        try:
            return parse_interval(value)
        except ValueError as exc:
            self.fail(f"{section}.{key}", str(exc), exc)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]
