"""Presets for the exports of German school administration software (``preset = "<name>"`` on a roster).

A preset says how one program writes its CSV export: delimiter and encoding (unless the inventory sets
them), the header names of each field (tried before the generic German ones), the date forms, whether the
header row may be missing (then the columns are in ``headerless`` order), which rows to skip, and how to
clean the id. The README has a table of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schulit.rosters.common import DATE_FORMATS


@dataclass(frozen=True)
class Preset:
    """How one program's export looks."""

    name: str
    software: str
    aliases: dict[str, tuple[str, ...]]  # field -> header names, folded (lower case, ä → ae, _ → space)
    delimiter: str = "auto"
    encoding: str = "auto"
    date_formats: tuple[str, ...] = DATE_FORMATS
    headerless: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> fields in column order
    skip_class: re.Pattern[str] | None = None  # pupils of such classes are skipped (left, not yet placed)
    strip_braces: bool = False  # "{3F2504E0-...}" → "3F2504E0-..."

    def clean_id(self, value: str) -> str:
        value = value.strip()
        if self.strip_braces and value.startswith("{") and value.endswith("}"):
            return value[1:-1].strip()
        return value


PRESETS = {
    preset.name: preset
    for preset in (
        Preset(
            name="schild-nrw",
            software="SchILD-NRW (Nordrhein-Westfalen)",
            aliases={
                "source_id": ("interne id-nummer", "eindeutige nummer (guid)"),
                "alt_id": ("kuerzel",),  # a teacher's short code: the id where there is no GUID
                "class_name": ("klasse",),
                "last_name": ("nachname",),
                "first_name": ("vorname",),
                "birth_date": ("geburtsdatum",),
                "email": ("e-mail", "e-mail (dienstlich)"),
            },
            delimiter=";",
            date_formats=("%d.%m.%Y", "%d%m%Y", "%Y%m%d", "%Y-%m-%d"),
            headerless={
                "pupil": ("source_id", "class_name", "last_name", "first_name", "birth_date"),
                "teacher": ("alt_id", "last_name", "first_name", "source_id"),  # alt_id: Kürzel
            },
            strip_braces=True,
        ),
        Preset(
            name="asv-bw",
            software="ASV-BW (Baden-Württemberg)",
            aliases={
                "source_id": ("schueler-id", "schueler id", "lehrer-id", "lehrer id"),
                "last_name": ("familienname",),
                "first_name": ("rufname", "vornamen"),
                "class_name": ("klasse",),
                "birth_date": ("geburtsdatum",),
            },
            skip_class=re.compile(r"^(_|Abgang )"),
        ),
        Preset(
            name="edoo-sys",
            software="edoo.sys (Baden-Württemberg)",
            aliases={
                "source_id": ("schueler stamm id", "lehrer stamm id"),
                "last_name": ("familienname",),
                "first_name": ("vornamen", "rufname"),
                "class_name": ("klasse",),
                "birth_date": ("geburtsdatum",),
            },
            encoding="utf-8-sig",
        ),
        Preset(
            name="danis",
            software="DaNiS (Niedersachsen)",
            aliases={
                "source_id": ("schueleridentnummer", "schuelerid", "lehreridentnummer", "lehrerid"),
                "first_name": ("schuelerrufname", "lehrervorname"),
                "last_name": ("schuelernachname", "lehrernachname"),
                "birth_date": ("schuelergeburtsdatum",),
                "class_name": ("gruppebezeichnung",),
            },
        ),
        Preset(
            name="webuntis",
            software="WebUntis (Student_*.csv / Teacher_*.csv)",
            aliases={
                "source_id": ("id",),
                "last_name": ("longname",),
                "first_name": ("forename",),
                "birth_date": ("birthdate",),
                "class_name": ("klasse.name",),
                "email": ("address.email", "email"),
            },
            delimiter="\t",
            date_formats=("%Y%m%d", "%d.%m.%Y", "%Y-%m-%d"),
        ),
        Preset(
            name="iserv",
            software="IServ (CSV import)",
            aliases={
                "source_id": ("import-id", "importid"),
                "first_name": ("vorname",),
                "last_name": ("nachname",),
                "class_name": ("klasse",),
            },
        ),
    )
}


def check_preset(name: str) -> Preset:
    """The preset called ``name``; ValueError listing the known ones otherwise."""
    preset = PRESETS.get(name)
    if preset is None:
        raise ValueError(f"unknown preset {name!r} (known: {', '.join(sorted(PRESETS))})")
    return preset
