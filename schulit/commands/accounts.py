"""``schulit accounts ...``: plan, sync, list, find, show, reset-password, rename, lock, unlock, purge."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from schulit.accounts import helpdesk, ops, service
from schulit.accounts.model import Change, Plan
from schulit.accounts.service import SyncOptions, roster_override, run_sync
from schulit.context import AppContext
from schulit.errors import EXIT_CHANGES_PENDING, EXIT_ERROR, SchulitError
from schulit.inventory import ROSTER_FORMATS, ROSTER_ROLES

SCHOOL_OPTION = click.option(
    "--school",
    "schools",
    multiple=True,
    metavar="ID",
    help="Only this school (repeatable). Default: all schools.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
TODAY_OPTION = click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    hidden=True,
    help="Pretend today is this date (tests, simulations).",
)

COUNT_LABELS = [
    ("create", "create"),
    ("update", "update"),
    ("class-change", "class change"),
    ("move", "move"),
    ("deactivate", "deactivate"),
    ("reactivate", "reactivate"),
]


def roster_options(function: Any) -> Any:
    """Options shared by plan and sync."""
    for option in reversed(
        [
            SCHOOL_OPTION,
            click.option(
                "--roster",
                "rosters",
                multiple=True,
                metavar="ID=PATH",
                help="Use PATH as the (pupil or OneRoster) roster of school ID for this run (repeatable).",
            ),
            click.option(
                "--format",
                "roster_format",
                type=click.Choice(list(ROSTER_FORMATS)),
                help="Format of the --roster files (default: as in the inventory).",
            ),
            click.option(
                "--role",
                "roster_role",
                type=click.Choice(list(ROSTER_ROLES)),
                help="Who is in the --roster files: pupil (default for a CSV file; replaces the pupil "
                "roster), teacher (replaces the teacher roster) or mixed (replaces every roster).",
            ),
            click.option(
                "--preset",
                metavar="NAME",
                help="Export preset of the --roster files (schild-nrw, asv-bw, ...; see the README).",
            ),
            click.option("--encoding", help="Encoding of the --roster files (default: as in the inventory)."),
            click.option(
                "--delimiter", help="Delimiter of the --roster CSV files (default: as in the inventory)."
            ),
            click.option(
                "--skip-bad-rows",
                is_flag=True,
                help="Sync a school even if some rows were rejected (they are reported and skipped).",
            ),
            click.option(
                "--confirm-rename",
                "confirmed_renames",
                multiple=True,
                metavar="LOGIN",
                help="Apply the probable rename the plan shows for LOGIN (name+birthdate schools).",
            ),
            TODAY_OPTION,
            JSON_OPTION,
        ]
    ):
        function = option(function)
    return function


def _options(
    app: AppContext,
    schools: tuple[str, ...],
    rosters: tuple[str, ...],
    roster_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    skip_bad_rows: bool,
    confirmed_renames: tuple[str, ...],
    today: Any,
    force: bool = False,
    roster_role: str | None = None,
    preset: str | None = None,
) -> SyncOptions:
    inventory = app.inventory()
    overrides = dict(
        roster_override(
            inventory,
            spec,
            format=roster_format,
            encoding=encoding,
            delimiter=delimiter,
            role=roster_role,
            preset=preset,
        )
        for spec in rosters
    )
    return SyncOptions(
        schools=schools,
        roster_overrides=overrides,
        skip_bad_rows=skip_bad_rows,
        force=force,
        confirmed_renames=confirmed_renames,
        today=today.date() if today else None,
    )


def describe_change(change: Change) -> str:
    """One line for --verbose output (never a password: plans do not contain any)."""
    details = change.details
    if change.action == "create":
        where = details["role"]
        if details["role"] == "pupil":
            where = f"pupil, {details.get('class') or 'no class'}"
        return f"+ create {change.login} ({details['first_name']} {details['last_name']}, {where})"
    if change.action == "update":
        parts = [
            f"{name} {old!r} -> {new!r}" for name, (old, new) in details["changes"].items() if name != "cn"
        ]
        return f"~ update {change.login}: {'; '.join(parts)}"
    if change.action == "move":
        return f"> move {change.login}: {details['from_school']} -> {details['to_school']}"
    if change.action == "group-update":
        return f"~ group {change.dn}: +{len(details['add'])} -{len(details['remove'])} members"
    if change.action == "probable-rename":
        return (
            f"? probable rename {change.login}: {details['from']} -> {details['to']} "
            f"(apply with {details['confirm_with']})"
        )
    sign = "-" if change.action in ("deactivate", "group-delete") else "+"
    return f"{sign} {change.action} {change.login or change.dn}"


def render_plan(app: AppContext, plan: Plan, *, verbose_limit: int = 5) -> None:
    """Human summary per school, details with --verbose."""
    inventory = app.inventory()
    for report in plan.schools:
        school = inventory.school(report.school_id)
        counts = plan.counts(report.school_id)
        app.info(f"{school.id} ({school.name}): {report.persons} persons on the roster")
        summary = " · ".join(f"{label} {counts.get(key, 0)}" for key, label in COUNT_LABELS)
        groups = (
            f"groups +{counts.get('group-create', 0)} ~{counts.get('group-update', 0)} "
            f"-{counts.get('group-delete', 0)}"
        )
        app.info(f"  {summary} · {groups}")
        if counts.get("probable-rename"):
            app.info(f"  probable renames waiting for confirmation: {counts['probable-rename']}")
        if report.error:
            app.warn(f"{school.id}: NOT SYNCED: {report.error}")
        if report.safety_stop:
            app.warn(f"{school.id}: STOPPED BY THE SAFETY LIMIT: {report.safety_stop}")
            for held in report.held if app.verbose else []:
                app.info(f"  held back: {held['action']} {held['login']} ({held['dn']})")
            if report.held and not app.verbose:
                app.info(f"  {len(report.held)} accounts would be deactivated (--verbose lists them)")
        shown = report.rejected if app.verbose else report.rejected[:verbose_limit]
        for line in shown:
            app.warn(f"rejected: {line}")
        if len(shown) < len(report.rejected):
            app.warn(f"... and {len(report.rejected) - len(shown)} more rejected rows (--verbose shows all)")
    containers = [c for c in plan.changes if c.action == "container-create"]
    if containers:
        app.info(f"directory containers to create: {len(containers)}")
    county = plan.counts("")
    if county.get("group-update") or county.get("group-create"):
        app.info(f"county groups: +{county.get('group-create', 0)} ~{county.get('group-update', 0)}")
    for change in plan.changes:
        if change.action == "probable-rename" or app.verbose:
            app.info(f"  {describe_change(change)}")


@click.group("accounts")
def accounts_group() -> None:
    """Pupil and teacher accounts in the central directory."""


@accounts_group.command("plan")
@roster_options
@click.pass_obj
def plan(
    app: AppContext,
    schools: tuple[str, ...],
    rosters: tuple[str, ...],
    roster_format: str | None,
    roster_role: str | None,
    preset: str | None,
    encoding: str | None,
    delimiter: str | None,
    skip_bad_rows: bool,
    confirmed_renames: tuple[str, ...],
    today: Any,
    as_json: bool,
) -> None:
    """Compare the rosters with the directory and show what a sync would change.

    Exit 0: nothing to do; 2: changes pending; 1: a roster could not be used; 3: a school would exceed the
    safety limit.
    """
    options = _options(
        app,
        schools,
        rosters,
        roster_format,
        encoding,
        delimiter,
        skip_bad_rows,
        confirmed_renames,
        today,
        roster_role=roster_role,
        preset=preset,
    )
    outcome = run_sync(app.inventory(), options, command="accounts plan", dry_run=True)
    _finish_plan(app, outcome.plan, as_json)


def _finish_plan(app: AppContext, plan_: Plan, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(plan_.to_json(), indent=2, ensure_ascii=False))
    else:
        render_plan(app, plan_)
        held = held_renames(plan_)
        if plan_.pending:
            app.info(f"plan: {len(plan_.pending)} changes pending")
        elif not held:
            app.info("plan: nothing to do")
        if held:
            app.info(
                f"plan: {len(held)} probable rename{'s' if len(held) != 1 else ''} waiting for an admin "
                "(confirm each with --confirm-rename LOGIN)"
            )
    from schulit.accounts.service import plan_exit_code

    code = plan_exit_code(plan_)
    if code:
        sys.exit(code)
    if plan_.pending or held_renames(plan_):
        sys.exit(EXIT_CHANGES_PENDING)


def held_renames(plan_: Plan) -> list[Change]:
    """Probable renames the plan holds back until an admin confirms them."""
    return [c for c in plan_.changes if c.action == "probable-rename"]


@accounts_group.command("sync")
@roster_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Apply even where the safety limit would stop a school.")
@click.option("--dry-run", is_flag=True, help="Only plan; change nothing (same as 'accounts plan').")
@click.option(
    "--lock-timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds to wait for another running sync.",
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Apply this saved 'accounts plan --json' instead of reading the rosters "
    "(refused if the directory changed since).",
)
@click.pass_obj
def sync(
    app: AppContext,
    schools: tuple[str, ...],
    rosters: tuple[str, ...],
    roster_format: str | None,
    roster_role: str | None,
    preset: str | None,
    encoding: str | None,
    delimiter: str | None,
    skip_bad_rows: bool,
    confirmed_renames: tuple[str, ...],
    today: Any,
    as_json: bool,
    yes: bool,
    force: bool,
    dry_run: bool,
    lock_timeout: float,
    plan_file: Path | None,
) -> None:
    """Apply the rosters to the directory: create, update, move, deactivate, reactivate accounts.

    New initial passwords go only to 0600 delivery files (see 'passwords letters'). A school whose export
    looks truncated (more leavers than the safety limit) is not touched unless --force; exit 3.
    """
    options = _options(
        app,
        schools,
        rosters,
        roster_format,
        encoding,
        delimiter,
        skip_bad_rows,
        confirmed_renames,
        today,
        force=force,
        roster_role=roster_role,
        preset=preset,
    )
    options.lock_timeout = lock_timeout
    saved = service.load_saved_plan(plan_file) if plan_file is not None else None
    if saved is not None and (rosters or schools or force or confirmed_renames):
        raise SchulitError(
            "--plan applies the saved plan as it is: no --school, --roster, --force or --confirm-rename"
        )
    if dry_run:
        outcome = run_sync(
            app.inventory(), options, command="accounts sync", dry_run=True, saved_plan=saved
        )
        _finish_plan(app, outcome.plan, as_json)
        return

    def confirm(plan_: Plan) -> bool:
        if not as_json:
            render_plan(app, plan_)
        if yes:
            return True
        if not sys.stdin.isatty():
            raise SchulitError("not on a terminal: add --yes to apply without asking")
        return click.confirm(f"apply {len(plan_.pending)} changes?", default=False)

    outcome = run_sync(
        app.inventory(),
        options,
        command="accounts sync",
        confirm=confirm,
        show_progress=not (as_json or app.quiet),
        saved_plan=saved,
    )
    if as_json:
        click.echo(
            json.dumps(
                {"plan": outcome.plan.to_json(), **outcome.result.to_json()}, indent=2, ensure_ascii=False
            )
        )
    else:
        if not outcome.plan.pending:
            render_plan(app, outcome.plan)
            app.info("sync: nothing to do")
        else:
            app.info(
                f"sync: applied {len(outcome.result.applied)} changes, {len(outcome.result.failed)} failed"
            )
        for change, error in outcome.result.failed:
            app.warn(f"failed: {change.action} {change.dn}: {error}")
        for path in outcome.result.delivery_files:
            app.info(f"new passwords for letters: {path} (mode 0600; print with 'schulit passwords letters')")
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


@accounts_group.command("list")
@click.option("--school", metavar="ID", help="Only accounts of this school.")
@click.option("--class", "class_name", metavar="C", help="Only pupils of this class.")
@click.option("--state", type=click.Choice(["active", "deactivated", "locked"]), help="Only this state.")
@JSON_OPTION
@click.pass_obj
def list_accounts(
    app: AppContext, school: str | None, class_name: str | None, state: str | None, as_json: bool
) -> None:
    """List accounts as a table (or JSON)."""
    inventory = app.inventory()
    accounts = helpdesk.list_accounts(inventory, school=school, class_name=class_name, state=state)
    if as_json:
        click.echo(
            json.dumps([ops.account_json(a, inventory) for a in accounts], indent=2, ensure_ascii=False)
        )
        return
    _table(app, accounts)


def _table(app: AppContext, accounts: list[Any]) -> None:
    click.echo(f"{'LOGIN':<22} {'NAME':<34} {'ROLE':<8} {'SCHOOL':<22} {'CLASS':<8} STATE")
    for account in accounts:
        name = f"{account.first_name} {account.last_name}"
        click.echo(
            f"{account.login:<22} {name[:34]:<34} {account.role:<8} {account.home_school:<22} "
            f"{account.class_name or ('(no class)' if account.role == 'pupil' else ''):<8} {account.state}"
        )
    app.info(f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}")



@accounts_group.command("show")
@click.argument("login")
@JSON_OPTION
@click.pass_obj
def show(app: AppContext, login: str, as_json: bool) -> None:
    """Show one account: names, school, class, groups, state, and why it is disabled."""
    document = service.show_account(app.inventory(), login)
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    for key, value in document.items():
        click.echo(f"{key:<16} {', '.join(value) if isinstance(value, list) else value}")


@accounts_group.command("reset-password")
@click.argument("logins", nargs=-1)
@click.option("--school", metavar="ID", help="With --class: every pupil of that class.")
@click.option("--class", "class_name", metavar="C", help="With --school: every pupil of that class.")
@click.option(
    "--letter",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Print the new passwords straight into this PDF (mode 0600); no delivery file is kept.",
)
@click.option("--yes", is_flag=True, help="Also reset deactivated or locked accounts without asking.")
@JSON_OPTION
@click.pass_obj
def reset_password(
    app: AppContext,
    logins: tuple[str, ...],
    school: str | None,
    class_name: str | None,
    letter: Path | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Give accounts a new initial password, never shown: into --letter FILE.pdf or a delivery file.

    A deactivated or locked account stays disabled; resetting it needs a confirmation (or --yes).
    """

    def confirm(disabled: list[Any]) -> bool:
        for account in disabled:
            app.warn(f"warning: {account.login} is {account.state}; a new password does not enable it")
        if yes:
            return True
        if not sys.stdin.isatty():
            raise SchulitError("not on a terminal: add --yes to reset deactivated or locked accounts too")
        return click.confirm("reset anyway?", default=False)

    result = helpdesk.reset_passwords(
        app.inventory(), logins, school=school, class_name=class_name, letter=letter, confirm_disabled=confirm
    )
    if as_json:
        document = {
            "reset": [a.login for a in result.accounts],
            "letter": str(result.letter) if result.letter else None,
            "delivery_files": [str(f) for f in result.delivery_files],
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    count = len(result.accounts)
    what = f"{count} password{'s' if count != 1 else ''}"
    if result.letter is not None:
        app.info(f"reset {what}; letter {result.letter} (mode 0600; the only copy)")
    else:
        files = ", ".join(str(f) for f in result.delivery_files)
        app.info(f"reset {what}; delivery file(s): {files} (print with 'schulit passwords letters')")


@accounts_group.command("find")
@click.argument("text")
@JSON_OPTION
@click.pass_obj
def find(app: AppContext, text: str, as_json: bool) -> None:
    """Find accounts by name, login or roster id; case, umlauts and accents do not matter.

    "Emma Müller", "emma mueller" and "Muller" find the same pupil. Exit 1 when nothing matches.
    """
    inventory = app.inventory()
    accounts = helpdesk.find_accounts(inventory, text)
    if as_json:
        click.echo(
            json.dumps([ops.account_json(a, inventory) for a in accounts], indent=2, ensure_ascii=False)
        )
    else:
        _table(app, accounts)
    if not accounts:
        app.warn(f"no account matches {text!r}")
        sys.exit(EXIT_ERROR)


@accounts_group.command("rename")
@click.argument("login")
@click.argument("new_login")
@TODAY_OPTION
@JSON_OPTION
@click.pass_obj
def rename(app: AppContext, login: str, new_login: str, today: Any, as_json: bool) -> None:
    """Change a login (admin-approved, e.g. a misspelt name): groups and class shares follow.

    The old login stays reserved for lifecycle.login_retention_days, like a deleted one.
    """
    result = helpdesk.rename_account(
        app.inventory(), login, new_login, today=today.date() if today else None
    )
    if as_json:
        document = {
            "old": result.old,
            "new": result.new,
            "dn": result.dn,
            "groups": result.groups,
            "old_reserved_until": result.reserved_until.isoformat(),
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    app.info(
        f"renamed {result.old} -> {result.new} ({len(result.groups)} groups follow); "
        f"{result.old} reserved until {result.reserved_until.isoformat()}"
    )


@accounts_group.command("lock")
@click.argument("login")
@TODAY_OPTION
@click.pass_obj
def lock(app: AppContext, login: str, today: Any) -> None:
    """Lock an account by hand (LDAP and PAM logins refused; sync keeps the lock)."""
    changed = service.lock_account(app.inventory(), login, today.date() if today else date.today())
    app.info(f"{login}: locked" if changed else f"{login}: already locked (nothing to do)")


@accounts_group.command("unlock")
@click.argument("login")
@click.pass_obj
def unlock(app: AppContext, login: str) -> None:
    """Remove a hand lock (a deactivated account stays disabled until it is back on a roster)."""
    changed = service.unlock_account(app.inventory(), login)
    app.info(f"{login}: unlocked" if changed else f"{login}: was not locked (nothing to do)")


@accounts_group.command("purge")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@click.option("--force", is_flag=True, help="Delete even more than the safety limit allows per school.")
@TODAY_OPTION
@JSON_OPTION
@click.pass_obj
def purge(app: AppContext, yes: bool, dry_run: bool, force: bool, today: Any, as_json: bool) -> None:
    """Delete accounts deactivated longer than the grace period; their logins stay reserved."""
    inventory = app.inventory()

    def confirm(purge_plan: ops.PurgePlan) -> bool:
        if not as_json:
            for account in purge_plan.accounts:
                app.detail(f"- delete {account.login} (deactivated {account.deactivated_on})")
        if yes:
            return True
        if not sys.stdin.isatty():
            raise SchulitError("not on a terminal: add --yes to delete without asking")
        due = len(purge_plan.accounts) + len(purge_plan.expired_reservations)
        return click.confirm(f"delete {due} entries?", default=False)

    outcome = service.purge(
        inventory, today.date() if today else date.today(), dry_run=dry_run, force=force, confirm=confirm
    )
    if as_json:
        click.echo(json.dumps({"due": outcome.due, "deleted": outcome.deleted}, indent=2))
        return
    app.info(
        f"purge: {len(outcome.plan.accounts)} accounts past the {inventory.lifecycle.grace_days}-day "
        f"grace period, {len(outcome.plan.expired_reservations)} expired login reservations"
    )
    if not outcome.due:
        app.info("purge: nothing to do")
    elif not dry_run:
        app.info(f"purge: deleted {len(outcome.deleted)} entries")


@accounts_group.command("adopt")
@click.option(
    "--school", "school_id", required=True, metavar="ID", help="The school whose roster is matched."
)
@click.option("--roster", "rosters", multiple=True, metavar="ID=PATH", help="As for 'accounts sync'.")
@click.option(
    "--format", "roster_format", type=click.Choice(list(ROSTER_FORMATS)), help="Format of the --roster files."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Only show what would be taken over.")
@JSON_OPTION
@click.pass_obj
def adopt(
    app: AppContext,
    school_id: str,
    rosters: tuple[str, ...],
    roster_format: str | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Take over entries schulit did not create instead of creating twins.

    An entry is taken over when its uid is the login the roster gives (sophomorix, UCS@school) or its
    employeeNumber is the person's roster id. Login, uidNumber and password stay; run 'accounts sync'
    afterwards to bring names, class and groups in line.
    """
    from schulit.accounts.adopt import AdoptPlan
    from schulit.accounts.adopt import adopt as adopt_entries

    inventory = app.inventory()
    overrides = dict(roster_override(inventory, spec, format=roster_format) for spec in rosters)

    def show(plan_: AdoptPlan) -> None:
        for adoption in plan_.adoptions:
            app.info(
                f"  + adopt {adoption.dn} as {adoption.login} ({adoption.name}, {adoption.role}; "
                f"{adoption.reason}) -> {adoption.new_dn}"
            )
        for line in plan_.left:
            app.warn(f"left alone: {line}")
        app.info(f"adopt: {len(plan_.adoptions)} entries to take over in {plan_.school_id}")

    def confirm(plan_: AdoptPlan) -> bool:
        if not as_json:
            show(plan_)
        if yes:
            return True
        if not sys.stdin.isatty():
            raise SchulitError("not on a terminal: add --yes to adopt without asking")
        return click.confirm(f"take over {len(plan_.adoptions)} entries?", default=False)

    plan_, done = adopt_entries(
        inventory, school_id, confirm=confirm, dry_run=dry_run, roster_overrides=overrides
    )
    if as_json:
        click.echo(json.dumps({**plan_.to_json(), "adopted": done}, indent=2, ensure_ascii=False))
        return
    if dry_run or not plan_.adoptions:
        show(plan_)
        if not plan_.adoptions:
            app.info("adopt: nothing to do")
        return
    app.info(f"adopt: took over {len(done)} entries; run 'schulit accounts sync' to bring them in line")
