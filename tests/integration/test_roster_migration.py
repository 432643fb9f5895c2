"""Issue 14 against a real slapd: migration from sophomorix and UCS@school (ids and logins kept), ``accounts
adopt`` instead of twins, and ``--roster`` with ``--role`` for a school whose inventory roster is a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import ldap3
import pytest

from schulit.passwords import crypt
from tests.integration.test_accounts_sync import County
from tests.unit.test_rosters import bundle_11, make_bundle

SOPHOMORIX_STUDENTS = (
    "# students.csv from linuxmuster.net 7\r\n"
    "5a;Müller;Jürgen;1.2.2015;4711;muellerj;\r\n"
    "5a;Weiß;Björn;01.02.15;;weissb;\r\n"
    "6b;Yılmaz;Can;3.4.2014;4713;;\r\n"
    "6b;Neumann;Ida;3.4.2014;4714;;\r\n"
)
SOPHOMORIX_TEACHERS = "lehrer;Schröder;Anja;3.6.71;schroeder;T-9;\n"


@pytest.fixture
def county(slapd, tmp_path: Path) -> County:
    county = County(tmp_path / "inventory", slapd, schools=("gs-a",))
    (county.root / "schools" / "gs-a.toml").write_text(
        'id = "gs-a"\nname = "Schule gs-a"\ntype = "Grundschule"\n\n'
        '[[rosters]]\npath = "rosters/students.csv"\nformat = "sophomorix"\n\n'
        '[[rosters]]\npath = "rosters/teachers.csv"\nformat = "sophomorix"\n',
        encoding="utf-8",
    )
    (county.root / "rosters" / "students.csv").write_bytes(SOPHOMORIX_STUDENTS.encode("utf-8"))
    (county.root / "rosters" / "teachers.csv").write_bytes(SOPHOMORIX_TEACHERS.encode("cp1252"))
    return county


def hand_made(county: County, rdn: str, attributes: dict[str, str]) -> str:
    """An entry in ou=people as the previous system left it (posixAccount, a password that works)."""
    dn = f"{rdn},ou=people,{county.slapd.base_dn}"
    with county.connection() as connection:
        connection.add(f"ou=people,{county.slapd.base_dn}", ["organizationalUnit"], {"ou": "people"})
        assert connection.add(
            dn,
            ["inetOrgPerson", "posixAccount"],
            {"homeDirectory": "/home/x", "gidNumber": "5000", **attributes},
        ), connection.result
    return dn


def can_bind(county: County, dn: str, password: str) -> bool:
    connection = ldap3.Connection(ldap3.Server(county.slapd.url), dn, password)
    ok = connection.bind()
    connection.unbind()
    return ok


def test_sophomorix_migration_keeps_logins_and_adopt_takes_over_instead_of_twins(county: County) -> None:
    assert county.run("directory", "init").exit_code == 0
    stored = "{CRYPT}" + crypt("alt-Passwort-1", "$6$saltsalt$")
    by_login = hand_made(
        county,
        "cn=Juergen Mueller",
        {
            "cn": "Juergen Mueller",
            "sn": "Mueller",
            "uid": "muellerj",
            "uidNumber": "5001",
            "userPassword": stored,
        },
    )
    by_id = hand_made(
        county,
        "uid=cyilmaz",
        {"cn": "Can Yilmaz", "sn": "Yilmaz", "uid": "cyilmaz", "uidNumber": "5002", "employeeNumber": "4713"},
    )
    # without adopt, the plan refuses to make a twin of the given login
    plan = county.run("accounts", "plan", "--json")
    document = json.loads(plan.stdout)
    assert "muellerj" not in {c["login"] for c in document["changes"] if c["action"] == "create"}
    assert any(
        "'muellerj' (given by the roster) is taken" in line for line in document["schools"][0]["rejected"]
    )

    shown = county.run("accounts", "adopt", "--school", "gs-a", "--dry-run")
    assert shown.exit_code == 0, shown.output
    assert f"adopt {by_login} as muellerj (Jürgen Müller, pupil; same login)" in shown.output
    assert f"adopt {by_id} as cyilmaz (Can Yılmaz, pupil; same id)" in shown.output
    assert county.entry("muellerj")["dn"] == [by_login]  # type: ignore[index]  # dry run: nothing moved

    adopted = county.run("accounts", "adopt", "--school", "gs-a", "--yes")
    assert adopted.exit_code == 0, adopted.output
    synced = county.sync()
    assert synced.exit_code == 0, synced.output
    juergen = county.entry("muellerj")
    assert juergen is not None
    assert juergen["dn"] == [f"uid=muellerj,ou=pupils,ou=gs-a,ou=schools,{county.slapd.base_dn}"]
    assert juergen["employeeNumber"] == ["schulit:county:pupil:4711"] and juergen["uidNumber"] == ["5001"]
    assert juergen["givenName"] == ["Jürgen"] and juergen["ou"] == ["5a"]
    assert can_bind(county, juergen["dn"][0], "alt-Passwort-1")  # the password stays
    can = county.entry("cyilmaz")
    assert can is not None and can["employeeNumber"] == ["schulit:county:pupil:4713"]
    for twin in ("muellerj2", "can.yilmaz", "juergen.mueller"):
        assert county.entry(twin) is None, twin
    assert county.entry("weissb")["employeeNumber"] == ["schulit:county:pupil:weissb"]  # type: ignore[index]
    assert county.entry("ida.neumann") is not None  # no login given: schulit makes one
    teacher = county.entry("schroeder")
    assert teacher is not None and "teachers" in teacher["dn"][0]
    assert teacher["employeeNumber"] == ["schulit:county:teacher:T-9"]
    assert county.members("gs-a-5a") == {"muellerj", "weissb"}
    assert county.members("gs-a-6b") == {"cyilmaz", "ida.neumann"}
    again = county.run("accounts", "adopt", "--school", "gs-a", "--yes")
    assert "adopt: nothing to do" in again.output
    assert county.run("accounts", "plan").exit_code == 0


def test_ucs_school_export_utf16_keeps_usernames(county: County) -> None:
    (county.root / "schools" / "gs-a.toml").write_text(
        'id = "gs-a"\nname = "Schule gs-a"\ntype = "Grundschule"\n\n'
        '[[rosters]]\npath = "rosters/ucs.csv"\nformat = "ucs-school"\n',
        encoding="utf-8",
    )
    text = (
        "Schule\tBenutzertyp\tVorname\tNachname\tKlassen\tEMail\trecord_uid\tBenutzername\r\n"
        "gs-a\tschueler\tLea\tMüller\tgs-a-1a\t\tR-1\tlmueller\r\n"
        "gs-a\tlehrer\tAnja\tSchröder\tgs-a-1a\t\tR-2\tschroeder\r\n"
        "gs-a\tschueler\tNora\tNeu\t\t\tR-5\t\r\n"
    )
    (county.root / "rosters" / "ucs.csv").write_bytes(text.encode("utf-16-le"))
    result = county.sync()
    assert result.exit_code == 0, result.output
    assert county.entry("lmueller")["ou"] == ["1a"]  # type: ignore[index]
    assert county.entry("schroeder")["employeeNumber"] == ["schulit:county:teacher:R-2"]  # type: ignore[index]
    assert "ou" not in county.entry("nora.neu")  # type: ignore[operator]
    assert county.members("gs-a-1a") - {"schroeder"} == {"lmueller"}  # (teachers join with issue 13)


def test_roster_override_with_role_keeps_the_bundles_teachers(county: County, tmp_path: Path) -> None:
    files = {name: text.replace("gym-a", "gs-a") for name, text in bundle_11().items()}
    bundle = make_bundle(tmp_path, files, "folder")
    (county.root / "schools" / "gs-a.toml").write_text(
        'id = "gs-a"\nname = "Schule gs-a"\ntype = "Grundschule"\n\n'
        f'[[rosters]]\npath = "{bundle}"\nformat = "oneroster"\n',
        encoding="utf-8",
    )
    assert county.sync().exit_code == 0
    assert county.entry("karlheinz.lueders") is not None and county.entry("juergen.weiss") is not None
    csv_file = tmp_path / "schueler.csv"
    csv_file.write_text(
        "ID;Nachname;Vorname;Klasse\nu1;Weiß;Jürgen;5a\nu2;Öztürk;Ayşe;6b\nu3;Nguyễn;Ngọc;m7\nx9;Neu;Nora;5a\n",
        encoding="utf-8",
    )
    args = ("--roster", f"gs-a={csv_file}", "--format", "csv")  # --role pupil is the default for a CSV file
    plan = county.run("accounts", "plan", "--json", *args)
    assert plan.exit_code == 2, plan.output
    changes = json.loads(plan.stdout)["changes"]
    actions = {(c["action"], c["login"]) for c in changes if c["login"]}
    assert ("create", "nora.neu") in actions
    assert not any(login == "karlheinz.lueders" for _, login in actions)  # the bundle still gives teachers
    assert ("deactivate", "paula.vonderheide") in actions  # pupils come from the CSV file now
    teachers_only = county.run(
        "accounts", "plan", "--json", "--role", "teacher", "--roster", f"gs-a={bundle}"
    )
    assert teachers_only.exit_code == 0, (
        teachers_only.output
    )  # the bundle as teacher roster + itself for pupils
