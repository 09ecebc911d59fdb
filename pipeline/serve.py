"""`tidings serve`: the store in datasette, read-only, with tidings' metadata and queries.

The store is opened the way datasette opens any mutable file (`?mode=ro`), not as
immutable: passes and the daemon keep writing to it (WAL), and an immutable open would
show stale or torn pages. Only on a read-only mount, where nobody can write, is it served
as immutable (SQLite could not make the -shm file otherwise). Read-only is enforced three
times over: datasette refuses any statement but SELECT in its SQL box, no canned query
writes, and the bundled plugin (`pipeline/datasette/plugins/`) sets `PRAGMA query_only` on
every connection to the store, so not even a write plugin installed in the environment can
change it. Under WAL readers
never block the writer, and the writer never blocks readers.

Everything datasette is given lives in `pipeline/datasette/`: `metadata.yml` (descriptions,
facets, canned queries), the plugin (Chinese-aware search with phrases and OR, the Atom
feed of new developments, links from stories to their articles) and two templates (column
notes folded away, the SQL editor opening on new developments). See docs/datasette.md.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path
from types import FrameType, ModuleType

from .config import Config
from .errors import TidingsError
from .store import Store

#: The name the store is served under (/tidings/...), whatever its file is called.
DATABASE = "tidings"
#: datasette settings: how long one query may run, rows per page, cell truncation, no
#: suggested facets above the data.
SETTINGS = {
    "sql_time_limit_ms": 3000,
    "default_page_size": 50,
    "max_returned_rows": 1000,
    "facet_time_limit_ms": 500,
    "truncate_cells_html": 300,
    "allow_download": "off",
    "suggest_facets": "off",  # the configured facets are the useful ones
}


def datasette_dir() -> Path:
    """The packaged datasette files (metadata, plugins, templates)."""
    return Path(str(resources.files("pipeline").joinpath("datasette")))


def load_plugin() -> ModuleType:
    """The tidings datasette plugin as a module, for code that needs its functions
    outside datasette (the canned queries' SQL functions in tests and benchmarks)."""
    spec = importlib.util.spec_from_file_location(
        "tidings_plugin", datasette_dir() / "plugins" / "tidings_plugin.py")
    if spec is None or spec.loader is None:
        raise ImportError("the tidings datasette plugin is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def datasette_command(config: Config, *, host: str = "127.0.0.1", port: int = 8001,
                      immutable: bool = False) -> list[str]:
    """The argv that serves the store of `config` in datasette, read-only, on host:port
    (`immutable`: a file nothing can change, on a read-only mount)."""
    files = datasette_dir()
    store = ["-i", str(config.store.path)] if immutable else [str(config.store.path)]
    argv = [sys.executable, "-m", "datasette", "serve", *store,
            "--host", host, "--port", str(port),
            "--metadata", str(files / "metadata.yml"),
            "--plugins-dir", str(files / "plugins"),
            "--template-dir", str(files / "templates")]
    for name, value in SETTINGS.items():
        argv += ["--setting", name, str(value)]
    return argv


def prepare_store(config: Config) -> bool:
    """Check the store before serving it; returns whether datasette must open it as
    immutable. An existing store is only read (no migration, no WAL switch: one that needs
    a migration is a `StoreError` saying to run `tidings run` once); a missing one is
    created, so datasette finds every table of the metadata before the first pass. On a
    read-only mount SQLite cannot make the -shm file a live read needs: nobody can write
    there either, so the file is served as immutable."""
    path = config.store.path
    if not path.exists():
        Store.open(path).close()
        return False
    Store.open_readonly(path).close()
    return not os.access(path.parent, os.W_OK) and not Path(f"{path}-shm").exists()


def port_taken(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (another server holds it …), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return str(exc)
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def serve(config: Config, *, host: str, port: int) -> int:
    """Run datasette in the foreground until it is interrupted; returns 0 after Ctrl-C or
    SIGTERM, 1 when datasette failed. A port already taken raises `TidingsError` before
    anything claims to serve."""
    immutable = prepare_store(config)
    problem = port_taken(host, port)
    if problem:
        raise TidingsError(f"cannot serve on {host}:{port}: {problem} (another `tidings "
                           "serve`?); choose another port with --port")
    print(f"tidings: serving {config.store.path} on http://{host}:{port}/{DATABASE} "
          "(read-only; Ctrl-C stops)", file=sys.stderr, flush=True)
    proc = subprocess.Popen(datasette_command(config, host=host, port=port,
                                              immutable=immutable))
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:  # the terminal sent SIGINT to datasette as well
                stopping = True
                try:
                    code = proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
                break
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return 0 if stopping or code == 0 else 1
