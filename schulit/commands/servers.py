"""``schulit servers sync|list|rotate-secret``: the school servers' own directory identities."""

from __future__ import annotations

import click

from schulit.audit import AuditLog
from schulit.context import AppContext
from schulit.directory.layout import Layout
from schulit.servers.identities import (
    apply_identities,
    identity_dn,
    plan_identities,
    rotate_secret,
    secret_store,
)


@click.group("servers")
def servers_group() -> None:
    """The school servers' read-only directory identities (sssd, Samba) and their secrets."""


@servers_group.command("sync")
@click.option("--check", is_flag=True, help="Show what would change; change nothing.")
@click.pass_obj
def sync(app: AppContext, check: bool) -> None:
    """Create missing identities, repair a secret the directory does not match, remove unknown servers'."""
    inventory = app.inventory()
    store = secret_store(inventory)
    with app.directory() as connection:
        changes = plan_identities(connection, inventory, inventory.servers(), store, remove_unknown=True)
        if not changes:
            app.info(f"servers sync: nothing to do ({len(inventory.servers())} identities in place)")
            return
        if check:
            for change in changes:
                app.info(f"would {change.describe()}")
            app.info(f"servers sync (check): {len(changes)} changes")
            return
        with AuditLog(inventory.audit_log, "servers sync") as audit:
            done = apply_identities(connection, inventory, changes, store, audit)
    for change in done:
        app.info(change.describe())
    app.info(f"servers sync: {len(done)} changes")


@servers_group.command("list")
@click.pass_obj
def list_servers(app: AppContext) -> None:
    """Every server, its identity's DN and whether its secret exists here (never the secret)."""
    inventory = app.inventory()
    store = secret_store(inventory)
    layout = Layout(inventory.directory.base_dn)
    for server in inventory.servers():
        state = "secret kept" if store.read(server.name) else "no secret yet"
        click.echo(f"{server.name:<24} {identity_dn(layout, server)}  ({state})")


@servers_group.command("rotate-secret")
@click.argument("host")
@click.pass_obj
def rotate(app: AppContext, host: str) -> None:
    """A new secret for HOST's identity; the next `configs push --limit HOST` brings it to the server."""
    inventory = app.inventory()
    store = secret_store(inventory)
    with app.directory() as connection, AuditLog(inventory.audit_log, "servers rotate-secret") as audit:
        change = rotate_secret(connection, inventory, host, store, audit)
    app.info(f"{change.describe()}: new secret in {store.path(host)} (mode 0600)")
    app.info(f"now run: schulit configs push --limit {host}")
