"""``schulit directory init|acl|check-replicas``."""

from __future__ import annotations

import sys

import click

from schulit.context import AppContext
from schulit.directory.acl import DEFAULT_DATABASE_DN, FORMATS, county_rules, format_ldif, format_slapd_conf
from schulit.directory.connection import connected
from schulit.directory.init import apply_init, plan_init
from schulit.errors import EXIT_CHANGES_PENDING, EXIT_ERROR


@click.group("directory")
def directory_group() -> None:
    """Set up the central directory."""


@directory_group.command("init")
@click.option("--dry-run", is_flag=True, help="Show what would be created; change nothing.")
@click.pass_obj
def init(app: AppContext, dry_run: bool) -> None:
    """Create the base entry and the county/school OUs that are missing (idempotent)."""
    inventory = app.inventory()
    settings = inventory.directory
    layout = inventory.layout
    with connected(settings) as connection:
        plan = plan_init(connection, layout, [school.id for school in inventory.schools], inventory.samba)
        if plan.changes == 0:
            app.info(f"directory init: nothing to do ({settings.base_dn} is complete)")
            return
        if dry_run:
            if plan.base_missing:
                app.info(f"would create {layout.base_dn}")
            for dn in plan.missing + ([plan.samba_domain] if plan.samba_domain else []):
                app.info(f"would create {dn}")
            app.info(f"directory init (dry run): {plan.changes} entries would be created")
            return
        created = apply_init(connection, layout, plan, inventory.county_name, inventory.samba)
    for dn in created:
        app.detail(f"created {dn}")
    app.info(f"directory init: created {len(created)} entries below {settings.base_dn}")


@directory_group.command("check-replicas")
@click.option("--repair", is_flag=True, help="Write the winning version where it is missing or different.")
@click.option(
    "--settle",
    type=float,
    default=2.0,
    show_default=True,
    help="Seconds to wait before reading the differing entries again (replication still under way).",
)
@click.pass_obj
def check_replicas_command(app: AppContext, repair: bool, settle: float) -> None:
    """Compare every replication provider of directory.url entry by entry (DN, entryCSN, the attributes
    schulit manages). Exit 0: in sync; 2: differences (without --repair); 1: a provider could not be read
    or a repair failed."""
    from schulit.directory.replicas import check_replicas
    from schulit.directory.replicas import repair as repair_differences

    settings = app.inventory().directory
    report = check_replicas(settings, settle=settle, progress=lambda unit: app.detail(f"compared {unit}"))
    for difference in report.differences:
        app.info(difference.describe())
    summary = (
        f"check-replicas: {report.entries} entries on {len(report.providers)} providers, "
        f"{len(report.differences)} differences"
    )
    if not report.differences:
        app.info(summary)
        return
    if not repair:
        app.info(summary + " (run with --repair to rewrite the winning versions)")
        sys.exit(EXIT_CHANGES_PENDING)
    repair_differences(settings, report.differences)
    failed = [d for d in report.differences if not d.repaired]
    for difference in report.differences:
        if difference.repaired:
            app.info(f"repaired {difference.dn} on {', '.join(difference.behind)}")
        else:
            app.warn(f"could not repair {difference.dn}: {difference.error}")
    app.info(f"{summary}; {len(report.differences) - len(failed)} repaired, {len(failed)} failed")
    if failed:
        sys.exit(EXIT_ERROR)


@directory_group.command("acl")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="slapd.conf",
    show_default=True,
    help="slapd.conf lines, or an LDIF modify for cn=config (olcAccess).",
)
@click.option(
    "--database-dn",
    default=DEFAULT_DATABASE_DN,
    show_default=True,
    help="The cn=config entry of the county's database (LDIF only).",
)
@click.pass_obj
def acl(app: AppContext, output_format: str, database_dn: str) -> None:
    """Print the OpenLDAP access rules for schulit's subtree (least privilege for the school servers)."""
    inventory = app.inventory()
    leading, rules = county_rules(inventory)
    base_dn = inventory.directory.base_dn
    if output_format == "ldif":
        click.echo(format_ldif(rules, base_dn, database_dn, leading), nl=False)
    else:
        click.echo(format_slapd_conf(rules, base_dn, leading), nl=False)
