"""``schulit directory init``."""

from __future__ import annotations

import click

from schulit.context import AppContext
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
        plan = plan_init(connection, layout, [school.id for school in inventory.schools])
        if plan.changes == 0:
            app.info(f"directory init: nothing to do ({settings.base_dn} is complete)")
            return
        if dry_run:
            if plan.base_missing:
                app.info(f"would create {layout.base_dn}")
            for dn in plan.missing:
                app.info(f"would create {dn}")
            app.info(f"directory init (dry run): {plan.changes} entries would be created")
            return
        created = apply_init(connection, layout, plan, inventory.county_name)
    for dn in created:
        app.detail(f"created {dn}")
    app.info(f"directory init: created {len(created)} entries below {settings.base_dn}")
