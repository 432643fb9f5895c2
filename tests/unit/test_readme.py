"""README reference parts cannot drift: commands vs --help; roster headers and template variables vs code."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from schulit.cli import cli
from schulit.configs.facts import empty_state
from schulit.configs.render import template_variables
from schulit.inventory import load_inventory
from schulit.rosters.csvreader import HEADER_ALIASES, _header_key
from tests.helpers.inventory import write_inventory

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
IGNORED = {"--help", "--version"}


def section(title: str) -> str:
    start = README.index(f"\n{title}\n")
    following = re.search(r"\n#{2,3} ", README[start + len(title) + 2 :])
    end = start + len(title) + 2 + following.start() if following else len(README)
    return README[start:end]


def commands() -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                if not sub.hidden:
                    walk(sub, [*path, name])
        else:
            found[" ".join(path)] = command

    walk(cli, [])
    return found


def options(command: click.Command) -> set[str]:
    names = set()
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            names.update(o for o in param.opts if o.startswith("--"))
    return names - IGNORED


def summary_entries() -> dict[str, str]:
    block = section("## Commands").split("```")[1]
    lines = block.strip("\n").splitlines()
    assert lines[0].startswith("schulit ")
    entries: dict[str, str] = {"": lines[0]}
    current = ""
    known = commands()
    for line in lines[1:]:
        if re.match(r"^  \S", line):
            words = line.split()
            path = next(
                (" ".join(words[:n]) for n in (2, 1) if " ".join(words[:n]) in known), " ".join(words[:2])
            )
            assert path not in entries, f"{path} listed twice"
            current = path
            entries[current] = line
        else:
            assert line.startswith("      "), f"continuation lines are indented by six spaces: {line!r}"
            entries[current] += " " + line.strip()
    return entries


def test_the_command_summary_lists_every_command_with_exactly_its_options() -> None:
    entries = summary_entries()
    known = commands()
    assert set(entries) - {""} == set(known), "README command summary and the CLI differ"
    for path, command in known.items():
        listed = set(re.findall(r"--[a-z][a-z-]*", entries[path]))
        assert listed == options(command), (
            f"schulit {path}: README {sorted(listed)}, --help {sorted(options(command))}"
        )
    top = set(re.findall(r"--[a-z][a-z-]*", entries[""]))
    assert top == options(cli)


def test_the_roster_columns_table_matches_the_reader() -> None:
    table = section("### Roster columns")
    rows = re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| (.+) \|$", table, re.MULTILINE)
    documented = {}
    for field, headers in rows:
        names = re.findall(r"`([^`]+)`", headers.split(" (")[0] if field != "source_id" else headers)
        documented[field] = {_header_key(name) for name in names}
    assert set(documented) == set(HEADER_ALIASES)
    for field, aliases in HEADER_ALIASES.items():
        assert documented[field] == set(aliases), field


@pytest.fixture
def variables(tmp_path: Path) -> dict:
    root = write_inventory(tmp_path / "inv", school_ids=("gs-a",))
    inventory = load_inventory(root)
    school = inventory.school("gs-a")
    from schulit.inventory import Server

    server = Server(name="fs1", school_id="gs-a", address="127.0.0.1", roles=("fileserver",))
    return template_variables(inventory, school, server, empty_state("gs-a"))


def test_the_template_variables_table_matches_the_renderer(variables: dict) -> None:
    table = section("### Template variables")
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", table, re.MULTILINE))
    assert set(rows) == set(variables)
    for name, value in variables.items():
        if isinstance(value, dict):
            keys = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^()]*\)", "", rows[name])))
            assert set(value) <= keys, f"{name}: {sorted(set(value) - keys)} not documented"
