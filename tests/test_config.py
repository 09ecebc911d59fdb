"""Bad configuration → exit 2 with a message naming the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import dump_toml as toml_document
from pipeline.config import load_config, parse_interval
from pipeline.errors import ConfigError

from .conftest import tidings

GOOD_SOURCE = {"name": "feed", "url": "http://127.0.0.1:9/feed.xml", "kind": "feed"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize(("document", "key", "problem"), [
    ({"sources": [{**GOOD_SOURCE, "kind": "podcast"}]}, "sources[0] (feed).kind", "podcast"),
    ({"sources": [{"name": "feed", "kind": "feed"}]}, "sources[0] (feed).url", "missing"),
    ({"sources": [{**GOOD_SOURCE, "every": "often"}]}, "sources[0] (feed).every", "often"),
    ({"sources": [{**GOOD_SOURCE, "url": "ftp://x/feed"}]}, "sources[0] (feed).url", "http"),
    ({"fetch": {"timeout": "fast"}, "sources": [GOOD_SOURCE]}, "fetch.timeout", "number"),
    ({"fetch": {"timout": 3}, "sources": [GOOD_SOURCE]}, "fetch.timout", "unknown key"),
    ({"digest": {"timezone": "Mars/Olympus"}, "sources": [GOOD_SOURCE]}, "digest.timezone",
     "Mars/Olympus"),
    ({"digest": {"at": "25:99"}, "sources": [GOOD_SOURCE]}, "digest.at", "25:99"),
    ({"sources": [GOOD_SOURCE, GOOD_SOURCE]}, "sources[1] (feed).name", "two sources"),
], ids=["unknown-kind", "missing-url", "bad-interval", "not-http", "wrong-type",
        "unknown-key", "bad-timezone", "bad-time", "duplicate-name"])
def test_bad_configuration_exits_2_naming_file_and_key(tmp_path: Path, document: dict,
                                                       key: str, problem: str) -> None:
    path = write(tmp_path, toml_document(document))
    result = tidings("run", "--config", str(path))
    assert result.code == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert str(path) in message and key in message and problem in message
    assert "Traceback" not in result.stderr


def test_bad_toml_exits_2_with_the_parser_position(tmp_path: Path) -> None:
    path = write(tmp_path, "[fetch]\ntimeout = = 3\n")
    result = tidings("run", "--config", str(path))
    assert result.code == 2
    assert str(path) in result.stderr and "not valid TOML" in result.stderr
    assert "line 2" in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = tidings("stories", "--config", str(tmp_path / "nope.toml"))
    assert result.code == 2 and "nope.toml" in result.stderr and "not found" in result.stderr


def test_environment_names_the_config_and_overrides_the_store(tmp_path: Path) -> None:
    path = write(tmp_path, toml_document({"store": {"path": str(tmp_path / "a.db")},
                                          "sources": [GOOD_SOURCE]}))
    store = tmp_path / "elsewhere" / "b.db"
    result = tidings("stories", env={"TIDINGS_CONFIG": str(path), "TIDINGS_STORE": str(store)})
    assert result.code == 0, result.stderr
    assert store.exists() and not (tmp_path / "a.db").exists()


def test_smtp_password_comes_from_the_environment_only(tmp_path: Path) -> None:
    path = write(tmp_path, toml_document({"sources": [GOOD_SOURCE]}))
    config = load_config(path, env={"TIDINGS_SMTP_PASSWORD": "s3cret"})
    assert config.digest.password == "s3cret"
    assert "s3cret" not in repr(config)
    with pytest.raises(ConfigError, match="password"):
        load_config(write(tmp_path, toml_document({"digest": {"password": "x"}})))


def test_user_file_overrides_only_the_keys_it_sets(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, toml_document({"fetch": {"timeout": 3},
                                                        "sources": [GOOD_SOURCE]})), env={})
    assert config.fetch.timeout == 3
    assert config.fetch.max_bytes == 5_000_000 and config.fetch.robots is True
    assert [w.name for w in config.watch] == ["Xiaomi", "BAIC"]
    assert config.sources[0].every.total_seconds() == 3600


def test_shipped_default_configuration_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config" / "tidings.toml", env={})
    languages = {s.language for s in config.sources}
    assert {"en", "it", "zh"} <= languages
    assert {s.kind for s in config.sources} == {"feed", "sitemap", "page"}
    aliases = {w.name: w.aliases for w in config.watch}
    assert "小米汽车" in aliases["Xiaomi"] and "北汽" in aliases["BAIC"]


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h", 3600), ("1h30m", 5400),
                                               ("45s", 45), ("2d", 172800)])
def test_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0m", "soon", "5", "1x"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


def test_readme_documents_every_configuration_key() -> None:
    from pipeline.config import load_defaults
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    defaults = load_defaults()
    keys = [f"{section}.{key}" for section, table in defaults.items()
            if isinstance(table, dict) for key in table]
    keys += ["sources.name", "sources.url", "sources.kind", "sources.language",
             "sources.every", "watch.name", "watch.aliases"]
    missing = [key for key in keys if f"`{key}`" not in readme]
    assert not missing, f"README does not document: {missing}"
