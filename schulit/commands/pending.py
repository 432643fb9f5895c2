"""Shared helper for commands whose implementation has not landed yet."""

from __future__ import annotations

from schulit.errors import SchulitError


def not_implemented(command: str) -> SchulitError:
    """The error a command that is not built yet raises (exit 1)."""
    return SchulitError(f"'{command}' is not implemented yet")
