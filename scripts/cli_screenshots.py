"""The README's terminal screenshots, taken from a real run in an 80-column terminal.

    .venv/bin/python scripts/cli_screenshots.py      # writes docs/run-after-a-failed-pass.png
                                                     # and docs/stories-80-columns.png

The bundled demo news web is served on 127.0.0.1 with one more source that cannot be
reached; the real command line runs twice (`tidings run`: the second pass names the
source that backs off, until when), then `tidings stories`. Each output, colours kept
(FORCE_COLOR), is recorded by rich as HTML and rendered to PNG by headless chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.terminal_theme import MONOKAI
from rich.text import Text

from pipeline.config import dump_toml
from pipeline.demo.site import DemoWeb

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
COLUMNS = 80


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def terminal(*args: str, cwd: Path) -> str:
    """What `tidings ARGS` shows in an 80-column colour terminal (stdout and stderr)."""
    env = {**os.environ, "COLUMNS": str(COLUMNS), "FORCE_COLOR": "1", "TERM": "xterm-256color",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("TIDINGS_CONFIG", None)  # `tidings` on PATH, as after activating the venv
    done = subprocess.run(["tidings", *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False, timeout=300)
    return done.stdout


# Latin from DejaVu Sans Mono (advance 0.602 em); Chinese from Noto Sans Mono CJK (advance
# 1 em) scaled so that one character is exactly two Latin columns, as in a terminal.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
@font-face {{ font-family: "cjk-2col"; src: local("Noto Sans Mono CJK SC");
  size-adjust: 120.42%; unicode-range: U+2E80-303F, U+3040-9FFF, U+AC00-D7AF, U+F900-FAFF,
  U+FE30-FE4F, U+FF00-FF60, U+FFE0-FFE6; }}
{stylesheet}
body {{ margin: 0; background: {background}; }}
pre {{ margin: 0; padding: 14px 16px; color: {foreground};
       font: 15px/1.35 "DejaVu Sans Mono", "cjk-2col", monospace; }}
</style></head><body><pre>{code}</pre></body></html>
"""


def shoot(name: str, command: str, output: str) -> None:
    """`output` as a terminal shows it, to docs/NAME.png. HTML, not rich's SVG: its SVG
    gives a Chinese character one column (rich 13), this font gives it exactly two."""
    console = Console(record=True, width=COLUMNS, force_terminal=True, color_system="truecolor",
                      file=open(os.devnull, "w"))  # noqa: SIM115 - recorded, not shown
    console.print(Text("$ ", style="bold green") + Text(command, style="bold"))
    console.print(Text.from_ansi(output.rstrip("\n")))
    page = DOCS / f"{name}.html"
    page.write_text(console.export_html(theme=MONOKAI, code_format=PAGE, inline_styles=True),
                    "utf-8")
    lines = output.count("\n") + 2
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is needed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={DOCS / name}.png",
                        f"--window-size={COLUMNS * 9 + 34},{30 + 20 * lines}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
    page.unlink()
    print(f"wrote docs/{name}.png")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, DemoWeb() as web:
        work = Path(tmp)
        sources = [*web.sources(), {"name": "corriere-auto", "kind": "feed", "every": "30m",
                                    "url": f"http://127.0.0.2:{closed_port()}/rss.xml"}]
        (work / "config").mkdir()
        (work / "config" / "tidings.toml").write_text(dump_toml({
            "store": {"path": "state/tidings.db"},
            "fetch": {"host_delay": 0.05, "retries": 0},
            "sources": sources}), "utf-8")
        terminal("run", cwd=work)  # the first pass: corriere-auto fails and backs off
        shoot("run-after-a-failed-pass", "tidings run", terminal("run", cwd=work))
        shoot("stories-80-columns", "tidings stories --limit 8",
              terminal("stories", "--limit", "8", cwd=work))


if __name__ == "__main__":
    main()
