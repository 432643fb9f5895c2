"""Roster readers: a school's export (CSV or OneRoster) → normalised persons + rejected rows (SPEC §3)."""

from __future__ import annotations

from schulit.records import RosterResult, RosterSource
from schulit.rosters.common import RosterError


def read_roster(source: RosterSource, school_id: str, *, identity: str = "source-id") -> RosterResult:
    """Read one roster source of ``school_id``; raise RosterError if it cannot be read at all."""
    if source.format == "oneroster":
        from schulit.rosters.oneroster import read_oneroster

        return read_oneroster(source, school_id, identity=identity)
    from schulit.rosters.csvreader import read_csv_roster

    return read_csv_roster(source, school_id, identity=identity)


__all__ = ["RosterError", "read_roster"]
