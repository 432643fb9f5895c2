"""Presets for German school software: a sample export of each (written from the programs' column lists, with
their encodings and date forms), read into the right id, names and class."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from schulit.errors import InventoryError
from schulit.records import RosterResult, RosterSource
from schulit.rosters import read_roster
from schulit.rosters.presets import PRESETS, check_preset
from tests.helpers.inventory import write_inventory


def read(path: Path, preset: str, role: str = "pupil", identity: str = "source-id") -> RosterResult:
    return read_roster(
        RosterSource(path=path, format="csv", role=role, preset=preset), "gs-test", identity=identity
    )


def people(result: RosterResult) -> list[tuple[str, str, str, str | None, date | None]]:
    assert [str(r) for r in result.rejected] == []
    return [(p.source_id, p.last_name, p.first_name, p.class_name, p.birth_date) for p in result.persons]


BORN = date(2015, 2, 1)


def test_schild_nrw_with_header_every_date_form_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "SchuelerExport.csv"
    path.write_bytes(
        (
            "Interne ID-Nummer;Nachname;Vorname;Klasse;Geburtsdatum\r\n"
            "4711;Müller;Jürgen;05a;01.02.2015\r\n"
            "4712;Weiß;Björn;5a;01022015\r\n"
            "4713;Öztürk;Ayşe;5b;20150201\r\n".replace("ş", "s")  # cp1252 has no ş
            + "4714;Nguyen;Thi;5b;2015-02-01\r\n"
        ).encode("cp1252")
    )
    assert people(read(path, "schild-nrw")) == [
        ("4711", "Müller", "Jürgen", "5a", BORN),
        ("4712", "Weiß", "Björn", "5a", BORN),
        ("4713", "Öztürk", "Ayse", "5b", BORN),
        ("4714", "Nguyen", "Thi", "5b", BORN),
    ]


def test_schild_nrw_without_header_row(tmp_path: Path) -> None:
    path = tmp_path / "schueler.txt"
    path.write_text("4711;05a;Müller;Jürgen;01.02.2015\n4712;5a;Weiß;Björn;20150201\n", encoding="utf-8")
    assert people(read(path, "schild-nrw")) == [
        ("4711", "Müller", "Jürgen", "5a", BORN),
        ("4712", "Weiß", "Björn", "5a", BORN),
    ]


def test_schild_nrw_teachers_guid_without_braces_else_kuerzel(tmp_path: Path) -> None:
    path = tmp_path / "lehrer.csv"
    path.write_text(
        "Kürzel;Nachname;Vorname;eindeutige Nummer (GUID)\n"
        "MÜL;Müller;Anja;{3F2504E0-4F89-11D3-9A0C-0305E82C3301}\n"
        "SCH;Schröder;Karl;\n",
        encoding="utf-8",
    )
    assert people(read(path, "schild-nrw", role="teacher")) == [
        ("3F2504E0-4F89-11D3-9A0C-0305E82C3301", "Müller", "Anja", None, None),
        ("SCH", "Schröder", "Karl", None, None),
    ]
    headerless = tmp_path / "lehrer-ohne-kopf.csv"
    headerless.write_text("MÜL;Müller;Anja;{3F2504E0-4F89-11D3-9A0C-0305E82C3301}\n", encoding="utf-8")
    assert (
        people(read(headerless, "schild-nrw", role="teacher"))[0][0] == "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    )


def test_asv_bw_skips_leavers_and_unplaced_pupils(tmp_path: Path) -> None:
    path = tmp_path / "asv.csv"
    path.write_text(
        "Schueler-ID;Familienname;Rufname;Vornamen;Klasse;Geburtsdatum\n"
        "A1;Schmid;Lena;Lena Marie;7b;01.02.2015\n"
        "A2;Häberle;Tim;Tim Ole;_Neuaufnahmen;01.02.2015\n"
        "A3;Maier;Ida;Ida;Abgang 2026;01.02.2015\n"
        "A4;Wöhrle;;Paul Jakob;7b;01.02.2015\n",  # no Rufname: the Vornamen column
        encoding="utf-8",
    )
    assert people(read(path, "asv-bw")) == [
        ("A1", "Schmid", "Lena", "7b", BORN),
        ("A4", "Wöhrle", "Paul Jakob", "7b", BORN),
    ]


def test_edoo_sys_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "edoo.csv"
    path.write_bytes(
        "\ufeffSchüler_Stamm_ID;Familienname;Vornamen;Klasse;Klassenleitung;Geburtsdatum\n"
        "E-1;Kälin;Mara;BFS-IT1;Frau Roth;01.02.2009\n".encode()
    )
    result = read(path, "edoo-sys")
    assert people(result) == [("E-1", "Kälin", "Mara", "bfs-it1", date(2009, 2, 1))]
    assert result.persons[0].class_label == "BFS-IT1"  # kept as the school writes it


def test_danis(tmp_path: Path) -> None:
    path = tmp_path / "danis.csv"
    path.write_bytes(
        (
            "SchuelerIdentNummer;SchuelerNachname;SchuelerRufname;SchuelerGeburtsdatum;GruppeBezeichnung\r\n"
            "D-77;Janßen;Frieda;01.02.2015;2c\r\n"
        ).encode("cp1252")
    )
    assert people(read(path, "danis")) == [("D-77", "Janßen", "Frieda", "2c", BORN)]


def test_webuntis_tab_separated_student_file(tmp_path: Path) -> None:
    path = tmp_path / "Student_2026.csv"
    path.write_text(
        "id\tname\tlongName\tforeName\tbirthDate\tklasse.name\n1234\tMUELE\tMüller\tLea\t20150201\t3a\n",
        encoding="utf-8",
    )
    assert people(read(path, "webuntis")) == [("1234", "Müller", "Lea", "3a", BORN)]


def test_iserv_groups_column_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "iserv.csv"
    path.write_text(
        "Import-ID;Vorname;Nachname;Klasse;Gruppen\nI-9;Emil;Brandt;6c;Chor,Schach\n", encoding="utf-8"
    )
    assert people(read(path, "iserv")) == [("I-9", "Brandt", "Emil", "6c", None)]


def test_unknown_preset_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown preset 'schild' \(known: asv-bw, danis, edoo-sys, iserv,"):
        check_preset("schild")
    root = write_inventory(tmp_path)
    school = root / "schools" / "gs-a.toml"
    text = school.read_text(encoding="utf-8")
    school.write_text(
        text.replace('role = "pupil"', 'role = "pupil"\npreset = "schild"', 1), encoding="utf-8"
    )
    from schulit.inventory import load_inventory

    with pytest.raises(InventoryError, match="preset: unknown preset 'schild'"):
        load_inventory(root)
    assert set(PRESETS) == {"schild-nrw", "asv-bw", "edoo-sys", "danis", "webuntis", "iserv"}


def test_roster_override_takes_a_preset_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    from schulit.accounts.service import roster_override
    from schulit.errors import SchulitError
    from schulit.inventory import load_inventory

    inventory = load_inventory(write_inventory(tmp_path / "inv"))
    export = tmp_path / "SchuelerExport.csv"
    export.write_text("4711;5a;Müller;Jürgen;01022015\n", encoding="utf-8")
    school_id, sources = roster_override(inventory, f"gs-a={export}", preset="schild-nrw")
    assert school_id == "gs-a" and [(s.path, s.preset, s.role) for s in sources] == [
        (export, "schild-nrw", "pupil")
    ]
    assert people(read_roster(sources[0], "gs-a")) == [("4711", "Müller", "Jürgen", "5a", BORN)]
    with pytest.raises(SchulitError, match=r"--preset: unknown preset 'sophomorix' \(known: asv-bw"):
        roster_override(inventory, f"gs-a={export}", preset="sophomorix")
