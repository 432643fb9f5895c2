"""Rosters → desired persons: read every selected school's sources, normalise, merge across schools."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from schulit.accounts.model import DesiredPerson, SchoolReport, identity_key
from schulit.inventory import Inventory, School
from schulit.records import RosterPerson, RosterSource
from schulit.rosters import RosterError, read_roster


@dataclass
class DesiredState:
    """The persons of the schools that were read without error, and a report per school."""

    persons: dict[str, DesiredPerson]
    reports: list[SchoolReport]

    @property
    def readable_schools(self) -> set[str]:
        """Schools whose rosters were read and accepted: only these are synced."""
        return {r.school_id for r in self.reports if r.error is None}


def _scope(inventory: Inventory, school: School, role: str) -> str:
    if school.identity == "name+birthdate":
        return school.id
    configured = inventory.identity.pupil_id_scope if role == "pupil" else inventory.identity.teacher_id_scope
    return "county" if configured == "county" else school.id


def _taught(school: School, person: RosterPerson) -> tuple[tuple[str, str], ...]:
    """(school, class) pairs a teacher teaches here: from the export, plus the school's inventory fallback."""
    if person.role != "teacher":
        return ()
    classes = {*person.teacher_classes, *school.teacher_classes.get(person.source_id, ())}
    return tuple((school.id, c) for c in sorted(classes))


def read_school(
    school: School, sources: tuple[RosterSource, ...], skip_bad_rows: bool
) -> tuple[list[RosterPerson], SchoolReport]:
    """Read all roster sources of one school; a bad roster fails the school (unless rows may be skipped)."""
    report = SchoolReport(school.id)
    persons: list[RosterPerson] = []
    for source in sources:
        try:
            result = read_roster(source, school.id, identity=school.identity)
        except RosterError as exc:
            report.error = str(exc)
            return [], report
        persons.extend(result.persons)
        report.rejected.extend(str(row) for row in result.rejected)
    if report.rejected and not skip_bad_rows:
        report.error = (
            f"{len(report.rejected)} rejected row(s); fix the export or run with --skip-bad-rows "
            f"(first: {report.rejected[0]})"
        )
        return [], report
    if not any(p.role == "pupil" for p in persons) and any(s.role in ("pupil", "mixed") for s in sources):
        report.error = "the pupil roster has no pupils (empty or truncated export?)"
        return [], report
    report.persons = len(persons)
    return persons, report


def build_desired(
    inventory: Inventory,
    school_ids: list[str],
    roster_overrides: Mapping[str, tuple[RosterSource, ...]] | None = None,
    skip_bad_rows: bool = False,
    progress: Callable[[int], None] | None = None,
) -> DesiredState:
    """Read the rosters of ``school_ids`` and merge them into one person per identity key."""
    overrides = roster_overrides or {}
    merged: dict[str, DesiredPerson] = {}
    reports: list[SchoolReport] = []
    for done, school_id in enumerate(sorted(school_ids), start=1):
        school = inventory.school(school_id)
        persons, report = read_school(school, overrides.get(school_id, school.rosters), skip_bad_rows)
        reports.append(report)
        if progress is not None:
            progress(done)
        seen_in_school: set[str] = set()
        for person in persons:
            key = identity_key(_scope(inventory, school, person.role), person.role, person.source_id)
            if key in seen_in_school:
                report.rejected.append(f"{person.origin}: source_id: duplicate id {person.source_id!r}")
                continue
            seen_in_school.add(key)
            existing = merged.get(key)
            if existing is None:
                merged[key] = DesiredPerson(
                    key=key,
                    role=person.role,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    schools=(school.id,),
                    class_name=person.class_name if person.role == "pupil" else None,
                    email=person.email,
                    origin=person.origin,
                    birth_date=person.birth_date,
                    teacher_classes=_taught(school, person),
                )
            elif person.role == "teacher":
                merged[key] = DesiredPerson(
                    key=key,
                    role="teacher",
                    first_name=existing.first_name,
                    last_name=existing.last_name,
                    schools=tuple(sorted({*existing.schools, school.id})),
                    class_name=None,
                    email=existing.email or person.email,
                    origin=existing.origin,
                    teacher_classes=tuple(sorted({*existing.teacher_classes, *_taught(school, person)})),
                )
            else:
                report.rejected.append(
                    f"{person.origin}: source_id: pupil id {person.source_id!r} is already on the roster of "
                    f"{existing.schools[0]} ({existing.origin}); kept there"
                )
    return DesiredState(persons=merged, reports=reports)
