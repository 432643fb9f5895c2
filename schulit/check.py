"""``inventory check``: everything that can be checked without the network.

Beyond what loading the inventory validates (keys, types, values, ids, file names): every roster source is
read exactly the way a sync reads it (encoding, header, every row; a rejected row is a problem, as it would
stop that school's sync), and every server's template set is loaded and rendered (with an empty directory
state, and once more with a made-up class, pupil and teacher: the check never connects), so that a missing
role folder, an unknown variable or a template syntax error shows up before the night, not during it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schulit.configs.facts import empty_state
from schulit.configs.manifest import load_manifest
from schulit.configs.render import render_host
from schulit.errors import SchulitError
from schulit.inventory import Inventory, School
from schulit.rosters import RosterError, read_roster


@dataclass
class SchoolCounts:
    """What the rosters of one school hold, as a sync would read them."""

    pupils: int = 0
    teachers: int = 0
    classes: int = 0
    rejected: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "pupils": self.pupils,
            "teachers": self.teachers,
            "classes": self.classes,
            "rejected": self.rejected,
        }


@dataclass
class CheckReport:
    """Problems (``file[:line]: field: problem``) and roster counts per school."""

    counts: dict[str, SchoolCounts] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    rendered: int = 0  # files rendered across all servers

    @property
    def ok(self) -> bool:
        return not self.problems


def sample_state(school_id: str) -> dict[str, Any]:
    """A made-up state with one class, pupil and teacher, so that templates render their loops' bodies."""
    state = empty_state(school_id)
    person = {"uid_number": 100000, "first_name": "Erika", "last_name": "Muster", "home_school": school_id}
    state["pupils"] = [{**person, "login": "erika.muster", "class": "1a"}]
    state["teachers"] = [{**person, "login": "max.muster", "uid_number": 100001, "class": None}]
    state["classes"] = [{"name": "1a", "group": f"{school_id}-1a", "members": ["erika.muster"]}]
    return state


def check_inventory(inventory: Inventory) -> CheckReport:
    """Read every roster source and render every server's files; collect every problem."""
    report = CheckReport()
    for school in inventory.schools:
        report.counts[school.id] = _check_rosters(school, report.problems)
    if inventory.servers() and not inventory.templates_dir.is_dir():
        report.problems.append(
            f"{inventory.root / 'county.toml'}: templates.dir: folder not found: {inventory.templates_dir}"
        )
        return report
    for school in inventory.schools:
        for server in school.servers:
            missing = False
            for role in server.roles:
                try:
                    load_manifest(inventory.templates_dir, role)
                except SchulitError as exc:
                    report.problems.append(f"{school.file}: servers.{server.name}.roles: {exc}")
                    missing = True
            if missing:
                continue
            try:
                host = render_host(inventory, server, empty_state(school.id))
                render_host(inventory, server, sample_state(school.id))  # the loops' bodies, too
            except SchulitError as exc:
                report.problems.append(str(exc))
                continue
            report.rendered += len(host.files)
    return report


def _check_rosters(school: School, problems: list[str]) -> SchoolCounts:
    counts = SchoolCounts()
    classes: set[str] = set()
    for source in school.rosters:
        try:
            result = read_roster(source, school.id, identity=school.identity)
        except RosterError as exc:
            problems.append(str(exc))
            continue
        for person in result.persons:
            if person.role == "pupil":
                counts.pupils += 1
                if person.class_name:
                    classes.add(person.class_name)
            else:
                counts.teachers += 1
        counts.rejected += len(result.rejected)
        problems.extend(str(row) for row in result.rejected)
    counts.classes = len(classes)
    return counts
