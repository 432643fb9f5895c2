"""The demo county loads, reads cleanly and regenerates byte for byte."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from pathlib import Path

from schulit.inventory import SCHOOL_TYPES, load_inventory
from schulit.rosters import read_roster

DEMO = Path(__file__).resolve().parents[2] / "inventories" / "demo"


def test_demo_inventory_loads_with_mixed_school_types() -> None:
    inventory = load_inventory(DEMO)
    assert len(inventory.schools) == 8
    assert {"Grundschule", "Oberschule", "Gymnasium", "BBS"} <= {s.type for s in inventory.schools}
    assert {s.type for s in inventory.schools} <= set(SCHOOL_TYPES)
    servers = inventory.servers()
    assert len({s.name for s in servers}) == len(servers)
    assert len({(s.address, s.port) for s in servers}) == len(servers)
    assert all(ipaddress.ip_address(s.address).is_loopback for s in servers)
    assert {s.identity for s in inventory.schools} == {"source-id", "name+birthdate"}
    assert {r.format for s in inventory.schools for r in s.rosters} == {"csv", "oneroster", "sophomorix"}
    assert {r.preset for s in inventory.schools for r in s.rosters} == {None, "schild-nrw"}


def test_every_demo_roster_reads_without_rejects() -> None:
    inventory = load_inventory(DEMO)
    pupils = 0
    teacher_schools: dict[str, set[str]] = {}
    names = set()
    for school in inventory.schools:
        for source in school.rosters:
            result = read_roster(source, school.id, identity=school.identity)
            assert result.rejected == [], [str(r) for r in result.rejected[:3]]
            for person in result.persons:
                names.add(person.last_name)
                if person.role == "pupil":
                    pupils += 1
                else:
                    teacher_schools.setdefault(person.source_id, set()).add(school.id)
    assert 3000 <= pupils <= 4500
    assert sum(1 for schools in teacher_schools.values() if len(schools) == 2) >= 6
    assert {"Öztürk", "Weiß", "Wąsowski", "Nguyễn", "Mustermann"} <= names


def test_demo_birth_years_fit_the_grade_and_e_mails_are_transliterated() -> None:
    inventory = load_inventory(DEMO)
    for school in inventory.schools:
        for source in school.rosters:
            for person in read_roster(source, school.id, identity=school.identity).persons:
                if person.email:
                    local = person.email.split("@")[0]
                    assert re.fullmatch(r"[a-z0-9]\.[a-z0-9]+", local), person.email
                grade = re.match(r"\d+", person.class_name or "")
                if person.role == "pupil" and person.birth_date and grade and school.type != "BBS":
                    age = 2026 - person.birth_date.year  # by the end of 2026, in the school year 2026/27
                    assert 5 + int(grade.group()) <= age <= 6 + int(grade.group()), (person, age)
                if person.role == "pupil" and person.birth_date:
                    assert person.birth_date.year <= 2020, person


def test_generator_is_reproducible(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(DEMO / "generate_rosters.py"), str(tmp_path)], check=True, capture_output=True
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(DEMO / "rosters") for p in (DEMO / "rosters").rglob("*") if p.is_file())
    assert generated == committed
    for relative in generated:
        assert (tmp_path / relative).read_bytes() == (DEMO / "rosters" / relative).read_bytes(), relative
