"""Who teaches which class: read from the rosters, carried to the plan's class groups."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from schulit.accounts.desired import DesiredState, build_desired
from schulit.accounts.diff import plan_changes
from schulit.accounts.model import DesiredPerson, DirectoryState, SchoolReport, identity_key
from schulit.errors import InventoryError
from schulit.inventory import load_inventory
from schulit.records import RosterSource
from schulit.rosters import read_roster
from tests.helpers.inventory import write_inventory


def read_teachers(tmp_path: Path, text: str) -> list[tuple[str, tuple[str, ...]]]:
    path = tmp_path / "lehrer.csv"
    path.write_text(text, encoding="utf-8")
    result = read_roster(RosterSource(path=path, format="csv", role="teacher"), "gs-a")
    return [(p.source_id, p.teacher_classes) for p in result.persons] + [
        (str(r), ()) for r in result.rejected
    ]


def test_klassen_column_split_at_commas_spaces_and_slashes(tmp_path: Path) -> None:
    rows = read_teachers(
        tmp_path,
        "Personalnummer;Nachname;Vorname;Klassen\nP1;Lüders;Karl;5a, 06b/7 C\nP2;Weiß;Ute;\nP3;Ok;Ab;5a 5a\n",
    )
    assert rows == [("P1", ("5a", "6b", "7", "c")), ("P2", ()), ("P3", ("5a",))]


def test_klassenleitung_and_klasse_columns(tmp_path: Path) -> None:
    assert read_teachers(tmp_path, "Personalnummer;Nachname;Vorname;Klassenleitung\nP1;A;B;4b\n") == [
        ("P1", ("4b",))
    ]
    assert read_teachers(tmp_path, "Personalnummer;Nachname;Vorname;Klasse\nP1;A;B;3a/3b\n") == [
        ("P1", ("3a", "3b"))
    ]


def test_unknown_class_format_is_rejected_with_file_line_and_field(tmp_path: Path) -> None:
    rows = read_teachers(tmp_path, "Personalnummer;Nachname;Vorname;Klassen\nP1;A;B;5a,#?!\n")
    assert rows == [(f"{tmp_path / 'lehrer.csv'}:2: teacher_classes: unknown class format '#?!'", ())]


def test_oneroster_teacher_enrollments(tmp_path: Path) -> None:
    files = {
        "manifest.csv": "propertyName,value\noneroster.version,1.1\n",
        "orgs.csv": "sourcedId,status,name,type,identifier\norg-a,,Schule A,school,gs-a\n",
        "classes.csv": "sourcedId,status,title,classCode,classType,schoolSourcedId\n"
        "c5a,,5a,5a,homeroom,org-a\nc6b,,6b,6b,homeroom,org-a\nc9z,tobedeleted,9z,9z,homeroom,org-a\n",
        "enrollments.csv": "sourcedId,status,classSourcedId,schoolSourcedId,userSourcedId,role\n"
        "e1,,c5a,org-a,u1,student\ne2,,c5a,org-a,t1,teacher\ne3,,c6b,org-a,t1,teacher\n"
        "e4,,c9z,org-a,t1,teacher\ne5,tobedeleted,c6b,org-a,t2,teacher\n",
        "users.csv": "sourcedId,status,enabledUser,orgSourcedIds,role,givenName,familyName\n"
        "u1,,true,org-a,student,Lea,Weiß\nt1,,true,org-a,teacher,Karl,Lüders\nt2,,true,org-a,teacher,Ute,Ok\n",
    }
    folder = tmp_path / "oneroster"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    result = read_roster(RosterSource(path=folder, format="oneroster", role="mixed"), "gs-a")
    assert {p.source_id: p.teacher_classes for p in result.persons} == {
        "u1": (),
        "t1": ("5a", "6b"),
        "t2": (),
    }


def test_teachers_join_the_groups_of_their_classes_that_have_pupils(tmp_path: Path) -> None:
    inventory = load_inventory(write_inventory(tmp_path, school_ids=("gs-a", "gs-b")))

    def person(role: str, source_id: str, schools: tuple[str, ...], **extra: object) -> DesiredPerson:
        return DesiredPerson(
            key=identity_key("county", role, source_id),
            role=role,
            first_name=source_id.capitalize(),
            last_name="Test",
            schools=schools,
            class_name=extra.pop("class_name", None),  # type: ignore[arg-type]
            email=None,
            origin="test",
            **extra,  # type: ignore[arg-type]
        )

    persons = [
        person("pupil", "lea", ("gs-a",), class_name="5a"),
        person("pupil", "emre", ("gs-b",), class_name="5a"),
        person(
            "teacher",
            "karl",
            ("gs-a", "gs-b"),
            teacher_classes=(("gs-a", "5a"), ("gs-a", "9z"), ("gs-b", "5a")),
        ),
        person("teacher", "ute", ("gs-a",)),
    ]
    desired = DesiredState(
        {p.key: p for p in persons}, [SchoolReport("gs-a", persons=3), SchoolReport("gs-b", persons=2)]
    )
    empty = DirectoryState({}, {}, set(), set(), set(), set())
    plan = plan_changes(inventory, desired, empty, date(2026, 8, 1))
    members = {c.dn.split(",")[0]: c.details["members"] for c in plan.changes if c.action == "group-create"}
    assert members["cn=gs-a-5a"] == ["karl.test", "lea.test"]
    assert members["cn=gs-b-5a"] == ["emre.test", "karl.test"]
    assert "cn=gs-a-9z" not in members  # a class without pupils gets no group
    assert members["cn=gs-a-teachers"] == ["karl.test", "ute.test"]


def test_per_school_inventory_fallback_for_exports_without_a_class_column(tmp_path: Path) -> None:
    root = write_inventory(tmp_path, school_ids=("gs-a",))
    school_file = root / "schools" / "gs-a.toml"
    (root / "rosters" / "lehrer.csv").write_text(
        "Personalnummer;Nachname;Vorname;Klassen\nP1;Lüders;Karl;\nP2;Weiß;Ute;2b\n", encoding="utf-8"
    )
    school_file.write_text(
        school_file.read_text()
        + '\n[[rosters]]\npath = "rosters/lehrer.csv"\nrole = "teacher"\n'
        + '\n[teacher_classes]\nP1 = ["05A", "1b"]\nP2 = ["1a"]\n'
    )
    inventory = load_inventory(root)
    desired = build_desired(inventory, ["gs-a"])
    taught = {p.last_name: p.teacher_classes for p in desired.persons.values() if p.role == "teacher"}
    assert taught == {"Lüders": (("gs-a", "1b"), ("gs-a", "5a")), "Weiß": (("gs-a", "1a"), ("gs-a", "2b"))}
    school_file.write_text(school_file.read_text() + 'P3 = ["#?"]\nP4 = "5a"\n')
    with pytest.raises(InventoryError) as error:
        load_inventory(root)
    assert f"{school_file}: teacher_classes.P3: unknown class format '#?'" in str(error.value)
    assert "teacher_classes.P4: expected a list of class names" in str(error.value)
