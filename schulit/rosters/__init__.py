"""Roster readers: a school's export (CSV, OneRoster, a peer's format) → persons + rejected rows."""

from __future__ import annotations

from schulit.records import RosterResult, RosterSource
from schulit.rosters.common import RosterError, RowCollector
from schulit.rosters.namekey import NameKeys


def read_roster(
    source: RosterSource,
    school_id: str,
    *,
    identity: str = "source-id",
    name_keys: NameKeys | None = None,
    require_class: bool = False,
) -> RosterResult:
    """Read one roster source of ``school_id``; raise RosterError if it cannot be read at all.

    ``name_keys``: the county's secret for name+birthdate schools (without it, keys valid for this read
    only); ``require_class``: reject pupils without a class.
    """
    collector = RowCollector(
        str(source.path), school_id, identity, name_keys=name_keys, require_class=require_class
    )
    if source.format == "oneroster":
        from schulit.rosters.oneroster import read_oneroster

        return read_oneroster(source, collector)
    if source.format in ("sophomorix", "ucs-school"):
        from schulit.rosters.peers import read_sophomorix, read_ucs_school

        reader = read_sophomorix if source.format == "sophomorix" else read_ucs_school
        return reader(source, collector)
    from schulit.rosters.csvreader import read_csv_roster

    return read_csv_roster(source, collector)


__all__ = ["RosterError", "read_roster"]
