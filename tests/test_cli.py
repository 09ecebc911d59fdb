"""Every command has help with an example, and the README's command reference matches."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import cli

from .conftest import REPO, tidings


def all_commands(group: click.Group = cli, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found += all_commands(command, full + " ")
        else:
            found.append((full, command))
    return found


@pytest.mark.parametrize(("name", "command"), all_commands(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output, f"tidings {name} --help shows no example"
    if name != "demo":
        assert "--config" in result.output


def test_readme_lists_every_command_and_no_others() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    documented = set(re.findall(r"^\| `tidings ([a-z]+(?: [a-z]+)?)", readme, re.MULTILINE))
    assert documented == {name for name, _ in all_commands()}


def test_python_dash_m_pipeline_is_tidings() -> None:
    result = tidings("--help")
    assert result.code == 0 and "Usage: tidings" in result.stdout


def test_unknown_command_is_bad_usage() -> None:
    result = tidings("frobnicate")
    assert result.code == 2 and "frobnicate" in result.stderr
