"""Every command of SPEC §6 exists and describes itself."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from schulit.cli import cli

COMMANDS = [
    ["inventory", "check"],
    ["directory", "init"],
    ["accounts", "plan"],
    ["accounts", "sync"],
    ["accounts", "list"],
    ["accounts", "show"],
    ["accounts", "find"],
    ["accounts", "reset-password"],
    ["accounts", "rename"],
    ["accounts", "lock"],
    ["accounts", "unlock"],
    ["accounts", "purge"],
    ["passwords", "letters"],
    ["configs", "render"],
    ["configs", "push"],
    ["term-start"],
    ["nightly"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_describes_command(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    docstring_line = result.output.split("\n\n")[1].strip()
    assert len(docstring_line) > 15, result.output
