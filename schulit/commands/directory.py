"""``schulit directory init|acl``."""

from __future__ import annotations

import click

from schulit.context import AppContext
from schulit.directory.acl import DEFAULT_DATABASE_DN, FORMATS, county_rules, format_ldif, format_slapd_conf
from schulit.directory.connection import connected
from schulit.directory.init import apply_init, plan_init


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
