"""The README is checked against the code, in the spirit of `cog` in sqlite-utils: a
command, an option of a command, a config key or its default that the README shows
differently from `--help` and `pipeline/defaults.toml` fails here (issue 15, point 7)."""

from __future__ import annotations

import re
import shlex
from typing import Any

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.config import SOURCE_KEYS, load_defaults, toml_value

from .conftest import REPO
from .test_cli import all_commands

README = (REPO / "README.md").read_text("utf-8")
ROWS = re.findall(r"^\| `tidings ([^`]+)` \|", README, re.MULTILINE)
ALWAYS = {"--config", "--help"}  # said once for every command, above the table


def documented() -> dict[str, str]:
    """Command name → what the README's table writes after it (options, arguments)."""
    commands = {name for name, _ in all_commands()}
    out = {}
    for row in ROWS:
        words = row.split()
        name = " ".join(words[:2]) if " ".join(words[:2]) in commands else words[0]
        out[name] = row[len(name):].strip()
    return out


def test_the_table_has_every_command_once() -> None:
    assert sorted(documented()) == sorted(name for name, _ in all_commands())
    assert len(ROWS) == len(documented())


@pytest.mark.parametrize(("name", "command"), all_commands(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_each_commands_options_are_those_of_its_help(name: str,
                                                     command: click.Command) -> None:
    shown = documented()[name]
    in_readme = dict(re.findall(r"\[(--[a-z-]+)(?: ([^\]]+))?\]", shown))
    options = {p.opts[-1]: p for p in command.params if isinstance(p, click.Option)
               and p.opts[-1] not in ALWAYS}
    assert set(in_readme) == set(options), f"README's `tidings {name}` row vs --help"
    for flag, value in in_readme.items():
        option = options[flag]
        if option.is_flag:
            assert not value, f"{flag} takes no value"
            continue
        assert value, f"{flag} needs a value in the README"
        if option.show_default and option.default is not None:
            assert value == str(option.default), f"{flag}: --help says {option.default}"
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    assert bool(arguments) == bool(re.search(r"(^|\s)[A-Z]+…", shown)), name


def test_the_commands_without_config_are_the_ones_named() -> None:
    named = re.search(r"Every command but ([^\n]+?) takes `--config FILE`", README)
    assert named, "the README says which commands take --config"
    exceptions = set(re.findall(r"`([a-z ]+)`", named.group(1)))
    without = {name for name, command in all_commands()
               if "--config" not in {o for p in command.params for o in p.opts}}
    assert exceptions == without


def test_the_global_options_are_documented() -> None:
    head = README.split("| command | does |")[0]
    for param in cli.params:
        assert any(f"`{opt}" in head for opt in param.opts), param.opts
    assert "`-vv`" in head


def example_commands() -> list[tuple[str, list[str]]]:
    """Every `tidings …` command in the README's code blocks and in backticks."""
    found = []
    blocks = re.findall(r"```(?:sh|cron|ini)\n(.*?)```", README, re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    lines += re.findall(r"`((?:\.venv/bin/)?tidings [^`]+)`", README)
    for line in lines:
        line = re.sub(r"(?<= )…(?= |$)", "run", line.split(" #")[0]).replace("…", "x")
        words = shlex.split(line.replace("&&", ";").split(";")[-1].split(">>")[0])
        starts = [i for i, w in enumerate(words) if w == "tidings" or w.endswith("/tidings")
                  or (w == "pipeline" and words[i - 1] == "-m")]
        if starts and len(words) > starts[0] + 1 and not words[starts[0] + 1].startswith(
                "COMMAND"):
            found.append((line, words[starts[0] + 1:]))
    return found


def test_the_examples_are_commands_that_parse() -> None:
    """Each example's words reach a command that knows its options (`--help` at the end
    stops click after it has checked them, before it would run anything)."""
    examples = example_commands()
    assert len(examples) > 15
    for line, args in examples:
        if "[" in " ".join(args):  # a synopsis of the table: checked above
            continue
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, f"README example does not parse: {line}: {result.output}"


def flat_defaults() -> dict[str, Any]:
    return {f"{section}.{key}": value for section, table in load_defaults().items()
            if isinstance(table, dict) for key, value in table.items()}


def readme_keys() -> dict[str, str]:
    return dict(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| ([^|]+) \|", README, re.MULTILINE))


def test_every_config_key_and_its_default_are_in_the_readme() -> None:
    defaults, shown = flat_defaults(), readme_keys()
    assert set(shown) == set(defaults), "README's configuration table vs defaults.toml"
    for key, value in defaults.items():
        cell = shown[key].strip()
        literal = re.fullmatch(r"`([^`]*)`", cell)
        if literal is None:  # prose: only for long lists, which the table cannot hold
            assert isinstance(value, list) and len(value) > 4, f"{key}: give the default"
            continue
        expected = value if isinstance(value, str) and value else toml_value(value)
        assert literal.group(1) == expected, f"{key}: README {cell}, defaults.toml {value!r}"


def test_the_source_keys_are_those_the_configuration_reads() -> None:
    assert set(re.findall(r"`sources\.([a-z_]+)`", README)) == set(SOURCE_KEYS)


def test_help_defaults_name_the_defaults_file() -> None:
    """`(default: digest.since, 24h)` in a --help must say what defaults.toml says."""
    defaults = flat_defaults()
    for name, command in all_commands():
        for param in command.params:
            for key, value in re.findall(r"default: ([a-z_]+\.[a-z_]+), ([^)]+)\)",
                                         getattr(param, "help", None) or ""):
                assert str(defaults[key]) == value, f"tidings {name} {param.opts}"
    for key, value in re.findall(r"`([a-z_]+\.[a-z_]+)`, ([0-9]+[smhd])\)", README):
        assert str(defaults[key]) == value, key


@pytest.mark.parametrize(("name", "command"), all_commands(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_each_help_example_is_one_command_that_parses(name: str,
                                                      command: click.Command) -> None:
    shown = CliRunner().invoke(cli, [*name.split(), "--help"]).output
    body = shown.split("Example:", 1)[1].split("\n\n", 1)[0]
    for line in body.strip().splitlines():
        words = shlex.split(line)
        assert words[0] == "tidings" and words.count("tidings") == 1, f"merged: {line}"
        assert words[1:1 + len(name.split())] == name.split(), line
        result = CliRunner().invoke(cli, [*words[1:], "--help"])
        assert result.exit_code == 0, f"tidings {name} --help: {line}: {result.output}"


def test_the_log_file_is_said_to_be_beside_the_store() -> None:
    """It is written to the store's folder (`state/` only with the default store.path)."""
    daemon_help = CliRunner().invoke(cli, ["daemon", "--help"]).output
    for text in (README, " ".join(daemon_help.split())):
        for match in re.finditer(r"tidings\.log", text):
            around = " ".join(text[max(0, match.start() - 60):match.end() + 60].split())
            assert "beside the store" in around, around
