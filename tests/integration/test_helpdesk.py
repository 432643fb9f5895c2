"""The helpdesk against a real slapd: find, reset-password --letter, rename; letters printed once."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_accounts_sync import FIXTURE_PUPILS_GS_A, County, can_bind
from tests.integration.test_accounts_sync import county as county  # fixture


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def slip_password(text: str, login: str) -> str:
    """The password printed on the slip of ``login`` (groups of four, spaces dropped)."""
    block = text[text.index(login) :]
    match = re.search(r"Passwort:\s+((?:\S{1,4} )*\S{1,4})\s*\n", block)
    assert match, block[:400]
    return match.group(1).replace(" ", "")


def test_find_by_name_with_and_without_umlauts(county: County) -> None:
    assert county.sync().exit_code == 0
    for text in ("Emre Öztürk", "emre oeztuerk", "OZTURK", "öztürk emre", "1002"):
        found = county.run("accounts", "find", text, "--json")
        assert found.exit_code == 0, (text, found.output)
        assert [a["login"] for a in json.loads(found.stdout)] == ["emre.oeztuerk"], text
    both = json.loads(county.run("accounts", "find", "Schröder", "--json").stdout)
    assert [a["login"] for a in both] == ["anja.schroeder"] and both[0]["schools"] == ["gs-a", "gs-b"]
    human = county.run("accounts", "find", "lukasz")
    assert "lukasz.wasowski" in human.stdout and "1 account" in human.stdout
    show = county.run("accounts", "show", "Emre Öztürk")
    assert show.exit_code == 1 and "accounts find 'Emre Öztürk'" in show.stderr
    nobody = county.run("accounts", "find", "Emma Nirgendwo")
    assert nobody.exit_code == 1 and "no account matches" in nobody.stderr


def test_reset_password_letter_binds_and_leaves_no_delivery_row(county: County, tmp_path: Path) -> None:
    assert county.sync().exit_code == 0
    assert (
        county.run("passwords", "letters", "--output", str(tmp_path / "first.pdf"), "--shred").exit_code == 0
    )
    assert county.deliveries() == {}
    old = county.entry("lea.mueller")
    letter = tmp_path / "lea.pdf"
    reset = county.run("accounts", "reset-password", "lea.mueller", "--letter", str(letter))
    assert reset.exit_code == 0, reset.output
    assert stat.S_IMODE(letter.stat().st_mode) == 0o600
    text = pdf_text(letter)
    assert text.count("Benutzername:") == 1 and "Deckblatt" not in text, "one slip, no cover sheet"
    pages = subprocess.run(["pdfinfo", str(letter)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\n", pages)
    password = slip_password(text, "lea.mueller")
    assert password not in reset.output
    assert can_bind(county, "lea.mueller", password)
    assert county.entry("lea.mueller")["userPassword"] != old["userPassword"]
    assert county.deliveries() == {}, "the letter is the only copy of the password"
    assert not list((county.root / "passwords").rglob("*.csv"))
    audit = (county.root / "audit.jsonl").read_text()
    assert password not in audit and '"attributes": ["userPassword"]' in audit
    again = county.run("accounts", "reset-password", "lea.mueller", "--letter", str(letter))
    assert again.exit_code == 1 and "exists" in again.output


def test_reset_of_a_locked_account_warns_and_needs_yes(county: County, tmp_path: Path) -> None:
    assert county.sync().exit_code == 0
    assert county.run("accounts", "lock", "jonas.weiss").exit_code == 0
    before = county.entry("jonas.weiss")
    refused = county.run("accounts", "reset-password", "jonas.weiss", "--letter", str(tmp_path / "j.pdf"))
    assert refused.exit_code == 1
    assert "jonas.weiss is locked" in refused.stderr and "--yes" in refused.stderr
    assert county.entry("jonas.weiss") == before and not (tmp_path / "j.pdf").exists()
    done = county.run(
        "accounts", "reset-password", "jonas.weiss", "--letter", str(tmp_path / "j.pdf"), "--yes"
    )
    assert done.exit_code == 0, done.output
    assert "warning: jonas.weiss is locked" in done.stderr
    password = slip_password(pdf_text(tmp_path / "j.pdf"), "jonas.weiss")
    assert not can_bind(county, "jonas.weiss", password), "a reset does not unlock"
    assert county.run("accounts", "unlock", "jonas.weiss").exit_code == 0
    assert can_bind(county, "jonas.weiss", password)


def test_reset_a_class_with_a_school_written_class_name(county: County) -> None:
    assert county.sync().exit_code == 0
    result = county.run("accounts", "reset-password", "--school", "gs-a", "--class", "01A", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["reset"]) == ["emre.oeztuerk", "lea.mueller"]
    unknown = county.run("accounts", "reset-password", "--school", "gs-a", "--class", "9z")
    assert unknown.exit_code == 1 and "9z" in unknown.stderr


def test_letters_after_shred_of_part_of_a_class_print_nothing_twice(county: County, tmp_path: Path) -> None:
    county.pupils("gs-a", [*FIXTURE_PUPILS_GS_A, ("1004", "Yilmaz", "Can", "2b")])
    assert county.sync().exit_code == 0
    # Jonas and Can (2b) get letters; the same file also holds 1a and the teacher
    part = county.run(
        "passwords",
        "letters",
        "--school",
        "gs-a",
        "--class",
        "2b",
        "--shred",
        "--output",
        str(tmp_path / "2b.pdf"),
    )
    assert part.exit_code == 0, part.output
    assert {"jonas.weiss", "can.yilmaz"}.isdisjoint(county.deliveries())
    again = county.run(
        "passwords",
        "letters",
        "--school",
        "gs-a",
        "--class",
        "2b",
        "--output",
        str(tmp_path / "2b-again.pdf"),
    )
    assert again.exit_code == 0 and "no new passwords" in again.output
    assert not (tmp_path / "2b-again.pdf").exists()
    rest = county.run("passwords", "letters", "--school", "gs-a", "--output", str(tmp_path / "rest.pdf"))
    text = pdf_text(tmp_path / "rest.pdf")
    assert rest.exit_code == 0 and "lea.mueller" in text and "jonas.weiss" not in text
    assert "anja.schroeder" in text
    nothing = county.run("passwords", "letters", "--school", "gs-a", "--output", str(tmp_path / "x.pdf"))
    assert "no new passwords" in nothing.output and not (tmp_path / "x.pdf").exists()
    reprint = county.run(
        "passwords", "letters", "--reprint", "lea.mueller", "--output", str(tmp_path / "r.pdf")
    )
    assert reprint.exit_code == 0 and "lea.mueller" in pdf_text(tmp_path / "r.pdf")
    gone = county.run("passwords", "letters", "--reprint", "jonas.weiss", "--output", str(tmp_path / "g.pdf"))
    assert gone.exit_code == 1 and "reset-password" in gone.stderr


def test_term_start_prints_only_what_its_own_sync_created(county: County, tmp_path: Path) -> None:
    assert county.sync().exit_code == 0
    assert county.run("passwords", "letters", "--shred", "--output", str(tmp_path / "all.pdf")).exit_code == 0
    assert county.run("accounts", "reset-password", "lea.mueller").exit_code == 0  # waits for its letter
    county.pupils("gs-a", [*FIXTURE_PUPILS_GS_A, ("1005", "Kowalski", "Ola", "1a")])
    run = county.run("term-start", "--yes", "--output", str(tmp_path / "ts"))
    assert run.exit_code == 0, run.output
    pdfs = sorted((tmp_path / "ts").glob("letters-*.pdf"))
    assert [p.name.split("-2")[0] for p in pdfs] == ["letters-gs-a"]
    text = pdf_text(pdfs[0])
    assert "ola.kowalski" in text and "lea.mueller" not in text
    assert "1 unprinted password(s) from earlier runs" in run.stderr
    assert set(county.deliveries()) == {"lea.mueller"}


def test_rename_keeps_groups_and_reserves_the_old_login(county: County) -> None:
    assert county.sync().exit_code == 0
    before = county.entry("jonas.weiss")
    assert before is not None
    result = county.run("accounts", "rename", "jonas.weiss", "jonas.weisz", "--json", "--today", "2026-08-01")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["old_reserved_until"] == "2027-08-01"
    assert sorted(document["groups"]) == ["all-pupils", "gs-a-2b", "gs-a-pupils"]
    assert county.entry("jonas.weiss") is None
    assert "jonas.weiss" not in county.deliveries() and "jonas.weisz" in county.deliveries(), "letter follows"
    after = county.entry("jonas.weisz")
    assert after is not None
    assert after["uidNumber"] == before["uidNumber"] and after["employeeNumber"] == before["employeeNumber"]
    assert after["userPassword"] == before["userPassword"] and after["homeDirectory"] == ["/home/jonas.weisz"]
    assert after["dn"] == [f"uid=jonas.weisz,ou=pupils,ou=gs-a,ou=schools,{county.slapd.base_dn}"]
    for group in ("gs-a-2b", "gs-a-pupils", "all-pupils"):
        members = county.members(group)
        assert "jonas.weisz" in members and "jonas.weiss" not in members, group
    with county.connection() as conn:
        conn.search(f"ou=schulit,{county.slapd.base_dn}", "(cn=jonas.weiss)", attributes=["description"])
        assert [str(v) for v in conn.entries[0]["description"].values] == [
            "schulit:reserved-until=2027-08-01"
        ]
    assert county.run("accounts", "plan").exit_code == 0, "sync agrees with the rename"
    # the old login is not reissued: a new Jonas Weiß gets a counter
    county.pupils("gs-a", [*FIXTURE_PUPILS_GS_A, ("1009", "Weiß", "Jonas", "4a")])
    assert county.sync().exit_code == 0
    assert county.entry("jonas.weiss") is None and county.entry("jonas.weiss2") is not None
    audit = [json.loads(line) for line in (county.root / "audit.jsonl").read_text().splitlines()]
    assert any(r["action"] == "move" and r["dn"] == before["dn"][0] for r in audit)


@pytest.mark.parametrize(
    ("new", "problem"),
    [("lea.mueller", "taken"), ("Jonas", "not a valid login"), ("jonas.weiss", "reserved")],
)
def test_rename_refuses_a_taken_invalid_or_reserved_login(county: County, new: str, problem: str) -> None:
    assert county.sync().exit_code == 0
    if problem == "reserved":
        assert county.run("accounts", "rename", "jonas.weiss", "jonas.w").exit_code == 0
        old = "jonas.w"
    else:
        old = "jonas.weiss"
    before = county.dump()
    result = county.run("accounts", "rename", old, new)
    assert result.exit_code == 1 and problem in result.stderr, result.output
    assert county.dump() == before


def test_held_probable_rename_plan_exits_2_and_nightly_says_so(county: County) -> None:
    school_file = county.root / "schools" / "gs-b.toml"
    school_file.write_text(
        'id = "gs-b"\nname = "Schule gs-b"\ntype = "Grundschule"\nidentity = "name+birthdate"\n\n'
        '[[rosters]]\npath = "rosters/gs-b-pupils.csv"\nrole = "pupil"\n'
    )
    county.pupils("gs-b", [("", "Schmidt", "Lena", "2a"), ("", "Yılmaz", "Can", "2a")], encoding="utf-8")
    assert county.sync().exit_code == 0
    county.pupils("gs-b", [("", "Schmitt", "Lena", "2a"), ("", "Yılmaz", "Can", "2a")], encoding="utf-8")
    plan = county.run("accounts", "plan", "--school", "gs-b")
    assert plan.exit_code == 2, plan.output
    assert "1 probable rename waiting for an admin" in plan.stdout
    nightly = county.run("nightly")
    assert nightly.exit_code == 2, nightly.output
    lines = [line for line in nightly.stderr.splitlines() if "probable rename" in line]
    assert lines and "lena.schmidt" in lines[0] and "--confirm-rename lena.schmidt" in lines[0]
    report = json.loads(county.run("nightly", "--json").stdout)
    assert report["exit_code"] == 2 and len(report["attention"]) == 1
    assert county.sync("--school", "gs-b", "--confirm-rename", "lena.schmidt").exit_code == 0
    assert county.run("nightly").exit_code == 0


def test_unknown_school_or_class_is_an_error(county: County) -> None:
    assert county.sync().exit_code == 0
    for args in (
        ("accounts", "list", "--school", "gs-nope"),
        ("accounts", "list", "--school", "gs-a", "--class", "7x"),
        ("accounts", "plan", "--school", "gs-nope"),
        ("passwords", "letters", "--school", "gs-nope", "--output", "/dev/null/x.pdf"),
        ("accounts", "reset-password", "--school", "gs-nope", "--class", "1a"),
    ):
        result = county.run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "gs-nope" in result.stderr or "7x" in result.stderr, (args, result.stderr)
    listed = json.loads(county.run("accounts", "list", "--school", "gs-a", "--class", "01A", "--json").stdout)
    assert [a["login"] for a in listed] == ["emre.oeztuerk", "lea.mueller"]


def test_every_json_output_is_one_document(county: County, tmp_path: Path) -> None:
    commands = [
        ("inventory", "check", "--json"),
        ("accounts", "plan", "--json"),
        ("accounts", "sync", "--yes", "--json"),
        ("accounts", "sync", "--dry-run", "--json"),
        ("accounts", "list", "--json"),
        ("accounts", "find", "lea", "--json"),
        ("accounts", "show", "lea.mueller", "--json"),
        ("accounts", "reset-password", "lea.mueller", "--json"),
        ("accounts", "rename", "emre.oeztuerk", "emre.oztuerk", "--json"),
        ("accounts", "purge", "--json"),
        ("accounts", "purge", "--dry-run", "--json"),
        ("accounts", "purge", "--yes", "--json"),
        ("nightly", "--json"),
        ("term-start", "--output", str(tmp_path / "ts"), "--yes", "--json"),
    ]
    for args in commands:
        result = county.run(*args)
        assert result.exit_code in (0, 2), (args, result.output)
        json.loads(result.stdout)  # exactly one JSON document, nothing else on stdout


def test_connection_refused_is_an_error_not_a_traceback(county: County) -> None:
    text = (county.root / "county.toml").read_text()
    (county.root / "county.toml").write_text(text.replace(county.slapd.url, "ldap://127.0.0.1:1"))
    result = county.run("accounts", "find", "lea")
    assert result.exit_code == 1 and "cannot connect" in result.stderr
