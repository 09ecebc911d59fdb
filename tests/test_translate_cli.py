"""The user's path through the command line: pending without a model, then install a
package from a file, translate, done — with the real CTranslate2 and SentencePiece."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .argos_fixture import build_tiny_package
from .conftest import tidings, write_config


@pytest.fixture(scope="module")
def tiny_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_package(tmp_path_factory.mktemp("argos"), "it", "en")


def test_pending_then_install_from_file_then_translate(tmp_path: Path, seed_site,
                                                       tiny_package: Path) -> None:
    cfg = write_config(tmp_path, [{"name": "seeds", "url": seed_site.url("/feed.xml"),
                                   "kind": "feed"}], translate={"threads": 1})
    db = tmp_path / "tidings.db"
    first = tidings("run", "--json", "--config", str(cfg)).json()
    assert first["translated"] == 0 and first["pending_translation"] == 1

    empty = tidings("models", "list", "--config", str(cfg))
    assert empty.code == 0 and "--file" in empty.stdout
    refused = tidings("translate", "--config", str(cfg))
    assert refused.code == 1 and "models install --file" in refused.stderr

    installed = tidings("models", "install", "--file", str(tiny_package), "--config", str(cfg))
    assert installed.code == 0, installed.stderr
    assert "it→en" in installed.stdout
    listed = tidings("models", "list", "--config", str(cfg))
    assert "translate-it_en" in listed.stdout and "1.0" in listed.stdout

    done = tidings("translate", "--json", "--config", str(cfg))
    assert done.code == 0, done.stderr
    assert done.json() == {"translated": 1, "pending_translation": 0}
    with sqlite3.connect(db) as conn:
        status, title_en, text_en, package, text = conn.execute(
            "SELECT translation_status, title_en, text_en, translation_package, text "
            "FROM articles WHERE lang = 'it'").fetchone()
        cached = conn.execute("SELECT COUNT(*) FROM translation_cache").fetchone()[0]
    assert status == "done" and title_en and text_en and package == "translate-it_en 1.0"
    assert "300.000" in text  # the original is kept beside the translation
    assert cached > 5
    again = tidings("translate", "--json", "--config", str(cfg))
    assert again.json() == {"translated": 0, "pending_translation": 0}


def test_install_without_file_offline_says_how(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, [], translate={"index_url": "http://127.0.0.1:9/index.json"})
    result = tidings("models", "install", "it", "--config", str(cfg))
    assert result.code == 1
    assert "cannot reach the Argos package index" in result.stderr
    assert "--file" in result.stderr


def test_a_pass_with_a_package_translates_its_new_articles(tmp_path: Path, seed_site,
                                                           tiny_package: Path) -> None:
    cfg = write_config(tmp_path, [{"name": "seeds", "url": seed_site.url("/feed.xml"),
                                   "kind": "feed"}], translate={"threads": 1})
    assert tidings("models", "install", "--file", str(tiny_package), "--config",
                   str(cfg)).code == 0
    report = tidings("run", "--json", "--config", str(cfg)).json()
    assert report["translated"] == 1 and report["pending_translation"] == 0
