"""Exceptions that carry an exit code (SPEC §6) and a message meant for the admin."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES_PENDING = 2
EXIT_SAFETY_LIMIT = 3
EXIT_HOSTS_FAILED = 4


class SchulitError(Exception):
    """An error the CLI reports as one clear line on stderr, exiting with ``exit_code``."""

    exit_code = EXIT_ERROR


class InventoryError(SchulitError):
    """The inventory is invalid; the message names file and key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class DirectoryError(SchulitError):
    """The directory could not be reached or refused an operation."""


class SafetyLimitError(SchulitError):
    """A run would deactivate or delete more accounts than the configured limit allows."""

    exit_code = EXIT_SAFETY_LIMIT
