"""Roster readers (SPEC §3): CSV exports in their usual encodings/dialects, OneRoster 1.1/1.2, matching.

All inputs are generated in tmp_path; no servers.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pytest

from schulit.records import RosterPerson, RosterResult, RosterSource
from schulit.rosters import RosterError, csvreader, read_roster
from schulit.rosters.matching import edit_distance, probable_renames
from schulit.rosters.namekey import NameKeys

REJECT_FORMAT = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<field>[a-z_]+): (?P<problem>.+)$")


# --------------------------------------------------------------------------------------------- helpers


def write(tmp_path: Path, data: bytes | str, name: str = "schueler.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def read_csv(
    path: Path,
    role: str = "pupil",
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    columns: Mapping[str, str] | None = None,
    identity: str = "source-id",
    require_class: bool = False,
) -> RosterResult:
    source = RosterSource(
        path=path, format="csv", role=role, encoding=encoding, delimiter=delimiter, columns=columns or {}
    )
    return read_roster(
        source, "gs-test", identity=identity, name_keys=NameKeys(b"k" * 32), require_class=require_class
    )


def table(result: RosterResult) -> list[tuple[str, str, str, str | None]]:
    return [(p.source_id, p.last_name, p.first_name, p.class_name) for p in result.persons]


def rejects(result: RosterResult) -> list[str]:
    return [str(r) for r in result.rejected]


# ----------------------------------------------------------------------------------------- encodings


def test_windows_1252_is_detected(tmp_path: Path) -> None:
    text = "ID;Nachname;Vorname;Klasse\r\n1;Müller;Jürgen;5a\r\n2;Weiß;Björn;5b\r\n3;Öztürk;Ärne;6c\r\n"
    path = write(tmp_path, text.encode("cp1252"))
    result = read_csv(path)
    assert table(result) == [
        ("1", "Müller", "Jürgen", "5a"),
        ("2", "Weiß", "Björn", "5b"),
        ("3", "Öztürk", "Ärne", "6c"),
    ]
    assert result.rejected == []


def test_utf8_with_bom(tmp_path: Path) -> None:
    # The BOM must not end up in the first header cell, or "ID" would not be recognised.
    path = write(tmp_path, b"\xef\xbb\xbf" + "ID;Nachname;Vorname;Klasse\n7;Nguyễn;Ayşe;5a\n".encode())
    assert table(read_csv(path)) == [("7", "Nguyễn", "Ayşe", "5a")]


def test_plain_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "ID;Nachname;Vorname;Klasse\n1;Wąsowski;Łucja;5a\n2;Weiß;Ğül;5a\n")
    assert table(read_csv(path)) == [("1", "Wąsowski", "Łucja", "5a"), ("2", "Weiß", "Ğül", "5a")]


def test_forced_encoding_beats_detection(tmp_path: Path) -> None:
    # These bytes are valid UTF-8 ("Müller"), so detection picks UTF-8; a school set to cp1252 gets cp1252.
    data = "ID;Nachname;Vorname;Klasse\n1;Müller;Anna;5a\n".encode()
    path = write(tmp_path, data)
    assert read_csv(path).persons[0].last_name == "Müller"
    assert read_csv(path, encoding="cp1252").persons[0].last_name == "MÃ¼ller"


def test_forced_latin1_and_utf8_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "ID;Nachname;Vorname;Klasse\n1;Weiß;Jörg;5a\n".encode("latin-1"), "a.csv")
    assert table(read_csv(path, encoding="iso-8859-1")) == [("1", "Weiß", "Jörg", "5a")]
    bom = write(tmp_path, "\ufeffID;Nachname;Vorname;Klasse\n1;Weiß;Jörg;5a\n".encode(), "b.csv")
    assert table(read_csv(bom, encoding="utf-8")) == [("1", "Weiß", "Jörg", "5a")]


def test_forced_encoding_that_does_not_fit_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "ID;Nachname;Vorname;Klasse\n1;Müller;Anna;5a\n".encode("cp1252"))
    with pytest.raises(RosterError, match=rf"^{re.escape(str(path))}: cannot decode as utf-8"):
        read_csv(path, encoding="utf-8")
    with pytest.raises(RosterError, match=rf"^{re.escape(str(path))}: cannot decode as no-such-codec"):
        read_csv(path, encoding="no-such-codec")


def test_bom_followed_by_non_utf8_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfID;Nachname;Vorname;Klasse\n1;M\xfcller;Anna;5a\n")
    with pytest.raises(RosterError, match=r"UTF-8 BOM but is not UTF-8") as info:
        read_csv(path)
    assert str(info.value).startswith(str(path))


# -------------------------------------------------------------------------------------------- dialect


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    rows = [["Interne ID-Nummer", "Nachname", "Vorname", "Klasse"], ["1", "Krause", "Tjark", "1a"]]
    path = write(tmp_path, "".join(delimiter.join(row) + "\n" for row in rows))
    assert table(read_csv(path)) == [("1", "Krause", "Tjark", "1a")]


def test_sniffing_ignores_delimiters_inside_quotes(tmp_path: Path) -> None:
    # Four commas outside quotes, six semicolons inside: the delimiter is ",".
    text = '"ID","Nachname","Vorname","Klasse","Notiz (a;b;c;d;e;f;g)"\n"1","Müller; Sohn","Anna","5a",""\n'
    assert table(read_csv(write(tmp_path, text))) == [("1", "Müller; Sohn", "Anna", "5a")]


def test_explicit_delimiter_overrides_sniffing(tmp_path: Path) -> None:
    text = "ID,Nachname,Vorname,Klasse,Notiz (a;b;c;d;e;f)\n1,Krause,Tjark,1a,x\n"
    path = write(tmp_path, text)
    with pytest.raises(RosterError, match="no column for"):
        read_csv(path)  # sniffing picks ";" here: five of them against four commas
    assert table(read_csv(path, delimiter=",")) == [("1", "Krause", "Tjark", "1a")]


def test_quoted_fields_with_delimiters_and_newlines(tmp_path: Path) -> None:
    text = (
        "ID;Nachname;Vorname;Klasse;Bemerkung\r\n"
        '1;"Meyer; Schmidt";"Anna";5a;"zwei\r\nZeilen; mit Trenner"\r\n'
        '2;"Said ""Sam""";Omar;5a;\r\n'
        '3;"Lü\nders";Malte;5b;\r\n'
        '4;Koch;Layla;5b;"noch\neine\nNotiz"\r\n'
        "5;Penner;Elias;5c;\r\n"
    )
    result = read_csv(write(tmp_path, text))
    assert table(result) == [
        ("1", "Meyer; Schmidt", "Anna", "5a"),
        ("2", 'Said "Sam"', "Omar", "5a"),
        ("4", "Koch", "Layla", "5b"),
        ("5", "Penner", "Elias", "5c"),
    ]
    # A newline inside a name is refused; lines count physical lines, so later rows keep their real numbers.
    assert [p.origin.rsplit(":", 1)[1] for p in result.persons] == ["2", "4", "7", "10"]
    path = tmp_path / "schueler.csv"
    assert rejects(result) == [f"{path}:5: last_name: contains control characters (newline, NUL, ...)"]


def test_crlf_blank_lines_and_trailing_delimiters(tmp_path: Path) -> None:
    text = (
        "\r\n\r\n"
        "Interne ID-Nummer;Nachname;Vorname;Klasse;Geburtsdatum;\r\n"
        "\r\n"
        "4000001;Krause;Tjark;1A;23.04.2017;\r\n"
        "   \r\n"
        ";;;;;\r\n"
        "4000002;Lüders;Ella;01b;01.02.2017;\r\n"
    )
    result = read_csv(write(tmp_path, text))
    assert table(result) == [("4000001", "Krause", "Tjark", "1a"), ("4000002", "Lüders", "Ella", "1b")]
    assert [p.origin.rsplit(":", 1)[1] for p in result.persons] == ["5", "8"]
    assert [p.birth_date for p in result.persons] == [date(2017, 4, 23), date(2017, 2, 1)]
    assert result.rejected == []


def test_old_mac_cr_only_line_endings(tmp_path: Path) -> None:
    # Excel's "CSV (Macintosh)" writes a lone CR between records.
    text = "ID;Nachname;Vorname;Klasse\r1;Krause;Tjark;1a\r\r2;Koch;;1a\r"
    result = read_csv(write(tmp_path, text))
    assert table(result) == [("1", "Krause", "Tjark", "1a")]
    assert rejects(result) == [f"{tmp_path / 'schueler.csv'}:4: first_name: empty name"]


def test_form_feed_line_before_the_header_does_not_shift_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "\x0c\nID;Nachname;Vorname;Klasse\n1;Krause;;1a\n")
    assert rejects(read_csv(path)) == [f"{path}:3: first_name: empty name"]


# -------------------------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "id_header", ["Interne ID-Nummer", "Schüler-ID", "ID", "Schülernummer", "SCHÜLER-ID"]
)
@pytest.mark.parametrize(("last_header", "first_header"), [("Nachname", "Vorname"), ("Name", "Rufname")])
def test_german_headers_without_mapping(
    tmp_path: Path, id_header: str, last_header: str, first_header: str
) -> None:
    header = ";".join([id_header, last_header, first_header, "Klasse", "Geburtsdatum"])
    for encoding in ("utf-8", "cp1252"):
        path = write(tmp_path, f"{header}\n42;Öztürk;Ayşe;05a;28.05.2015\n".encode(encoding, "replace"))
        result = read_csv(path, encoding=encoding)
        assert [(p.source_id, p.last_name, p.class_name, p.birth_date) for p in result.persons] == [
            ("42", "Öztürk", "5a", date(2015, 5, 28))
        ]


def test_rufname_is_preferred_over_vorname(tmp_path: Path) -> None:
    text = "Schüler-ID\tNachname\tRufname\tVorname\tKlasse\n1\tSchulz\tLea\tLea Sophie\t7b\n"
    assert table(read_csv(write(tmp_path, text))) == [("1", "Schulz", "Lea", "7b")]


def test_explicit_column_mapping(tmp_path: Path) -> None:
    text = "Kennung;Familienname;Rufname;Lerngruppe;Geb.;ID\n4000512;Çelik;Noah;1a;18.02.2018;999\n"
    columns = {
        "source_id": "Kennung",
        "last_name": "Familienname",
        "first_name": "Rufname",
        "class_name": "Lerngruppe",
        "birth_date": "Geb.",
    }
    result = read_csv(write(tmp_path, text.encode("cp1252")), encoding="cp1252", columns=columns)
    assert table(result) == [("4000512", "Çelik", "Noah", "1a")]  # the mapping wins over the "ID" alias
    assert result.persons[0].birth_date == date(2018, 2, 18)


def test_mapping_to_a_missing_column_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "\n\nKennung;Familienname;Rufname;Lerngruppe\n1;A;B;1a\n")
    with pytest.raises(RosterError) as info:
        read_csv(path, columns={"source_id": "Schüler-Nr"})
    assert str(info.value).startswith(f"{path}:3: source_id: column 'Schüler-Nr'")


def test_missing_required_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "Nachname;Vorname;Klasse\nKrause;Tjark;1a\n")
    with pytest.raises(RosterError) as info:
        read_csv(path)
    assert str(info.value).startswith(f"{path}:1: source_id: no column for source_id")
    # Teachers need no class column, pupils do.
    teachers = write(tmp_path, "ID;Nachname;Vorname\nP1;Krause;Tjark\n", "lehrer.csv")
    assert [p.role for p in read_csv(teachers, role="teacher").persons] == ["teacher"]
    with pytest.raises(RosterError, match="class_name"):
        read_csv(teachers, role="pupil")


def test_mixed_roster_with_role_column(tmp_path: Path) -> None:
    text = "ID;Nachname;Vorname;Klasse;Rolle\n1;A;Anna;5a;Schüler\n2;B;Bert;;Lehrer\n3;C;Carl;;Hausmeister\n"
    path = write(tmp_path, text)
    result = read_csv(path, role="mixed")
    assert [(p.source_id, p.role, p.class_name) for p in result.persons] == [
        ("1", "pupil", "5a"),
        ("2", "teacher", None),
    ]
    assert rejects(result) == [f"{path}:4: role: unknown role 'Hausmeister'"]


# ------------------------------------------------------------------------------------------ rejections


def test_rejected_rows_are_reported_as_file_line_field_problem(tmp_path: Path) -> None:
    text = (
        "ID;Nachname;Vorname;Klasse;Geburtsdatum\n"  # 1
        "1;Krause;Tjark;5a;01.02.2014\n"  # 2 ok
        ";Koch;Layla;5a;\n"  # 3 missing id
        "1;Penner;Elias;5a;\n"  # 4 duplicate id
        "4;   ;Elias;5a;\n"  # 5 empty last name
        "5;Dück;;5a;\n"  # 6 empty first name
        "\n"  # 7 blank
        "6;Lê;Smilla;5a!;\n"  # 8 bad class
        "7;Lê;Smilla;;\n"  # 9 missing class (rejected where the school requires a class)
        "8;Lê;Smilla;5a;31.02.2014\n"  # 10 bad date
        "9;Schulz;Lea;2014/15;2014-03-01\n"  # 11 ok ("2014/15" → "2014-15")
    )
    path = write(tmp_path, text)
    assert ("7", "Lê", "Smilla", None) in table(read_csv(path))  # a pupil without a class is a pupil
    result = read_csv(path, require_class=True)
    assert table(result) == [("1", "Krause", "Tjark", "5a"), ("9", "Schulz", "Lea", "2014-15")]
    expected = [
        (3, "source_id", "missing id"),
        (4, "source_id", "duplicate id '1' (also line 2)"),
        (5, "last_name", "empty name"),
        (6, "first_name", "empty name"),
        (8, "class_name", "unknown class format '5a!'"),
        (9, "class_name", "missing class (this school requires one)"),
        (10, "birth_date", "not a date: '31.02.2014' (expected dd.mm.yyyy)"),
    ]
    assert rejects(result) == [f"{path}:{line}: {field}: {problem}" for line, field, problem in expected]
    for reject in rejects(result):
        match = REJECT_FORMAT.match(reject)
        assert match is not None and match["file"] == str(path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("05a", "5a"), ("5 A", "5a"), ("BFS IT1", "bfsit1"), ("Q1", "q1"), ("10_b", "10-b"), ("Kl. 7", "kl-7")],
)
def test_class_names_are_normalised(tmp_path: Path, raw: str, expected: str) -> None:
    path = write(tmp_path, f"ID;Nachname;Vorname;Klasse\n1;Krause;Tjark;{raw}\n")
    assert [p.class_name for p in read_csv(path).persons] == [expected]


def test_name_and_birthdate_identity(tmp_path: Path) -> None:
    text = (
        '"Nachname","Vorname","Klasse","Geburtsdatum"\n'
        '"Lüders","Karl-Heinz","1a","10.01.2018"\n'
        '"Lüders","Karl-Heinz","1a","10.01.2018"\n'
        '"Nguyễn","Mathilda","1a",""\n'
    )
    path = write(tmp_path, text)
    result = read_csv(path, identity="name+birthdate")
    key = NameKeys(b"k" * 32).source_id("gs-test", "Karl-Heinz", "Lüders", date(2018, 1, 10))
    assert [p.source_id for p in result.persons] == [key]
    assert "2018" not in key and "lueders" not in key
    assert rejects(result) == [
        f"{path}:3: source_id: duplicate id {key!r} (also line 2)",
        f"{path}:4: birth_date: missing (this school is matched by name and birth date)",
    ]
    with pytest.raises(RosterError, match="source_id"):
        read_csv(path)  # the same file without the identity setting lacks the id column


def test_names_are_trimmed_and_collapsed_but_kept_faithful(tmp_path: Path) -> None:
    path = write(tmp_path, "ID;Nachname;Vorname;Klasse\n 1 ;  von  der Heide ; Anna   Lena ;5a\n")
    person = read_csv(path).persons[0]
    assert (person.source_id, person.last_name, person.first_name) == ("1", "von der Heide", "Anna Lena")
    # NFD input (as macOS produces it) is composed to NFC.
    nfd = write(tmp_path, "ID;Nachname;Vorname;Klasse\n1;Mu\u0308ller;Jo\u0308rg;5a\n", "nfd.csv")
    assert read_csv(nfd).persons[0].last_name == "Müller"


# ------------------------------------------------------------------------------------- unreadable files


def test_missing_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gibt-es-nicht.csv"
    with pytest.raises(RosterError) as info:
        read_csv(path)
    assert str(info.value).startswith(f"{path}: cannot read")


def test_directory_instead_of_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.mkdir()
    with pytest.raises(RosterError) as info:
        read_csv(path)
    assert str(info.value).startswith(f"{path}: cannot read")


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf"])
def test_empty_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, content)
    with pytest.raises(RosterError, match=rf"^{re.escape(str(path))}: empty file$"):
        read_csv(path)


@pytest.mark.parametrize(
    ("encoding", "bom", "configured"),
    [
        ("utf-16-le", b"\xff\xfe", "auto"),
        ("utf-16-be", b"\xfe\xff", "auto"),
        ("utf-16-le", b"", "auto"),  # UCS@school's own example: UTF-16-LE without a BOM, tab-separated
        ("utf-16-be", b"", "auto"),
        ("utf-16-le", b"\xff\xfe", "utf-16"),
        ("utf-16-le", b"", "utf-16-le"),
    ],
)
def test_utf16_exports_are_read(tmp_path: Path, encoding: str, bom: bytes, configured: str) -> None:
    text = "ID\tNachname\tVorname\tKlasse\r\n1\tÖztürk\tЄва\t5a\r\n2\tWeiß\t小明\t5b\r\n"
    path = write(tmp_path, bom + text.encode(encoding))
    result = read_csv(path, encoding=configured)
    assert table(result) == [("1", "Öztürk", "Єва", "5a"), ("2", "Weiß", "小明", "5b")]
    assert rejects(result) == []


def test_nul_bytes_that_are_no_utf16_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, b"ID;Nachname;Vorname;Klasse\n1;Ko\x00ch;Lea;5a\n")
    with pytest.raises(RosterError, match="NUL bytes") as info:
        read_csv(path)
    assert str(info.value).startswith(str(path))


def test_oversized_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvreader, "MAX_FILE_BYTES", 20)
    path = write(tmp_path, "ID;Nachname;Vorname;Klasse\n1;A;B;5a\n")
    with pytest.raises(RosterError, match="larger than a roster can be") as info:
        read_csv(path)
    assert str(info.value).startswith(str(path))


# ------------------------------------------------------------------------------------------- OneRoster

USERS_11 = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,givenName,familyName,email\n"
USERS_12 = (
    "sourcedId,status,dateLastModified,enabledUser,givenName,familyName,preferredGivenName,"
    "preferredFamilyName,email\n"
)
CLASSES = "sourcedId,status,title,classCode,classType,schoolSourcedId\n"
ENROLLMENTS = "sourcedId,status,classSourcedId,schoolSourcedId,userSourcedId,role\n"


def bundle_11() -> dict[str, str]:
    return {
        "manifest.csv": "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n",
        "orgs.csv": (
            "sourcedId,status,name,type,identifier,parentSourcedId\n"
            "org-a,,Gymnasium A,school,gym-a,org-lk\n"
            "org-lk,,Landkreis,district,lk,\n"
        ),
        "academicSessions.csv": "sourcedId,status,title,type\nsy,,2026/27,schoolYear\n",
        "classes.csv": CLASSES
        + "c5a,,5a,5a,homeroom,org-a\n"
        + "c6b,,6b,6b,homeroom,org-a\n"
        + "c-math,,Mathe (Kurs 7),M7,scheduled,org-a\n"
        + "c-old,tobedeleted,9z,9z,homeroom,org-a\n",
        "enrollments.csv": ENROLLMENTS
        + "e1,,c5a,org-a,u1,student\n"
        + "e2,tobedeleted,c5a,org-a,u2,student\n"  # old enrollment, dropped
        + "e3,,c6b,org-a,u2,student\n"
        + "e4,,c-math,org-a,u3,student\n"  # only a scheduled class
        + "e5,,c5a,org-a,t1,teacher\n"
        + "e6,,c-old,org-a,u4,student\n",  # class itself tobedeleted → no class
        "users.csv": USERS_11
        + "u1,,,true,org-a,student,Jürgen,Weiß,\n"
        + "u2,active,,true,org-a,student,Ayşe,Öztürk,\n"
        + "u3,,,true,org-a,student,Ngọc,Nguyễn,\n"
        + "u4,,,true,org-a,student,Paula,von der Heide,\n"
        + 't1,,,true,"org-a,org-b",teacher,Karl-Heinz,Lüders,k.lueders@example.org\n'
        + "u5,tobedeleted,,true,org-a,student,Weg,Gezogen,\n"
        + "u6,,,false,org-a,student,Gesperrt,Person,\n"
        + "u7,,,true,org-b,student,Andere,Schule,\n"
        + "g1,,,true,org-a,guardian,Erika,Mustermann,\n",
    }


def bundle_12() -> dict[str, str]:
    files = bundle_11()
    files["manifest.csv"] = files["manifest.csv"].replace("1.1", "1.2")
    files["users.csv"] = (
        USERS_12
        + "u1,,,true,Jürgen,Weiß,,,\n"
        + "u2,,,true,Ayşe,Öztürk,Ayse,,\n"  # preferred given name wins
        + "u3,,,true,Ngọc,Nguyễn,,,\n"
        + "u4,,,true,Paula,von der Heide,,,\n"
        + "t1,,,true,Karl-Heinz,Lüders,,,k.lueders@example.org\n"
        + "u5,tobedeleted,,true,Weg,Gezogen,,,\n"
        + "u6,,,false,Gesperrt,Person,,,\n"
        + "u7,,,true,Andere,Schule,,,\n"
        + "g1,,,true,Erika,Mustermann,,,\n"
    )
    files["roles.csv"] = (
        "sourcedId,status,userSourcedId,roleType,role,orgSourcedId\n"
        "r1,,u1,primary,student,org-a\n"
        "r2,,u2,primary,student,org-a\n"
        "r3,,u3,primary,student,org-a\n"
        "r4,,u4,primary,student,org-a\n"
        "r5,,t1,primary,teacher,org-a\n"
        "r5b,,t1,secondary,teacher,org-b\n"
        "r6,,u5,primary,student,org-a\n"
        "r7,,u6,primary,student,org-a\n"
        "r8,,u7,primary,student,org-b\n"
        "r9,,g1,primary,guardian,org-a\n"
        "r10,tobedeleted,u7,primary,student,org-a\n"
    )
    return files


def make_bundle(tmp_path: Path, files: Mapping[str, str], kind: str, prefix: str = "") -> Path:
    if kind == "folder":
        folder = tmp_path / "oneroster"
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        return folder
    path = tmp_path / "oneroster.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(prefix + name, text.encode())
    return path


def read_bundle(path: Path, school_id: str = "gym-a") -> RosterResult:
    return read_roster(RosterSource(path=path, format="oneroster", role="mixed"), school_id)


@pytest.mark.parametrize("kind", ["folder", "zip"])
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_oneroster_bundle(tmp_path: Path, kind: str, version: str) -> None:
    files = bundle_11() if version == "1.1" else bundle_12()
    path = make_bundle(tmp_path, files, kind)
    result = read_bundle(path)
    people = {p.source_id: p for p in result.persons}
    assert sorted(people) == ["t1", "u1", "u2", "u3", "u4"]
    u1 = people["u1"]
    assert (u1.first_name, u1.last_name, u1.class_name) == ("Jürgen", "Weiß", "5a")
    assert people["u2"].class_name == "6b"  # the tobedeleted 5a enrollment is ignored
    assert people["u3"].class_name == "m7"  # no homeroom: first scheduled class (title is no class name)
    assert (people["t1"].role, people["t1"].class_name, people["t1"].email) == (
        "teacher",
        None,
        "k.lueders@example.org",
    )
    assert {p.role for p in result.persons if p.source_id != "t1"} == {"pupil"}
    assert {p.school_id for p in result.persons} == {"gym-a"}
    if version == "1.2":
        assert people["u2"].first_name == "Ayse"
    # u4's only class is tobedeleted: a pupil of the school without a class
    separator = "/" if kind == "folder" else "!"
    assert (people["u4"].role, people["u4"].class_name) == ("pupil", None)
    assert rejects(result) == []
    assert people["u1"].origin == f"{path}{separator}users.csv:2"


def test_oneroster_zip_with_files_in_a_subfolder(tmp_path: Path) -> None:
    path = make_bundle(tmp_path, bundle_12(), "zip", prefix="export-2026/")
    assert sorted(p.source_id for p in read_bundle(path).persons) == ["t1", "u1", "u2", "u3", "u4"]


def test_oneroster_picks_the_school_by_identifier(tmp_path: Path) -> None:
    files = bundle_11()
    files["orgs.csv"] += "org-b,,Oberschule B,school,obs-b,org-lk\n"
    path = make_bundle(tmp_path, files, "folder")
    result = read_bundle(path, "obs-b")
    assert [p.source_id for p in result.persons] == ["t1", "u7"]
    assert result.persons[1].class_name is None  # u7: no class in org-b
    assert rejects(result) == []
    with pytest.raises(RosterError, match=r"orgs\.csv: 2 schools in the bundle and none has identifier"):
        read_bundle(path, "gs-unbekannt")


def test_oneroster_birth_dates_from_demographics(tmp_path: Path) -> None:
    files = bundle_11()
    files["demographics.csv"] = "sourcedId,status,birthDate,sex\nu1,,2014-03-01,male\nu2,,01.02.2013,female\n"
    result = read_bundle(make_bundle(tmp_path, files, "zip"))
    births = {p.source_id: p.birth_date for p in result.persons}
    assert births["u1"] == date(2014, 3, 1)
    assert births["u2"] == date(2013, 2, 1)
    assert births["t1"] is None


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_oneroster_bundle_without_users_csv(tmp_path: Path, kind: str) -> None:
    files = bundle_11()
    del files["users.csv"]
    path = make_bundle(tmp_path, files, kind)
    with pytest.raises(RosterError) as info:
        read_bundle(path)
    assert str(info.value).startswith(str(path))
    assert str(info.value).endswith("users.csv: missing from the bundle")


def test_oneroster_missing_or_broken_bundle(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="OneRoster bundle not found"):
        read_bundle(tmp_path / "nope.zip")
    broken = write(tmp_path, b"PK\x03\x04 this is no zip", "broken.zip")
    with pytest.raises(RosterError, match=rf"^{re.escape(str(broken))}: not a OneRoster zip bundle"):
        read_bundle(broken)


def test_oneroster_damaged_zip_member_is_a_roster_error(tmp_path: Path) -> None:
    path = make_bundle(tmp_path, bundle_11(), "zip")
    data = bytearray(path.read_bytes())
    start = data.index(b"users.csv") + len(b"users.csv")  # inside users.csv's compressed data
    for i in range(start + 5, start + 40):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(RosterError) as info:
        read_bundle(path)
    assert str(info.value).startswith(f"{path}!")


@pytest.mark.parametrize(
    ("name", "header", "column"),
    [
        ("orgs.csv", "id,type,identifier\n", "sourcedId"),
        ("classes.csv", "id,title\n", "sourcedId"),
        ("enrollments.csv", "classSourcedId,role\n", "userSourcedId"),
    ],
)
def test_oneroster_file_without_a_key_column(tmp_path: Path, name: str, header: str, column: str) -> None:
    files = bundle_11()
    files[name] = header + "x,school,gym-a\n"
    path = make_bundle(tmp_path, files, "folder")
    with pytest.raises(RosterError) as info:
        read_bundle(path)
    assert str(info.value) == f"{path}/{name}:1: {column}: column missing from the header"


def test_oneroster_line_numbers_count_blank_lines_and_multiline_fields(tmp_path: Path) -> None:
    files = bundle_11()
    files["users.csv"] = (
        USERS_11
        + 'u1,,,true,org-a,student,"Jür\ngen",Weiß,\n'  # lines 2-3, newline in the name: rejected
        + "\n\n"  # lines 4-5
        + "u2,,,true,org-a,student,,Öztürk,\n"  # line 6, empty name
        + "u3,,,true,org-a,student,Ngọc,Nguyễn,\n"  # line 7
    )
    path = make_bundle(tmp_path, files, "folder")
    result = read_bundle(path)
    assert [p.origin for p in result.persons] == [f"{path}/users.csv:7"]
    assert rejects(result) == [
        f"{path}/users.csv:2: first_name: contains control characters (newline, NUL, ...)",
        f"{path}/users.csv:6: first_name: empty name",
    ]


def test_oneroster_must_be_utf8(tmp_path: Path) -> None:
    path = make_bundle(tmp_path, bundle_11(), "folder")
    (path / "users.csv").write_bytes((USERS_11 + "u1,,,true,org-a,student,Jürgen,Weiß,\n").encode("cp1252"))
    with pytest.raises(RosterError, match=r"users\.csv: not UTF-8"):
        read_bundle(path)


# -------------------------------------------------------------------------------------------- matching


def person(first: str, last: str, birth: date | None, source_id: str = "") -> RosterPerson:
    return RosterPerson(source_id or f"{first}|{last}", first, last, "pupil", "gs-test", "5a", birth)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("meier", "meier", 0),
        ("meier", "meyer", 1),
        ("kitten", "sitting", 3),
        ("ab", "ba", 1),  # a transposition counts once
        ("schmidt", "schmitd", 1),
        ("abc", "ca", 3),  # optimal string alignment, not unrestricted Damerau
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_probable_renames_pairs_close_names_with_the_same_birth_date() -> None:
    born = date(2014, 5, 3)
    new = person("Jürgen", "Meyer", born)
    pairs = probable_renames([("old-1", "Juergen", "Meier", born)], [new, person("Anna", "Koch", born)])
    assert pairs == [("old-1", new)]


def test_probable_renames_needs_the_same_birth_date_and_close_names() -> None:
    born = date(2014, 5, 3)
    next_day = date(2014, 5, 4)
    assert probable_renames([("k", "Jürgen", "Meier", born)], [person("Jürgen", "Meyer", next_day)]) == []
    assert probable_renames([("k", "Jürgen", "Meier", None)], [person("Jürgen", "Meier", None)]) == []
    assert probable_renames([("k", "Jürgen", "Meier", born)], [person("Jürgen", "Schulz", born)]) == []
    # Two edits are close enough ("Meier" → "Mayer"), three are not ("Meier" → "Mai").
    assert probable_renames([("k", "Jan", "Meier", born)], [person("Jan", "Mai", born)]) == []
    assert len(probable_renames([("k", "Jan", "Meier", born)], [person("Jan", "Mayer", born)])) == 1


def test_probable_renames_drops_ambiguous_candidates() -> None:
    born = date(2014, 5, 3)
    twin_a, twin_b = person("Lena", "Meyer", born, "a"), person("Lina", "Meyer", born, "b")
    # One vanished account, two appeared persons that both fit: no guess.
    assert probable_renames([("k", "Lena", "Meier", born)], [twin_a, twin_b]) == []
    # Two vanished accounts both fitting one appeared person: no guess either.
    vanished = [("k1", "Lena", "Meier", born), ("k2", "Lena", "Maier", born)]
    assert probable_renames(vanished, [twin_a]) == []
    # Unambiguous pairs survive next to an ambiguous one.
    clear = person("Tom", "Schulz", born, "c")
    result = probable_renames([*vanished, ("k3", "Tom", "Schultz", born)], [twin_a, clear])
    assert result == [("k3", clear)]
