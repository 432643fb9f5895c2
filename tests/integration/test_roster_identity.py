"""Issue 14 against a real slapd: names in every script, name+birthdate keys without the birth date in clear
(old keys re-keyed in place), pupils without a class, OneRoster classCode and delta bundles."""

from __future__ import annotations

import json
from pathlib import Path

import ldap3
import pytest

from tests.integration.test_accounts_sync import County
from tests.unit.test_rosters import bundle_11, make_bundle

BIRTH_FORMS = ("2015-02-01", "01.02.2015", "1.2.2015", "20150201", "01022015", "01.02.15", "2015/02/01")


def name_and_birthdate_school(county: County, school: str = "gs-b") -> None:
    (county.root / "schools" / f"{school}.toml").write_text(
        f'id = "{school}"\nname = "Schule {school}"\ntype = "Grundschule"\nidentity = "name+birthdate"\n\n'
        f'[[rosters]]\npath = "rosters/{school}-pupils.csv"\nrole = "pupil"\n',
        encoding="utf-8",
    )


@pytest.fixture
def county(slapd, tmp_path: Path) -> County:
    county = County(tmp_path / "inventory", slapd)
    county.pupils("gs-a", [("1001", "Müller", "Lea", "1a")])
    county.teachers("gs-a", [("T1", "Schröder", "Anja")])
    return county


def set_key(county: County, login: str, key: str) -> None:
    dn = county.entry(login)["dn"][0]  # type: ignore[index]
    with county.connection() as connection:
        assert connection.modify(dn, {"employeeNumber": [(ldap3.MODIFY_REPLACE, [key])]}), connection.result


def test_names_in_every_script_give_readable_unique_logins_and_no_birth_date_is_stored(
    county: County,
) -> None:
    name_and_birthdate_school(county)
    names = [
        ("Шевченко", "Олександр"),
        ("Шевченко", "Андрій"),  # same family, same birth date (every row is born 01.02.2015)
        ("Шевченко", "Олександр"),  # a true duplicate: rejected, not a second account
        ("Παπαδόπουλος", "Γιώργος"),
        ("العلي", "محمد"),
        ("Nguyễn", "Thị Ánh"),
        ("王", "小明"),
        ("Иванов", "Иван"),
        ("Иванова", "Иванна"),
    ]
    county.pupils("gs-b", [("", last, first, "2a") for last, first in names], encoding="utf-8")
    first = county.sync("--school", "gs-b", "--skip-bad-rows")
    assert first.exit_code == 0, first.output
    assert "source_id: duplicate id" in first.output  # the repeated Олександр Шевченко
    logins = {
        "oleksandr.shevchen": "Олександр",
        "andriy.shevchenko": "Андрій",
        "giorgos.papadopoyl": "Γιώργος",
        "mhmd.lly": "محمد",
        "thi.nguyen": "Thị Ánh",
        "xiaoming.wang": "小明",
        "ivan.ivanov": "Иван",
        "ivanna.ivanova": "Иванна",
    }
    for login, given in logins.items():
        entry = county.entry(login)
        assert entry is not None, (login, first.output)
        assert entry["givenName"] == [given]
        assert len(login) <= 20 and login.isascii()
        (key,) = entry["employeeNumber"]
        assert key.startswith("schulit:gs-b:pupil:nbd2:"), key
    assert county.members("gs-b-2a") == set(logins)
    dump = "\n".join(county.dump())
    for form in BIRTH_FORMS:
        assert form not in dump, form
    assert county.run("accounts", "plan", "--school", "gs-b", "--skip-bad-rows").exit_code == 0


def test_an_account_keyed_the_old_way_is_re_keyed_in_place(county: County) -> None:
    name_and_birthdate_school(county)
    county.pupils(
        "gs-b",
        [("", "Schmidt", "Lena", "2a"), ("", "Yılmaz", "Can", "2a"), ("", "Weiß", "Jörg", "2a")],
        encoding="utf-8",
    )
    assert county.sync("--school", "gs-b").exit_code == 0
    before = {login: county.entry(login) for login in ("lena.schmidt", "can.yilmaz", "joerg.weiss")}
    # what schulit wrote before keys were versioned: ASCII-folded names and the birth date in clear
    set_key(county, "lena.schmidt", "schulit:gs-b:pupil:nbd:schmidt|lena|2015-02-01")
    set_key(county, "joerg.weiss", "schulit:gs-b:pupil:nbd:weiss|joerg|2015-02-01")
    # ... and Can renamed at the same time (Yılmaz → Yilmaz): an old key that is also a probable rename
    set_key(county, "can.yilmaz", "schulit:gs-b:pupil:nbd:yilmaz|can|2015-02-01")
    county.pupils(
        "gs-b", [("", "Schmidt", "Lena", "2a"), ("", "Yilmaz", "Cann", "2a"), ("", "Weiß", "Jörg", "2a")]
    )
    plan = county.run("accounts", "plan", "--school", "gs-b", "--json")
    changes = json.loads(plan.stdout)["changes"]
    actions = sorted((c["action"], c["login"]) for c in changes)
    assert actions == [
        ("probable-rename", "can.yilmaz"),
        ("update", "joerg.weiss"),
        ("update", "lena.schmidt"),
    ], plan.stdout
    assert "2015-02-01" not in plan.stdout  # not even the old key is shown
    synced = county.sync("--school", "gs-b", "--confirm-rename", "can.yilmaz")
    assert synced.exit_code == 0, synced.output
    for login, entry in before.items():
        after = county.entry(login)
        assert after is not None and after["dn"] == entry["dn"] and after["uidNumber"] == entry["uidNumber"]
        assert after["employeeNumber"][0].startswith("schulit:gs-b:pupil:nbd2:")
        assert "deactivated" not in " ".join(after.get("description", []))
    assert county.entry("can.yilmaz")["givenName"] == ["Cann"]  # type: ignore[index]
    assert county.entry("cann.yilmaz") is None
    dump = "\n".join(county.dump())
    assert not any(form in dump for form in BIRTH_FORMS)
    assert county.run("accounts", "plan", "--school", "gs-b").exit_code == 0


def test_a_missing_name_key_file_stops_only_that_school(county: County) -> None:
    name_and_birthdate_school(county)
    county.pupils("gs-b", [("", "Schmidt", "Lena", "2a")])
    (county.root / "name-key").unlink()
    result = county.sync()
    assert result.exit_code == 1
    assert "name-key: cannot read the name key file" in result.output
    assert county.entry("lea.mueller") is not None and county.entry("lena.schmidt") is None


def test_pupils_without_a_class_are_pupils_unless_the_school_requires_a_class(county: County) -> None:
    county.pupils("gs-a", [("1001", "Müller", "Lea", "1a"), ("1002", "Neu", "Nora", "")])
    plan = county.run("--verbose", "accounts", "plan", "--school", "gs-a")
    assert "+ create nora.neu (Nora Neu, pupil, no class)" in plan.output
    assert county.sync("--school", "gs-a").exit_code == 0
    nora = county.entry("nora.neu")
    assert nora is not None and "ou" not in nora
    assert county.members("gs-a-pupils") == {"lea.mueller", "nora.neu"}
    assert "nora.neu" in county.members("all-pupils")
    listed = county.run("accounts", "list", "--school", "gs-a").output
    assert "(no class)" in next(line for line in listed.splitlines() if line.startswith("nora.neu"))
    school = county.root / "schools" / "gs-a.toml"
    school.write_text(
        school.read_text().replace('type = "Grundschule"', 'type = "Grundschule"\nrequire_class = true')
    )
    refused = county.run("accounts", "plan", "--school", "gs-a")
    assert refused.exit_code == 1
    assert "gs-a-pupils.csv:3: class_name: missing class (this school requires one)" in refused.output


def by_dn(dump: list[str]) -> dict[str, str]:
    """dn → the entry's sorted lines, from ``County.dump``."""
    blocks = {}
    for block in dump:
        dn = next(line for line in block.splitlines() if line.startswith("dn: "))
        blocks[dn.removeprefix("dn: ")] = block
    return blocks


def moodle_bundle() -> dict[str, str]:
    """Shaped like Moodle's OneRoster 1.1 test bundle: class titles "Klasse 5a", pupils with no class yet."""
    files = {name: text.replace("gym-a", "gs-a") for name, text in bundle_11().items()}
    files["classes.csv"] = (
        "sourcedId,status,title,classCode,classType,schoolSourcedId\n"
        "c5a,,Klasse 5a,5a,homeroom,org-a\n"
        "c6b,,Klasse 6b,,homeroom,org-a\n"
        "c-math,,Mathe (Kurs 7),M7,scheduled,org-a\n"
    )
    files["enrollments.csv"] = (
        "sourcedId,status,classSourcedId,schoolSourcedId,userSourcedId,role\n"
        "e1,,c5a,org-a,u1,student\n"
        "e3,,c6b,org-a,u2,student\n"
        "e5,,c5a,org-a,t1,teacher\n"
    )  # u3 and u4: registered before the class lists were made
    return files


def test_moodle_style_oneroster_then_a_delta_bundle(county: County, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    full = make_bundle(tmp_path / "full", moodle_bundle(), "zip")
    args = ("--school", "gs-a", "--roster", f"gs-a={full}", "--format", "oneroster")
    first = county.sync(*args)
    assert first.exit_code == 0, first.output
    assert "rejected" not in first.output
    for login in ("juergen.weiss", "ayse.oeztuerk", "ngoc.nguyen", "paula.vonderheide"):
        assert county.entry(login) is not None, login
    # classCode "5a", not "klasse5a" (the enrolled teacher may be a member too: issue 13)
    assert county.members("gs-a-5a") - {"karlheinz.lueders"} == {"juergen.weiss"}
    assert county.members("gs-a-6b") == {"ayse.oeztuerk"}  # no classCode: the title without "Klasse"
    assert not county.group_exists("gs-a-klasse5a")
    assert {"ngoc.nguyen", "paula.vonderheide"} <= county.members("gs-a-pupils")
    assert county.entry("ngoc.nguyen").get("ou") is None  # type: ignore[union-attr]

    before = county.dump()
    delta_files = {
        "manifest.csv": (
            "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\n"
            "file.users,delta\nfile.classes,absent\nfile.enrollments,absent\n"
        ),
        "orgs.csv": moodle_bundle()["orgs.csv"],
        "users.csv": (
            "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,givenName,familyName,email\n"
            "u2,tobedeleted,2026-12-01T08:00:00Z,true,org-a,student,Ayşe,Öztürk,\n"
        ),
    }
    (tmp_path / "delta").mkdir()
    delta = make_bundle(tmp_path / "delta", delta_files, "folder")
    delta_args = ("--school", "gs-a", "--roster", f"gs-a={delta}", "--format", "oneroster")
    plan = county.run("accounts", "plan", "--json", *delta_args)
    changes = json.loads(plan.stdout)["changes"]
    assert [(c["action"], c["login"] or c["dn"].split(",")[0]) for c in changes] == [
        ("deactivate", "ayse.oeztuerk"),
        ("group-update", "cn=all-pupils"),
        ("group-update", "cn=gs-a-pupils"),
        ("group-delete", "cn=gs-a-6b"),  # its only pupil left
    ], plan.stdout
    assert county.sync(*delta_args).exit_code == 0
    after = county.dump()
    changed = {
        (dn.split(",")[0], block) for dn, block in set(by_dn(before).items()) ^ set(by_dn(after).items())
    }
    assert {name for name, _ in changed} == {
        "uid=ayse.oeztuerk",
        "cn=all-pupils",
        "cn=gs-a-pupils",
        "cn=gs-a-6b",
    }
    ayse = county.entry("ayse.oeztuerk")
    assert ayse is not None and any(d.startswith("schulit:deactivated=") for d in ayse["description"])
    for login in ("juergen.weiss", "ngoc.nguyen", "paula.vonderheide", "karlheinz.lueders"):
        assert county.entry(login) is not None and "description" not in county.entry(login), login  # type: ignore[operator]
    assert county.members("gs-a-5a") - {"karlheinz.lueders"} == {"juergen.weiss"}
    assert county.run("accounts", "plan", *delta_args).exit_code == 0
