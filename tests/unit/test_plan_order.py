"""The plan's order does not depend on the order rosters or the directory list persons in."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path

from schulit.accounts.desired import DesiredState
from schulit.accounts.diff import plan_changes
from schulit.accounts.model import (
    ActualAccount,
    ActualGroup,
    DesiredPerson,
    DirectoryState,
    SchoolReport,
    identity_key,
)
from schulit.inventory import load_inventory
from tests.helpers.inventory import write_inventory

TODAY = date(2026, 9, 1)


def test_account_changes_come_by_action_then_identity_key_whatever_the_input_order(tmp_path: Path) -> None:
    inventory = load_inventory(write_inventory(tmp_path, school_ids=("gs-a", "gs-b")))
    layout = inventory.layout
    gids = {"gs-a": 20001, "gs-b": 20002}
    groups = {
        layout.group_dn(school, f"{school}-pupils").lower(): ActualGroup(
            layout.group_dn(school, f"{school}-pupils"), f"{school}-pupils", gid, set(), True
        )
        for school, gid in gids.items()
    }

    def account(source_id: str, school: str, last: str, *, off: date | None = None) -> ActualAccount:
        login = f"{source_id}.{last.lower()}"
        return ActualAccount(
            dn=layout.account_dn(school, "pupil", login),
            login=login,
            key=identity_key("county", "pupil", source_id),
            role="pupil",
            first_name=source_id,
            last_name=last,
            home_school=school,
            schools=(school,),
            class_name="5a",
            email=None,
            uid_number=10000 + int(source_id[1:]),
            gid_number=gids[school],
            deactivated_on=off,
            locked_on=None,
        )

    def person(source_id: str, school: str, last: str, class_name: str = "5a") -> DesiredPerson:
        return DesiredPerson(
            key=identity_key("county", "pupil", source_id),
            role="pupil",
            first_name=source_id,
            last_name=last,
            schools=(school,),
            class_name=class_name,
            email=None,
            origin="test",
        )

    accounts = [
        account("p1", "gs-a", "Alt"),  # gone from the roster: deactivated
        account("p2", "gs-a", "Bach"),  # now at gs-b: moved
        account("p3", "gs-a", "Cramer"),  # new name: updated
        account("p4", "gs-b", "Dietz", off=date(2026, 7, 1)),  # back: reactivated
        account("p5", "gs-b", "Ernst"),  # new class: updated
        account("p6", "gs-a", "Fuchs"),  # gone as well
        account("p7", "gs-b", "Gabel"),  # unchanged
    ]
    persons = [
        person("p2", "gs-b", "Bach"),
        person("p3", "gs-a", "Kramer"),
        person("p4", "gs-b", "Dietz"),
        person("p5", "gs-b", "Ernst", "6b"),
        person("p7", "gs-b", "Gabel"),
        person("p8", "gs-a", "Neu"),  # new: created
    ]
    expected = [
        ("move", "p2.bach"),
        ("update", "p2.bach"),  # its schools and gid follow the move
        ("update", "p3.cramer"),
        ("update", "p5.ernst"),
        ("reactivate", "p4.dietz"),
        ("deactivate", "p1.alt"),
        ("deactivate", "p6.fuchs"),
    ]
    seen = set()
    for persons_order, accounts_order in itertools.islice(
        itertools.product(itertools.permutations(persons), itertools.permutations(accounts)), 0, None, 997
    ):
        desired_persons = {p.key: p for p in persons_order}
        reports = [SchoolReport("gs-a", persons=2), SchoolReport("gs-b", persons=4)]
        state = DirectoryState(
            {a.key: a for a in accounts_order},
            dict(groups),
            {a.login for a in accounts},
            {a.uid_number for a in accounts},
            set(gids.values()),
            set(),
        )
        desired = DesiredState(desired_persons, reports)
        plan = plan_changes(inventory, desired, state, TODAY, force=True)  # 2 of 3 leave gs-a
        account_changes = [
            (c.action, c.login)
            for c in plan.changes
            if c.action in ("move", "update", "reactivate", "deactivate")
        ]
        assert account_changes == expected, (account_changes, [r.safety_stop for r in plan.schools])
        created = [c for c in plan.changes if c.action == "create"]
        assert [c.login for c in created] == ["p8.neu"]
        assert created[0].details["uid_number"] == inventory.uid_range.first
        seen.add((persons_order[0].key, accounts_order[0].key))
    assert len(seen) > 20  # many different input orders were tried
