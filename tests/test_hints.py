"""Every command tidings prints for a person to paste runs, as printed (issue 15, point 2).

The demo is run the way `make demo` runs it (`.venv/bin/tidings demo`); each command it
prints is then run exactly as printed, from the same folder: `serve` is started and
stopped, `models install LANG…` goes to an Argos index served on 127.0.0.1 (the only
change: `$TIDINGS_ARGOS_INDEX`), and ``PKG.argosmodel`` is a package built by the test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.demo.server import Resource, SiteServer
from pipeline.textwidth import width

from .argos_fixture import build_tiny_package
from .conftest import REPO, tidings, write_config
from .test_serve import free_port, stop, wait_ready

SCRIPT = Path(sys.executable).parent / "tidings"  # the console script pip made


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("argos")
    return {lang: build_tiny_package(folder / lang, lang, "en") for lang in ("it", "zh")}


@pytest.fixture(scope="module")
def argos_index(packages: dict[str, Path]) -> Iterator[str]:
    """An Argos package index on 127.0.0.1 listing the test's packages."""
    server = SiteServer().start()
    entries = []
    for lang, path in packages.items():
        server.add(f"/{path.name}", Resource(path.read_bytes(),
                                             content_type="application/zip"))
        entries.append({"type": "translate", "from_code": lang, "to_code": "en",
                        "package_version": "1.0", "links": [server.url(f"/{path.name}")]})
    server.add("/index.json", Resource(json.dumps(entries).encode(),
                                       content_type="application/json"))
    try:
        yield server.url("/index.json")
    finally:
        server.stop()


def printed_commands(text: str, program: str) -> list[list[str]]:
    """Every command in `text`: from the program's name to the end of its line."""
    found = re.findall(rf"(?:^|\s){re.escape(program)}( [^\n]*)?$", text, re.MULTILINE)
    return [shlex.split(program + rest) for rest in found]


def run_as_printed(argv: list[str], *, env: dict[str, str] | None = None,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    full.update(env or {})
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=full,
                          timeout=timeout, check=False)


def serve_as_printed(argv: list[str]) -> None:
    port = free_port()
    proc = subprocess.Popen([*argv, "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
    finally:
        stop(proc)


def test_every_command_the_demo_prints_runs_as_printed(tmp_path: Path, packages: dict[str, Path],
                                                       argos_index: str) -> None:
    program = os.path.relpath(SCRIPT, REPO)  # `make demo` runs .venv/bin/tidings
    demo = run_as_printed([program, "demo", "--state", str(tmp_path / "demo")])
    assert demo.returncode == 0, demo.stderr
    on_path = shutil.which("tidings")  # with the environment activated, plain `tidings`
    if on_path and Path(on_path).absolute() == SCRIPT.absolute():
        program = "tidings"
    commands = [c for c in printed_commands(demo.stdout, program)
                if len(c) > 1 and not c[1].endswith(":")]  # not the "tidings demo:" title
    verbs = [" ".join(c[1:3]) for c in commands]
    assert verbs == ["models install", "models install", "translate --config",
                     "stories --config", "sources --config", "serve --config"], commands
    for argv in commands:
        assert argv[0] == program and argv[-2:] == ["--config",
                                                    str(tmp_path / "demo" / "tidings.toml")]
        if argv[1] == "serve":
            serve_as_printed(argv)
            continue
        argv = [str(packages["it"]) if a == "PKG.argosmodel" else a for a in argv]
        done = run_as_printed(argv, env={"TIDINGS_ARGOS_INDEX": argos_index})
        assert done.returncode == 0, (argv, done.stderr)
    translated = run_as_printed([program, "translate", "--json", "--config",
                                 str(tmp_path / "demo" / "tidings.toml")])
    assert json.loads(translated.stdout)["pending_translation"] == 0  # both were installed


def interpreter(word: str) -> Path:
    """The file a pasted interpreter name or path runs, from the repository's folder."""
    found = shutil.which(word) if "/" not in word else str(REPO / word)
    return Path(found or word).absolute()


def test_hints_name_python_dash_m_and_the_config_when_called_so(tmp_path: Path,
                                                               packages: dict[str, Path]
                                                               ) -> None:
    cfg = write_config(tmp_path, [{"name": "x", "url": "http://127.0.0.1:9/f.xml"}],
                       translate={"index_url": "http://127.0.0.1:9/index.json"})
    listed = tidings("models", "list", "--config", str(cfg))
    refused = tidings("translate", "--config", str(cfg))
    offline = tidings("models", "install", "it", "--config", str(cfg))  # the index is down
    assert refused.code == 1 and offline.code == 1
    shown = listed.stdout + refused.stderr + offline.stderr
    commands = [shlex.split(c) for c in re.findall(r"(\S+ -m pipeline [^\n]*?)\.?$", shown,
                                                   re.MULTILINE)]
    assert len(commands) == 4, shown  # online and offline; translate's; the index's
    for argv in commands:
        assert interpreter(argv[0]) == Path(sys.executable).absolute(), argv
        assert argv[-2:] == ["--config", str(cfg)]
    for argv in (c for c in commands if "--file" in c):
        argv = [str(packages["zh"]) if a == "PKG.argosmodel" else a for a in argv]
        done = run_as_printed(argv)
        assert done.returncode == 0, (argv, done.stderr)
    wide = tidings("models", "list", "--config", str(cfg), env={"COLUMNS": "80"})
    assert "translate-zh_en" in wide.stdout
    assert all(width(line) <= 80 for line in wide.stdout.splitlines()), wide.stdout
