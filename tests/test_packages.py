"""Package files are strangers' archives: a bad one changes nothing (issue 12).

Each hostile file is built from a real test-built package, then installed over a working
it→en package kept in a package folder that also holds a store, as when
`translate.package_dir` is the state directory."""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config import TranslateConfig
from pipeline.errors import TranslateError
from pipeline.packages import install_from_file, list_packages, version_key

from .argos_fixture import build_tiny_package


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_package(tmp_path_factory.mktemp("pkg"), "it", "en", "1.0")


@pytest.fixture
def state(tmp_path: Path, good: Path) -> TranslateConfig:
    """A state folder used as package_dir, with a store in it and it→en installed."""
    config = TranslateConfig(target="en", languages=("it", "zh"), package_dir=tmp_path,
                             beam_size=1, threads=1, batch_tokens=1024,
                             max_sentence_tokens=100)
    (tmp_path / "tidings.db").write_bytes(b"SQLite format 3\x00 precious")
    install_from_file(config, good)
    return config


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")
            if p.is_file()}


def rewrite(good: Path, dest: Path, change: Callable[[str, bytes], tuple[str, bytes] | None]
            ) -> Path:
    """A copy of `good` with every member passed through `change` (None drops it)."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(dest, "w") as out:
        for item in src.infolist():
            changed = change(item.filename, src.read(item))
            if changed is not None:
                out.writestr(changed[0], changed[1])
    return dest


def metadata_change(**fields: object) -> Callable[[str, bytes], tuple[str, bytes]]:
    def change(name: str, data: bytes) -> tuple[str, bytes]:
        if name.endswith("/metadata.json"):
            meta = json.loads(data)
            meta.update(fields)
            data = json.dumps(meta).encode()
        return name, data
    return change


def dot_top(name: str, data: bytes) -> tuple[str, bytes]:
    return "./" + name.split("/", 1)[1], data


def declare_huge(path: Path, size: int) -> Path:
    """Claim in the central directory that model.bin unpacks to `size` bytes (a zip bomb's
    header; extraction is bounded by what the header declares)."""
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", raw, at + 28)[0]
        name = bytes(raw[at + 46:at + 46 + name_len])
        if name.endswith(b"model/model.bin"):
            struct.pack_into("<I", raw, at + 24, size)  # uncompressed size
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize(("label", "make", "message"), [
    ("top folder is '.'", lambda g, d: rewrite(g, d, dot_top), "top folder"),
    ("metadata type tokenizer", lambda g, d: rewrite(g, d, metadata_change(type="tokenizer")),
     "not a translation package"),
    ("5000-digit version", lambda g, d: rewrite(g, d, metadata_change(
        package_version="9" * 5000)), "not a version"),
    ("unpacks to 3.2 GB", lambda g, d: declare_huge(rewrite(g, d, lambda n, b: (n, b)),
                                                    3_200_000_000), "unpacks to"),
    ("a member outside the folder", lambda g, d: rewrite(
        g, d, lambda n, b: (n.replace("/model/", "/../model/"), b)), "top folder|unsafe"),
    ("to a language that is not the target", lambda g, d: rewrite(
        g, d, metadata_change(to_code="it", from_code="en")), "translate.target"),
])
def test_a_hostile_package_changes_nothing(state: TranslateConfig, good: Path,
                                           tmp_path_factory: pytest.TempPathFactory,
                                           label: str, make: Callable[[Path, Path], Path],
                                           message: str) -> None:
    before = snapshot(state.package_dir)
    hostile = make(good, tmp_path_factory.mktemp("hostile") / "bad.argosmodel")
    with pytest.raises(TranslateError, match=message):
        install_from_file(state, hostile)
    assert snapshot(state.package_dir) == before, label
    assert [(p.from_code, p.version) for p in list_packages(state)] == [("it", "1.0")]


def test_a_newer_package_is_swapped_in_whole(state: TranslateConfig,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    newer = build_tiny_package(tmp_path_factory.mktemp("newer"), "it", "en", "1.1")
    info = install_from_file(state, newer)
    assert [(p.from_code, p.version) for p in list_packages(state)] == [("it", "1.1")]
    assert info.path.parent == state.package_dir
    assert (state.package_dir / "tidings.db").read_bytes().endswith(b"precious")
    assert not [p for p in state.package_dir.iterdir() if p.name.startswith(".")]


def test_versions_compare_as_numbers_and_never_blow_up() -> None:
    assert version_key("1.10") > version_key("1.9")
    assert version_key("9" * 5000) == (999_999_999,)
