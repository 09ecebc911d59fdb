"""Argos Translate packages: list the installed ones, install from a file or the index.

An Argos package (``.argosmodel``) is a zip of one directory holding ``metadata.json``,
``sentencepiece.model`` and ``model/`` (a CTranslate2 model). Installed packages live in
``translate.package_dir``, one directory each; `list_packages` reads their
``metadata.json`` directly (argostranslate would create directories under $HOME).

A package file is a stranger's archive. `install_from_file` checks every member name and
type, the metadata (type, language codes, version) and the unpacked size before it writes
anything, unpacks into a temporary folder beside the installed packages, and only then
swaps it in; a bad file changes nothing. The index and its downloads go through httpx,
bounded in time and size.
"""

from __future__ import annotations

import json
import logging
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import TranslateConfig
from .errors import IndexUnreachable, ModelMissing, TranslateError

if TYPE_CHECKING:  # httpx only to install from the index: a pass's workers never load it
    import httpx

log = logging.getLogger("tidings.packages")

#: Where Argos Translate publishes its package index (``translate.index_url``, else
#: ``$TIDINGS_ARGOS_INDEX`` or ``$ARGOS_PACKAGE_INDEX``, overrides it: see pipeline.config).
DEFAULT_INDEX_URL = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/"
INSTALL_HINT = "tidings models install --file PKG.argosmodel"

MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 2 * 1024**3  # real Argos packages unpack to 100–400 MB
MAX_DOWNLOAD_BYTES = 2 * 1024**3
MAX_INDEX_BYTES = 20 * 1024**2
REQUIRED = ("metadata.json", "model/model.bin", "sentencepiece.model")
_TOP = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LANG = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")
_VERSION = re.compile(r"\d{1,9}(?:\.\d{1,9}){0,5}")


@dataclass(frozen=True)
class PackageInfo:
    """An installed Argos package, as `tidings models list` shows it."""

    name: str  # argospm name, e.g. "translate-it_en"
    from_code: str
    to_code: str
    version: str
    size_bytes: int
    path: Path

    @property
    def key(self) -> str:
        """``"name version"``: recorded on articles and keys the translation cache."""
        return f"{self.name} {self.version}"


def list_packages(config: TranslateConfig) -> list[PackageInfo]:
    """Installed translation packages in ``config.package_dir``, sorted by language pair.

    A directory without readable, valid metadata is skipped with a warning."""
    root = Path(config.package_dir)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            info = _read_package(path)
        except TranslateError as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda p: (p.from_code, p.to_code, version_key(p.version)))


def version_key(version: str) -> tuple[int, ...]:
    """"1.9" < "1.10"; at most six parts of at most nine digits count."""
    return tuple(int(part[:9]) for part in re.findall(r"\d+", version)[:6]) or (0,)


def _check_metadata(metadata: Any, where: str) -> tuple[str, str, str] | None:
    """(from_code, to_code, version) of valid translation metadata; None when the package
    is of another type; TranslateError when it is malformed."""
    if not isinstance(metadata, dict):
        raise TranslateError(f"{where}: package metadata is not a JSON object")
    if metadata.get("type", "translate") != "translate":
        return None
    from_code, to_code = metadata.get("from_code"), metadata.get("to_code")
    if not isinstance(from_code, str) or not _LANG.fullmatch(from_code) \
            or not isinstance(to_code, str) or not _LANG.fullmatch(to_code):
        raise TranslateError(f"{where}: from_code and to_code must be language codes like 'it'")
    version = str(metadata.get("package_version") or "0")
    if not _VERSION.fullmatch(version):
        raise TranslateError(f"{where}: package_version {version[:40]!r} is not a version "
                             "like 1.9")
    return from_code, to_code, version


def _read_package(path: Path) -> PackageInfo | None:
    """The package at `path`, None when it is not a translation package."""
    meta_path = path / "metadata.json"
    try:
        metadata = json.loads(meta_path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise TranslateError(f"{meta_path}: cannot read package metadata: {exc}") from exc
    checked = _check_metadata(metadata, str(meta_path))
    if checked is None:
        return None
    from_code, to_code, version = checked
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return PackageInfo(name=f"translate-{from_code}_{to_code}", from_code=from_code,
                       to_code=to_code, version=version, size_bytes=size, path=path)


def _same_language(a: str, b: str) -> bool:
    return a.lower().replace("_", "-").split("-")[0] == b.lower().replace("_", "-").split("-")[0]


def _check_archive(archive: zipfile.ZipFile, file: Path,
                   target: str) -> tuple[str, tuple[str, str, str]]:
    """The archive's top folder and metadata, after every member was checked."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise TranslateError(f"{file}: not an Argos package ({len(members)} members)")
    tops = {m.filename.split("/", 1)[0] for m in members}
    if len(tops) != 1:
        raise TranslateError(
            f"{file}: not an Argos package (expected one top folder, found {len(tops)})")
    top = tops.pop()
    if not _TOP.fullmatch(top) or top in {".", ".."}:
        raise TranslateError(f"{file}: unsafe top folder name {top[:60]!r}")
    total = 0
    for m in members:
        name = m.filename
        parts = name.split("/")
        if "\\" in name or any(p in {".", ".."} for p in parts) or name.startswith("/") \
                or "" in parts[:-1]:
            raise TranslateError(f"{file}: unsafe path in archive: {name[:120]!r}")
        kind = stat.S_IFMT(m.external_attr >> 16)  # 0: a zip tool that records no type
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise TranslateError(f"{file}: {name[:120]!r} is neither a file nor a folder")
        total += m.file_size
    if total > MAX_UNPACKED_BYTES:
        raise TranslateError(f"{file}: unpacks to {total / 1e9:.1f} GB, more than the "
                             f"{MAX_UNPACKED_BYTES / 1e9:.1f} GB a package may take")
    names = {m.filename for m in members}
    for required in REQUIRED:
        if f"{top}/{required}" not in names:
            raise TranslateError(
                f"{file}: not a usable Argos package: {required} is missing "
                "(tidings needs a CTranslate2 model and a SentencePiece model)")
    meta_info = archive.getinfo(f"{top}/metadata.json")
    if meta_info.file_size > 1024**2:
        raise TranslateError(f"{file}: metadata.json is larger than 1 MB")
    try:
        metadata = json.loads(archive.read(meta_info))
    except ValueError as exc:
        raise TranslateError(f"{file}: metadata.json is not JSON: {exc}") from exc
    checked = _check_metadata(metadata, f"{file}: metadata.json")
    if checked is None:
        raise TranslateError(f"{file}: not a translation package (metadata type is "
                             f"{str(metadata.get('type'))[:40]!r})")
    if not _same_language(checked[1], target):
        raise TranslateError(f"{file}: translates {checked[0]}→{checked[1]}, but "
                             f"translate.target is {target!r}")
    return top, checked


def install_from_file(config: TranslateConfig, file: Path) -> PackageInfo:
    """Unpack a local ``.argosmodel`` into ``config.package_dir`` (no network).

    The package replaces any installed package for the same language pair, in one
    rename; a file that is not a valid package raises `TranslateError` and changes
    nothing."""
    file = Path(file)
    if not file.is_file():
        raise TranslateError(f"{file}: no such file")
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise TranslateError(f"{file}: not an Argos package (not a zip archive)") from exc
    root = Path(config.package_dir)
    with archive:
        top, (from_code, to_code, _version) = _check_archive(archive, file, config.target)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TranslateError(f"cannot create {root}: {exc}") from exc
        with tempfile.TemporaryDirectory(dir=root, prefix=".install-") as tmp:
            staged = Path(tmp) / "new"
            try:
                archive.extractall(staged)
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                raise TranslateError(f"{file}: cannot unpack: {exc}") from exc
            info = _read_package(staged / top)
            if info is None:  # checked above; a race with the file would land here
                raise TranslateError(f"{file}: not a translation package")
            dest = root / f"translate-{from_code}_{to_code}"
            replaced = [old.path for old in list_packages(config)
                        if (old.from_code, old.to_code) == (from_code, to_code)]
            if dest.exists() and dest not in replaced:
                replaced.append(dest)
            trash = Path(tmp) / "old"
            trash.mkdir()
            moved: list[tuple[Path, Path]] = []
            try:
                for n, old_path in enumerate(replaced):
                    aside = trash / str(n)
                    old_path.rename(aside)
                    moved.append((aside, old_path))
                (staged / top).rename(dest)
            except OSError as exc:
                for aside, old_path in reversed(moved):  # put the old packages back
                    aside.rename(old_path)
                raise TranslateError(f"cannot install into {root}: {exc}") from exc
    installed = _read_package(dest)
    if installed is None:
        raise TranslateError(f"{dest}: not a translation package")
    log.info("installed %s (%s→%s) in %s", installed.key, from_code, to_code, dest)
    return installed


@dataclass(frozen=True)
class _Available:
    from_code: str
    to_code: str
    version: str
    links: tuple[str, ...]


def _index_entries(index: Any) -> list[_Available]:
    out = []
    for entry in index if isinstance(index, list) else []:
        if not isinstance(entry, dict) or entry.get("type", "translate") != "translate":
            continue
        links = entry.get("links")
        try:
            checked = _check_metadata(entry, "index entry")
        except TranslateError:
            continue
        if checked is None or not isinstance(links, list):
            continue
        out.append(_Available(checked[0], checked[1], checked[2],
                              tuple(u for u in links if isinstance(u, str)
                                    and u.startswith(("https://", "http://")))))
    return out


def install_from_index(config: TranslateConfig, langs: Iterable[str], *,
                       timeout: float = 30.0,
                       transport: httpx.BaseTransport | None = None) -> list[PackageInfo]:
    """Download and install the lang→target package of each of `langs` from the index
    (``config.index_url``, else the public one; the index directory or its
    ``index.json``). Raises `IndexUnreachable` when the index or a download cannot be
    fetched and `ModelMissing` when it lists no package for a pair."""
    import httpx
    url = config.index_url or DEFAULT_INDEX_URL
    if not url.endswith(".json"):
        url = url.rstrip("/") + "/index.json"
    with httpx.Client(timeout=timeout, follow_redirects=True, transport=transport) as client:
        try:
            index = json.loads(_download(client, url, MAX_INDEX_BYTES))
        except (httpx.HTTPError, ValueError, TranslateError) as exc:
            raise IndexUnreachable(
                f"cannot reach the Argos package index ({url}: {exc}); download the "
                f".argosmodel elsewhere and run: {INSTALL_HINT}") from exc
        if not isinstance(index, list):
            raise IndexUnreachable(f"{url} is not an Argos package index (not a JSON list); "
                                   f"download the .argosmodel elsewhere and run: {INSTALL_HINT}")
        available = _index_entries(index)
        installed = []
        for lang in langs:
            candidates = [p for p in available if p.from_code == lang
                          and _same_language(p.to_code, config.target)]
            if not candidates:
                raise ModelMissing(f"the Argos index ({url}) has no package for "
                                   f"{lang}→{config.target}")
            best = max(candidates, key=lambda p: version_key(p.version))
            installed.append(_download_and_install(config, client, best))
    return installed


def _download(client: httpx.Client, url: str, limit: int, into: Any = None) -> bytes:
    """GET `url`, at most `limit` bytes, into the file `into` (or returned)."""
    chunks: list[bytes] = []
    size = 0
    with client.stream("GET", url) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise TranslateError(f"{url} is larger than {limit // 1024**2} MB")
            if into is not None:
                into.write(chunk)
            else:
                chunks.append(chunk)
    return b"".join(chunks)


def _download_and_install(config: TranslateConfig, client: httpx.Client,
                          available: _Available) -> PackageInfo:
    import httpx
    root = Path(config.package_dir)
    root.mkdir(parents=True, exist_ok=True)
    errors = []
    for link in available.links:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".download-",
                                         suffix=".argosmodel") as tmp:
            try:
                _download(client, link, MAX_DOWNLOAD_BYTES, into=tmp)
                tmp.flush()
            except (httpx.HTTPError, TranslateError, OSError) as exc:
                errors.append(f"{link}: {exc}")
                continue
            return install_from_file(config, Path(tmp.name))
    raise IndexUnreachable(
        f"cannot download {available.from_code}→{available.to_code} "
        f"({'; '.join(errors) or 'no links in the index'}); download the .argosmodel "
        f"elsewhere and run: {INSTALL_HINT}")
