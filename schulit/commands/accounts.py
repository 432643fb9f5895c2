"""``schulit accounts ...``: plan, sync, list, show, reset-password, lock, unlock, purge."""

from __future__ import annotations

import click

from schulit.commands.pending import not_implemented

SCHOOL_OPTION = click.option(
    "--school",
    "schools",
    multiple=True,
    metavar="ID",
    help="Only this school (repeatable). Default: all schools.",
)
ROSTER_OPTION = click.option(
    "--roster",
    "rosters",
    multiple=True,
    metavar="ID=PATH",
    help="Use PATH as the roster of school ID for this run (repeatable).",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


@click.group("accounts")
def accounts_group() -> None:
    """Pupil and teacher accounts in the central directory."""


@accounts_group.command("plan")
@SCHOOL_OPTION
@ROSTER_OPTION
@JSON_OPTION
def plan(schools: tuple[str, ...], rosters: tuple[str, ...], as_json: bool) -> None:
    """Compare the rosters with the directory and show what a sync would change.

    Exit 0: nothing to do; 2: changes pending.
    """
    raise not_implemented("accounts plan")


@accounts_group.command("sync")
@SCHOOL_OPTION
@ROSTER_OPTION
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Apply even if the safety limit would stop the run.")
@click.option("--dry-run", is_flag=True, help="Only plan; change nothing (same as 'accounts plan').")
@JSON_OPTION
def sync(
    schools: tuple[str, ...], rosters: tuple[str, ...], yes: bool, force: bool, dry_run: bool, as_json: bool
) -> None:
    """Apply the rosters to the directory: create, update, move, deactivate, reactivate accounts."""
    raise not_implemented("accounts sync")


@accounts_group.command("list")
@click.option("--school", metavar="ID", help="Only accounts of this school.")
@click.option("--class", "class_name", metavar="C", help="Only pupils of this class.")
@click.option("--state", type=click.Choice(["active", "deactivated", "locked"]), help="Only this state.")
@JSON_OPTION
def list_accounts(school: str | None, class_name: str | None, state: str | None, as_json: bool) -> None:
    """List accounts as a table (or JSON)."""
    raise not_implemented("accounts list")


@accounts_group.command("show")
@click.argument("login")
def show(login: str) -> None:
    """Show one account: names, school, class, state, and why it is disabled."""
    raise not_implemented("accounts show")


@accounts_group.command("reset-password")
@click.argument("logins", nargs=-1)
def reset_password(logins: tuple[str, ...]) -> None:
    """Give accounts a new initial password (written to the 0600 delivery file, never printed)."""
    raise not_implemented("accounts reset-password")


@accounts_group.command("lock")
@click.argument("login")
def lock(login: str) -> None:
    """Lock an account by hand (sync leaves a hand lock alone)."""
    raise not_implemented("accounts lock")


@accounts_group.command("unlock")
@click.argument("login")
def unlock(login: str) -> None:
    """Remove a hand lock."""
    raise not_implemented("accounts unlock")


@accounts_group.command("purge")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
def purge(yes: bool, dry_run: bool) -> None:
    """Delete accounts that have been deactivated longer than the grace period."""
    raise not_implemented("accounts purge")
