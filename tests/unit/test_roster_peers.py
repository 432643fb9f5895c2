"""Migration formats: sophomorix (linuxmuster.net 7) and UCS@school files, ids and logins kept."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from schulit.records import RosterResult, RosterSource
from schulit.rosters import read_roster


def read(path: Path, format: str, role: str = "mixed") -> RosterResult:
    return read_roster(RosterSource(path=path, format=format, role=role), "gym-a")


def rows(result: RosterResult) -> list[tuple]:
    return [
        (p.role, p.source_id, p.login, p.last_name, p.first_name, p.class_name, p.birth_date)
        for p in result.persons
    ]


def test_sophomorix_students_csv_cp1252_comments_and_both_date_forms(tmp_path: Path) -> None:
    path = tmp_path / "students.csv"
    path.write_bytes(
        (
            "# exported by sophomorix-check\r\n"
            "5a;Müller;Jürgen;1.2.2015;4711;muellerj;\r\n"
            "5a;Weiß;Björn;01.02.15;;weissb;\r\n"  # no unid: the login is the id
            "10b;Yilmaz;Can;3.4.10;4713;;\r\n"  # no login: schulit makes one
        ).encode("cp1252")
    )
    result = read(path, "sophomorix")
    assert [str(r) for r in result.rejected] == []
    assert rows(result) == [
        ("pupil", "4711", "muellerj", "Müller", "Jürgen", "5a", date(2015, 2, 1)),
        ("pupil", "weissb", "weissb", "Weiß", "Björn", "5a", date(2015, 2, 1)),
        ("pupil", "4713", None, "Yilmaz", "Can", "10b", date(2010, 4, 3)),
    ]


def test_sophomorix_teachers_and_extrastudents(tmp_path: Path) -> None:
    teachers = tmp_path / "teachers.csv"
    teachers.write_text("lehrer;Schröder;Anja;3.6.71;schroeder;T-9;\n", encoding="utf-8")
    assert rows(read(teachers, "sophomorix")) == [
        ("teacher", "T-9", "schroeder", "Schröder", "Anja", None, date(1971, 6, 3))  # "71" is 1971
    ]
    extra = tmp_path / "extrastudents.csv"
    extra.write_text("gast;Novak;Petr;1.9.2008;novakp;\n", encoding="utf-8")
    assert rows(read(extra, "sophomorix")) == [
        ("pupil", "novakp", "novakp", "Novak", "Petr", "gast", date(2008, 9, 1))
    ]


def test_sophomorix_utf16_is_guessed(tmp_path: Path) -> None:
    path = tmp_path / "students.csv"
    path.write_bytes("7c;Шевченко;Олександр;1.2.2013;99;shevchenko;\n".encode("utf-16"))
    assert rows(read(path, "sophomorix"))[0][1:5] == ("99", "shevchenko", "Шевченко", "Олександр")


def test_ucs_school_utf16_le_tab_separated_with_school_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "import.csv"
    text = (
        "Schule\tBenutzertyp\tVorname\tNachname\tKlassen\tEMail\trecord_uid\tBenutzername\r\n"
        "gym-a\tschueler\tLea\tMüller\tgym-a-5a,gym-a-Chor\t\tR-1\tlea.mueller\r\n"
        "gym-a\tlehrer\tAnja\tSchröder\tgym-a-5a\ta.schroeder@example.org\tR-2\tschroeder\r\n"
        "gym-a\tstaff\tHans\tHausmeister\t\t\tR-3\thausmeister\r\n"
        "obs-b\tschueler\tOle\tAndere\tobs-b-6b\t\tR-4\tole.andere\r\n"
        "gym-a\tschueler\tNora\tNeu\t\t\tR-5\t\r\n"
    )
    path.write_bytes(text.encode("utf-16-le"))
    result = read(path, "ucs-school")
    assert [str(r) for r in result.rejected] == []
    assert rows(result) == [
        ("pupil", "R-1", "lea.mueller", "Müller", "Lea", "5a", None),
        ("teacher", "R-2", "schroeder", "Schröder", "Anja", None, None),
        ("pupil", "R-5", None, "Neu", "Nora", None, None),
    ]
    assert result.persons[1].email == "a.schroeder@example.org"


def test_ucs_school_unusable_login_is_a_rejected_row(tmp_path: Path) -> None:
    path = tmp_path / "import.csv"
    path.write_text(
        "Schule,Benutzertyp,Vorname,Nachname,Klassen,record_uid,Benutzername\n"
        "gym-a,student,Lea,Müller,5a,R-1,lea müller\n",
        encoding="utf-8",
    )
    result = read(path, "ucs-school")
    assert [str(r) for r in result.rejected] == [f"{path}:2: login: not a usable login: 'lea müller'"]
