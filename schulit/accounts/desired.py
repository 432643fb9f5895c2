"""Rosters → desired persons: read every selected school's sources, normalise, merge across schools."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from schulit.accounts.model import ActualAccount, DesiredPerson, DirectoryState, SchoolReport, identity_key
from schulit.inventory import Inventory, School
from schulit.records import RosterPerson, RosterSource
from schulit.rosters import RosterError, read_roster
from schulit.rosters.namekey import NameKeyError, NameKeys, legacy_source_id, load_name_keys


@dataclass
class DesiredState:
    """The persons of the schools that were read without error, and a report per school.

    - ``deltas``: schools read from a delta bundle → the identity keys it removes; everyone else of such a
      school stays as the directory has them (see ``with_deltas``).
    - ``name_keys``: the county's secret, once a name+birthdate school was read (probable renames).
    - ``legacy_keys``: key of a name+birthdate person → the key its account had before keys were
      versioned (re-keyed in place).
    - ``logins``: key → the login a migration source (sophomorix, UCS@school) gave; kept as it is.
    """

    persons: dict[str, DesiredPerson]
    reports: list[SchoolReport]
    deltas: dict[str, set[str]] = field(default_factory=dict)
    name_keys: NameKeys | None = None
    legacy_keys: dict[str, str] = field(default_factory=dict)
    logins: dict[str, str] = field(default_factory=dict)

    @property
    def readable_schools(self) -> set[str]:
        """Schools whose rosters were read and accepted: only these are synced."""
        return {r.school_id for r in self.reports if r.error is None}


@dataclass
class SchoolRoster:
    """What the sources of one school gave."""

    persons: list[RosterPerson]
    report: SchoolReport
    delta: bool = False
    deleted: set[str] = field(default_factory=set)  # delta: source ids that leave


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
    school: School,
    sources: tuple[RosterSource, ...],
    skip_bad_rows: bool,
    name_keys: NameKeys | None = None,
) -> SchoolRoster:
    """Read all roster sources of one school; a bad roster fails the school (unless rows may be skipped)."""
    report = SchoolReport(school.id)
    roster = SchoolRoster([], report)
    for source in sources:
        try:
            result = read_roster(
                source,
                school.id,
                identity=school.identity,
                name_keys=name_keys,
                require_class=school.require_class,
            )
        except RosterError as exc:
            report.error = str(exc)
            return SchoolRoster([], report)
        roster.persons.extend(result.persons)
        report.rejected.extend(str(row) for row in result.rejected)
        roster.delta = roster.delta or result.delta
        roster.deleted.update(result.deleted)
    if report.rejected and not skip_bad_rows:
        report.error = (
            f"{len(report.rejected)} rejected row(s); fix the export or run with --skip-bad-rows "
            f"(first: {report.rejected[0]})"
        )
        return SchoolRoster([], report)
    if (
        not roster.delta
        and not any(p.role == "pupil" for p in roster.persons)
        and any(s.role in ("pupil", "mixed") for s in sources)
    ):
        report.error = "the pupil roster has no pupils (empty or truncated export?)"
        return SchoolRoster([], report)
    report.persons = len(roster.persons)
    return roster


def build_desired(
    inventory: Inventory,
    school_ids: list[str],
    roster_overrides: Mapping[str, tuple[RosterSource, ...]] | None = None,
    skip_bad_rows: bool = False,
    progress: Callable[[int], None] | None = None,
) -> DesiredState:
    """Read the rosters of ``school_ids`` and merge them into one person per identity key."""
    overrides = roster_overrides or {}
    state = DesiredState(persons={}, reports=[])
    merged = state.persons
    for done, school_id in enumerate(sorted(school_ids), start=1):
        school = inventory.school(school_id)
        name_keys = None
        if school.identity == "name+birthdate":
            try:
                state.name_keys = state.name_keys or load_name_keys(inventory.identity.name_key_file)
            except NameKeyError as exc:
                state.reports.append(SchoolReport(school.id, error=str(exc)))
                continue
            name_keys = state.name_keys
        roster = read_school(school, overrides.get(school_id, school.rosters), skip_bad_rows, name_keys)
        report = roster.report
        state.reports.append(report)
        if progress is not None:
            progress(done)
        if roster.delta and report.error is None:
            state.deltas[school.id] = {
                identity_key(_scope(inventory, school, role), role, source_id)
                for source_id in roster.deleted
                for role in ("pupil", "teacher")
            }
        seen_in_school: set[str] = set()
        only_here = (sys.intern(school.id),)  # one tuple for the school's persons (see schema.parse_account)
        for person in roster.persons:
            scope = _scope(inventory, school, person.role)
            key = identity_key(scope, person.role, person.source_id)
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
                    schools=only_here,
                    class_name=person.class_name if person.role == "pupil" else None,
                    email=person.email,
                    origin=person.origin,
                    birth_date=person.birth_date,
                    teacher_classes=_taught(school, person),
                )
                if school.identity == "name+birthdate" and person.birth_date is not None:
                    legacy = legacy_source_id(person.first_name, person.last_name, person.birth_date)
                    state.legacy_keys[key] = identity_key(scope, person.role, legacy)
                if person.login:
                    state.logins[key] = person.login
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
                if person.login and key not in state.logins:
                    state.logins[key] = person.login
            else:
                report.rejected.append(
                    f"{person.origin}: source_id: pupil id {person.source_id!r} is already on the roster of "
                    f"{existing.schools[0]} ({existing.origin}); kept there"
                )
    return state


def with_deltas(desired: DesiredState, actual: DirectoryState) -> DesiredState:
    """Complete the schools read from delta bundles with the accounts their delta does not touch.

    An active account in a delta school that the delta neither lists nor removes keeps that school, as the
    directory has it; a listed pupil without a class keeps the class the account has.
    """
    if not desired.deltas:
        return desired
    persons = dict(desired.persons)
    taught: dict[
        str, set[tuple[str, str]]
    ] = {}  # login -> (delta school, class) of the class groups it is in
    for group in actual.groups.values():
        for school_id in desired.deltas:
            name = group.name.removeprefix(f"{school_id}-")
            if group.managed and name != group.name and name not in ("pupils", "teachers"):
                for login in group.members:
                    taught.setdefault(login, set()).add((school_id, name))
    for account in actual.accounts.values():
        if account.deactivated_on is not None:
            continue
        keep = {s for s in account.schools if s in desired.deltas and account.key not in desired.deltas[s]}
        if not keep:
            continue
        listed = persons.get(account.key)
        if listed is None:
            persons[account.key] = DesiredPerson(
                key=account.key,
                role=account.role,
                first_name=account.first_name,
                last_name=account.last_name,
                schools=tuple(sorted(keep)),
                class_name=account.class_name if account.role == "pupil" else None,
                email=account.email,
                origin=f"{account.dn} (not in the delta)",
                teacher_classes=_kept_classes(account, keep, taught),
            )
        elif listed.role == "teacher":
            # a delta school where the listed teacher has no classes (no enrollments in the delta) keeps
            # the classes the directory has
            given = {school for school, _ in listed.teacher_classes}
            kept = {c for c in _kept_classes(account, keep, taught) if c[0] not in given}
            persons[account.key] = replace(
                listed,
                schools=tuple(sorted({*listed.schools, *keep})),
                teacher_classes=tuple(sorted({*listed.teacher_classes, *kept})),
            )
        elif listed.class_name is None and account.class_name and listed.schools[0] in desired.deltas:
            persons[account.key] = replace(listed, class_name=account.class_name)
    return replace(desired, persons=persons)


def _kept_classes(
    account: ActualAccount, schools: set[str], taught: dict[str, set[tuple[str, str]]]
) -> tuple[tuple[str, str], ...]:
    """A teacher's classes in ``schools`` as the directory's class groups have them."""
    if account.role != "teacher":
        return ()
    return tuple(sorted(c for c in taught.get(account.login, ()) if c[0] in schools))
