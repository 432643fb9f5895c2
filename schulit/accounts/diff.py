"""Desired persons × directory state → an ordered plan. Pure: no I/O, the clock is a parameter.

Only schools whose rosters were read cleanly ("selected") are synced. An account's schools outside the
selection are kept as they are, so a partial run (``--school``) or a school with a broken export never takes
anything away from the other schools.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from schulit.accounts.desired import DesiredState, with_deltas
from schulit.accounts.model import (
    COUNTY_GROUPS,
    ActualAccount,
    Change,
    DesiredPerson,
    DirectoryState,
    Plan,
    SchoolReport,
)
from schulit.accounts.rules import managed_counts, over_safety_limit
from schulit.directory.layout import ROLE_CONTAINERS, Layout, normalise_dn
from schulit.errors import SchulitError
from schulit.inventory import Inventory, NumberRange
from schulit.naming import allocate_login, login_base
from schulit.rosters.matching import probable_renames
from schulit.rosters.namekey import NameKeys, source_id_of_key


@dataclass(slots=True)
class FinalAccount:
    """Where an account ends up after the plan: what group membership is computed from."""

    login: str
    role: str
    schools: tuple[str, ...]
    home_school: str
    class_name: str | None
    active: bool
    teacher_classes: tuple[tuple[str, str], ...] = ()  # (school id, class) a teacher teaches


@dataclass
class _Allocator:
    """Hands out free numbers from a range in ascending order, skipping used ones."""

    number_range: NumberRange
    used: set[int]
    what: str
    _next: int = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.number_range.first

    def take(self) -> int:
        while self._next in self.used:
            self._next += 1
        if self._next > self.number_range.last:
            raise SchulitError(
                f"no free {self.what} left in {self.number_range.first}-{self.number_range.last}"
            )
        self.used.add(self._next)
        return self._next


def _birth_date_of_key(key: str, name_keys: NameKeys | None = None) -> Hashable | None:
    """What a name+birthdate key holds of the birth date: the keyed hash (``nbd2:``), or for old
    ``nbd:...|yyyy-mm-dd`` keys the date (as the same keyed hash when ``name_keys`` is given)."""
    school_id = key.split(":", 2)[1] if key.count(":") >= 3 else ""
    source_id = source_id_of_key(key)
    if name_keys is not None:
        return name_keys.birth_token_of(school_id, source_id)
    try:
        return date.fromisoformat(source_id.rsplit("|", 1)[1])
    except (IndexError, ValueError):
        return None


class _Planner:
    def __init__(
        self,
        inventory: Inventory,
        desired: DesiredState,
        actual: DirectoryState,
        today: date,
        selected: set[str],
        confirmed_renames: set[str],
        frozen: set[str],
    ):
        self.inventory = inventory
        self.layout = inventory.layout
        self.desired = desired
        self.actual = actual
        self.today = today
        self.selected = selected
        self.confirmed_renames = confirmed_renames
        self.frozen = frozen
        self.changes: list[Change] = []
        self.taken = set(actual.taken_logins)
        self.uids = _Allocator(inventory.uid_range, set(actual.used_uid_numbers), "uidNumber")
        self.gids = _Allocator(inventory.gid_range, set(actual.used_gid_numbers), "gidNumber")
        self.final: dict[str, FinalAccount] = {}
        self.deactivations: dict[str, int] = {}
        self.group_gid: dict[str, int] = {}  # lower-case group DN -> gid (existing or allocated)
        self.role_gids: dict[tuple[str, str], int] = {}

    # --- containers and groups -------------------------------------------------------------------------
    def containers(self) -> list[Change]:
        changes = []
        if normalise_dn(self.layout.base_dn) not in self.actual.existing_dns:
            changes.append(Change("container-create", "", self.layout.base_dn))
        for dn in self.layout.base_containers(sorted(self.selected)):
            if normalise_dn(dn) not in self.actual.existing_dns:
                changes.append(Change("container-create", "", dn))
        return changes

    def role_group_gid(self, school_id: str, role: str) -> int:
        found = self.role_gids.get((school_id, role))  # asked once per account: DN escaping is not free
        if found is None:
            dn = self.layout.group_dn(school_id, f"{school_id}-{ROLE_CONTAINERS[role]}")
            found = self.role_gids[(school_id, role)] = self._gid_for(dn)
        return found

    def _gid_for(self, dn: str) -> int:
        key = dn.lower()
        if key not in self.group_gid:
            existing = self.actual.groups.get(key)
            self.group_gid[key] = existing.gid_number if existing else self.gids.take()
        return self.group_gid[key]

    # --- accounts ----------------------------------------------------------------------------------------
    def renames(self) -> tuple[dict[str, ActualAccount], set[str]]:
        """Name+birthdate schools: old-form keys re-keyed in place; probable renames (confirmed ones re-key
        the account, others wait)."""
        remapped: dict[str, ActualAccount] = {}
        on_hold: set[str] = set()
        name_keys = self.desired.name_keys
        nbd_schools = {s.id for s in self.inventory.schools if s.identity == "name+birthdate"} & self.selected
        for school_id in sorted(nbd_schools):
            appeared = [
                p
                for p in self.desired.persons.values()
                if p.schools[0] == school_id
                and p.key not in self.actual.accounts
                and p.key not in self.frozen
            ]
            appeared_keys = set(self.desired.persons)
            legacy_claims: dict[str, list[DesiredPerson]] = {}
            for person in appeared:
                legacy = self.desired.legacy_keys.get(person.key)
                account = self.actual.accounts.get(legacy or "")
                if account is not None and account.home_school == school_id and legacy not in appeared_keys:
                    legacy_claims.setdefault(account.key, []).append(person)
            rekeyed: set[str] = set()
            for old_key, people in sorted(legacy_claims.items()):
                if len(people) != 1:
                    continue  # two persons fold to one old key: left to the probable-rename check below
                account, person = self.actual.accounts[old_key], people[0]
                remapped[person.key] = account
                on_hold.add(old_key)
                rekeyed.add(person.key)
                self.changes.append(_key_change(school_id, account, old_key, person.key))
            vanished = [
                (a.key, a.first_name, a.last_name, _birth_date_of_key(a.key, name_keys))
                for a in self.actual.accounts.values()
                if a.home_school == school_id
                and a.key not in self.desired.persons
                and a.key not in on_hold
                and a.deactivated_on is None
            ]
            appeared = [p for p in appeared if p.key not in rekeyed]

            def birth_of(person: DesiredPerson, school_id: str = school_id) -> Hashable | None:
                if person.birth_date is None:
                    return None
                if name_keys is None:
                    return person.birth_date
                return name_keys.birth_token(school_id, person.birth_date)

            for old_key, person in probable_renames(vanished, appeared, birth_of):
                account = self.actual.accounts[old_key]
                if account.login in self.confirmed_renames:
                    remapped[person.key] = account
                    on_hold.add(old_key)  # handled through the new key
                    self.changes.append(_key_change(school_id, account, old_key, person.key))
                else:
                    on_hold.update({old_key, person.key})
                    self.changes.append(
                        Change(
                            "probable-rename",
                            school_id,
                            account.dn,
                            account.login,
                            {
                                "from": f"{account.first_name} {account.last_name}",
                                "to": f"{person.first_name} {person.last_name}",
                                "origin": person.origin,
                                "confirm_with": f"--confirm-rename {account.login}",
                            },
                        )
                    )
        return remapped, on_hold

    def create(self, person: DesiredPerson) -> None:
        home = person.schools[0]
        given = self.desired.logins.get(person.key)  # a login the source gave (migration): kept as it is
        if given is not None and given in self.taken:
            note = (
                f"{person.origin}: login: {given!r} (given by the roster) is taken; not created: "
                f"'schulit accounts adopt --school {home}' takes over an entry schulit did not create"
            )
            report = next((r for r in self.desired.reports if r.school_id == home), None)
            if report is not None and note not in report.rejected:
                report.rejected.append(note)
            return
        base = given or login_base(person.first_name, person.last_name, self.inventory.naming)
        login = allocate_login(
            base, lambda name: name.lower() in self.taken, self.inventory.naming.max_length
        )
        self.taken.add(login.lower())
        details = {
            "key": person.key,
            "role": person.role,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "schools": list(person.schools),
            "class": person.class_name,
            "email": person.email,
            "uid_number": self.uids.take(),
            "gid_number": self.role_group_gid(home, person.role),
            "origin": person.origin,
            "school_name": self.inventory.school(home).name,
        }
        self.changes.append(
            Change("create", home, self.layout.account_dn(home, person.role, login), login, details)
        )
        self.final[person.key] = FinalAccount(
            login, person.role, person.schools, home, person.class_name, True, person.teacher_classes
        )

    def keep_or_update(self, account: ActualAccount, person: DesiredPerson | None) -> None:
        schools = account.schools
        if person is not None and len(schools) == 1 and schools[0] in self.selected:
            target = person.schools  # the common case, without the set arithmetic (sorted, no repeats)
        else:
            outside = {s for s in schools if s not in self.selected}
            target = tuple(sorted(set(person.schools if person else ()) | outside))
        if not target:
            self.final[account.key] = replace_final(account, active=False)
            if account.deactivated_on is None:
                school = (
                    account.home_school
                    if account.home_school in self.selected
                    else (sorted(set(account.schools) & self.selected) or [account.home_school])[0]
                )
                self.deactivations[school] = self.deactivations.get(school, 0) + 1
                self.changes.append(
                    Change("deactivate", school, account.dn, account.login, {"since": self.today.isoformat()})
                )
            return
        dn = account.dn
        home = account.home_school
        if home not in target:
            preferred = [s for s in (person.schools if person else ()) if s in target] or list(target)
            home = preferred[0]
            dn = self.layout.account_dn(home, account.role, account.login)
            self.changes.append(
                Change(
                    "move",
                    home,
                    account.dn,
                    account.login,
                    {"new_dn": dn, "from_school": account.home_school, "to_school": home},
                )
            )
        changes: dict[str, list[object]] = {}
        if person is not None and (
            person.first_name != account.first_name
            or person.last_name != account.last_name
            or (account.role == "pupil" and person.class_name != account.class_name)
            or (person.email and person.email != account.email)
        ):  # one test for the common case of nothing to change, then which fields
            if person.first_name != account.first_name:
                changes["first_name"] = [account.first_name, person.first_name]
            if person.last_name != account.last_name:
                changes["last_name"] = [account.last_name, person.last_name]
            if changes:
                changes["cn"] = [
                    f"{account.first_name} {account.last_name}",
                    f"{person.first_name} {person.last_name}",
                ]
            if account.role == "pupil" and person.class_name != account.class_name:
                changes["class"] = [account.class_name, person.class_name]
            if person.email and person.email != account.email:
                changes["email"] = [account.email, person.email]
        if target != account.schools:
            changes["schools"] = [list(account.schools), list(target)]
        if home in self.selected:
            gid = self.role_group_gid(home, account.role)
            if gid != account.gid_number:
                changes["gid_number"] = [account.gid_number, gid]
        if changes:
            self.changes.append(Change("update", home, dn, account.login, {"changes": changes}))
        if account.deactivated_on is not None:
            self.changes.append(
                Change(
                    "reactivate",
                    home,
                    dn,
                    account.login,
                    {"deactivated_since": account.deactivated_on.isoformat()},
                )
            )
        class_name = (
            person.class_name if person is not None and account.role == "pupil" else account.class_name
        )
        taught = person.teacher_classes if person is not None else ()
        self.final[account.key] = FinalAccount(
            account.login, account.role, target, home, class_name, True, taught
        )

    # --- groups --------------------------------------------------------------------------------------------
    def desired_groups(self) -> dict[str, tuple[str, str | None, set[str]]]:
        """lower DN -> (dn, school or None, members) for the selected schools and the county groups."""
        groups: dict[str, tuple[str, str | None, set[str]]] = {}
        by_name: dict[tuple[str | None, str], set[str]] = {}  # a few per account: no DN escaping each time

        def add(school_id: str | None, name: str) -> set[str]:
            members = by_name.get((school_id, name))
            if members is None:
                dn = self.layout.group_dn(school_id, name)
                members = by_name[(school_id, name)] = groups.setdefault(dn.lower(), (dn, school_id, set()))[
                    2
                ]
            return members

        for name in COUNTY_GROUPS.values():
            add(None, name)
        for school_id in sorted(self.selected):
            add(school_id, f"{school_id}-pupils")
            add(school_id, f"{school_id}-teachers")
        selected = self.selected
        county = {role: add(None, name) for role, name in COUNTY_GROUPS.items()}
        of_school: dict[tuple[str, str], set[str]] = {}  # (school, role) -> members, for speed
        of_class: dict[tuple[str, str], set[str]] = {}  # (school, class) -> members
        for final in self.final.values():
            if not final.active:
                continue
            login, role = final.login, final.role
            county[role].add(login)
            for school_id in final.schools:
                if school_id in selected:
                    members = of_school.get((school_id, role))
                    if members is None:
                        members = of_school[(school_id, role)] = add(
                            school_id, f"{school_id}-{ROLE_CONTAINERS[role]}"
                        )
                    members.add(login)
            if role == "pupil" and final.class_name and final.home_school in selected:
                home, class_name = final.home_school, final.class_name
                members = of_class.get((home, class_name))
                if members is None:
                    members = of_class[(home, class_name)] = add(home, f"{home}-{class_name}")
                members.add(login)
        # a teacher joins the groups of the classes they teach, where the class has pupils (a class only in
        # the teachers' export gets no group)
        for final in self.final.values():
            if not final.active or final.role != "teacher":
                continue
            for school_id, class_name in final.teacher_classes:
                if school_id in self.selected and school_id in final.schools:
                    key = self.layout.group_dn(school_id, f"{school_id}-{class_name}").lower()
                    if key in groups:
                        groups[key][2].add(final.login)
        return groups

    def groups(self) -> tuple[list[Change], list[Change], list[Change]]:
        creates, updates, deletes = [], [], []
        wanted = self.desired_groups()
        for key in sorted(wanted):
            dn, school_id, members = wanted[key]
            existing = self.actual.groups.get(key)
            if existing is None:
                creates.append(
                    Change(
                        "group-create",
                        school_id or "",
                        dn,
                        "",
                        {"gid_number": self._gid_for(dn), "members": sorted(members)},
                    )
                )
            elif not existing.managed:
                raise SchulitError(f"{dn} exists but was not created by schulit; rename or remove it by hand")
            elif existing.members != members:
                updates.append(
                    Change(
                        "group-update",
                        school_id or "",
                        dn,
                        "",
                        {
                            "add": sorted(members - existing.members),
                            "remove": sorted(existing.members - members),
                        },
                    )
                )
        school_group_parents = {self.layout.container_dn(s, "groups").lower() for s in self.selected}
        for key in sorted(self.actual.groups):
            group = self.actual.groups[key]
            parent = key.split(",", 1)[1] if "," in key else ""
            if group.managed and key not in wanted and parent in school_group_parents:
                school = _school_of_group(parent, self.selected, self.layout)
                deletes.append(
                    Change("group-delete", school, group.dn, "", {"members": sorted(group.members)})
                )
        return creates, updates, deletes

    # --- the whole plan ------------------------------------------------------------------------------------
    def _planning_order(self, on_hold: set[str], remapped: dict[str, ActualAccount]) -> Iterator[str]:
        """Every identity key to plan, once: the rosters' persons as read, then the directory's others;
        none on hold, except the new keys of re-keyed accounts (``remapped``: always a roster person's).

        Not sorted: sorting a million keys (and the union set it needs) took 0.8 s, and walking the
        accounts in the order they were made touches memory in order. The plan's order comes from
        sorting its changes by identity key instead."""
        persons = self.desired.persons
        for key in persons:
            if key not in on_hold or key in remapped:
                yield key
        for key in self.actual.accounts:
            if key not in persons and key not in on_hold:
                yield key

    def run(self) -> list[Change]:
        containers = self.containers()
        remapped, on_hold = self.renames()
        renames = list(self.changes)
        self.changes = []
        new_persons = []
        keyed: list[tuple[str, Change]] = []  # (identity key, change): sorted by key below
        for key in self._planning_order(on_hold, remapped):
            person = self.desired.persons.get(key)
            account = remapped.get(key) or self.actual.accounts.get(key)
            if key in self.frozen:
                if account is not None:
                    self.final[key] = replace_final(account, active=account.deactivated_on is None)
                continue
            if account is None:
                if person is not None:
                    new_persons.append(person)
                continue
            if person is None and not set(account.schools) & self.selected:
                self.final[key] = replace_final(account, active=account.deactivated_on is None)
                continue
            before = len(self.changes)
            self.keep_or_update(account, person)
            if len(self.changes) != before:
                keyed.extend((key, change) for change in self.changes[before:])
        remapped_old_keys = {account.key for account in remapped.values()}
        for key in sorted(on_hold - remapped_old_keys):
            account = self.actual.accounts.get(key)
            if account is not None:
                self.final[key] = replace_final(account, active=account.deactivated_on is None)
        order = {"move": 0, "update": 1, "reactivate": 2, "deactivate": 3}
        account_changes = [
            change
            for _, _, _, change in sorted(
                (order[change.action], key, index, change) for index, (key, change) in enumerate(keyed)
            )
        ]
        self.changes = []
        for person in sorted(
            new_persons,
            key=lambda p: (p.schools[0], p.role, p.last_name.lower(), p.first_name.lower(), p.key),
        ):
            self.create(person)
        creates = self.changes
        group_creates, group_updates, group_deletes = self.groups()
        return (
            containers + group_creates + renames + creates + account_changes + group_updates + group_deletes
        )


def _key_change(school_id: str, account: ActualAccount, old_key: str, new_key: str) -> Change:
    """The update that gives an account a new identity key (a rename, or an old-form key replaced)."""
    return Change(
        "update", school_id, account.dn, account.login, {"changes": {"key": [_shown_key(old_key), new_key]}}
    )


def _shown_key(key: str) -> str:
    """An identity key for plans and logs: an old-form name+birthdate key holds a birth date in clear."""
    return "(old form, birth date in clear)" if source_id_of_key(key).startswith("nbd:") else key


def _school_of_group(parent_dn: str, selected: Iterable[str], layout: Layout) -> str:
    for school_id in selected:
        if layout.container_dn(school_id, "groups").lower() == parent_dn:
            return school_id
    return ""


def replace_final(account: ActualAccount, *, active: bool) -> FinalAccount:
    """The final state of an account this run does not change (beyond activity)."""
    return FinalAccount(
        account.login, account.role, account.schools, account.home_school, account.class_name, active
    )


def plan_changes(
    inventory: Inventory,
    desired: DesiredState,
    actual: DirectoryState,
    today: date,
    *,
    force: bool = False,
    confirmed_renames: Iterable[str] = (),
) -> Plan:
    """Compute the plan. A school over the safety limit is stopped unless ``force``: the plan is made again
    as if its roster had not been read, so that nothing at all is written for it (no update, class change,
    move, reactivation or group change either); its report lists what it would have deactivated."""
    desired = with_deltas(desired, actual)  # delta bundles: who they do not list stays as they are
    reports = {r.school_id: r for r in desired.reports}
    selected = set(desired.readable_schools)
    counts = managed_counts(actual.accounts.values())
    frozen: set[str] = set()  # identity keys on a stopped school's roster: left exactly as they are
    while True:
        planner = _Planner(inventory, desired, actual, today, selected, set(confirmed_renames), frozen)
        changes = planner.run()
        over = {
            school: found
            for school, found in over_safety_limit(inventory.safety, planner.deactivations, counts).items()
            if school in selected
        }
        if force or not over:
            break
        for school, (count, limit) in over.items():
            reports[school].safety_stop = (
                f"would deactivate {count} of {counts.get(school, 0)} accounts (limit {limit}: "
                f"{inventory.safety.max_percent:g} % or {inventory.safety.max_count}); nothing written for "
                f"this school; check the export, then run with --force if it is right"
            )
            reports[school].held = [
                {"action": c.action, "login": c.login, "dn": c.dn}
                for c in changes
                if c.school == school and c.action == "deactivate"
            ]
        selected -= set(over)
        frozen |= {key for key, person in desired.persons.items() if set(person.schools) & set(over)}
    return Plan(changes=changes, schools=[reports[k] for k in sorted(reports)], today=today, managed=counts)


__all__ = ["SchoolReport", "plan_changes"]
