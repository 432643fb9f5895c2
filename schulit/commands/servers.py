"""``schulit servers sync|list|rotate-secret``: the school servers' own directory identities."""

from __future__ import annotations

import click

from schulit.context import AppContext
from schulit.servers.identities import identity_dn, rotate, secret_store, sync_identities


@click.group("servers")
def servers_group() -> None:
    """The school servers' read-only directory identities (sssd, Samba) and their secrets."""


@servers_group.command("sync")
@click.option("--check", is_flag=True, help="Show what would change; change nothing.")
@click.pass_obj
def sync(app: AppContext, check: bool) -> None:
    """Create missing identities, repair secrets the directory does not match, remove unknown servers'.

    `configs push` does the first two for the servers it pushes to.
    """
    changes, total = sync_identities(app.inventory(), check=check)
    if not changes:
        app.info(f"servers sync: nothing to do ({total} identities in place)")
        return
    for change in changes:
        app.info(("would " if check else "") + change.describe())
    app.info(f"servers sync{' (check)' if check else ''}: {len(changes)} changes")


@servers_group.command("list")
@click.pass_obj
def list_servers(app: AppContext) -> None:
    """Every server, its identity's DN and whether its secret exists here (never the secret)."""
    inventory = app.inventory()
    store = secret_store(inventory)
    for server in inventory.servers():
        state = "secret kept" if store.read(server.name) else "no secret yet"
        click.echo(f"{server.name:<24} {identity_dn(inventory.layout, server)}  ({state})")


@servers_group.command("rotate-secret")
@click.argument("host")
@click.pass_obj
def rotate_secret(app: AppContext, host: str) -> None:
    """A new secret for HOST's identity; the next `configs push --limit HOST` brings it to the server."""
    inventory = app.inventory()
    change = rotate(inventory, host)
    app.info(f"{change.describe()}: new secret in {secret_store(inventory).path(host)} (mode 0600)")
    app.info(f"now run: schulit configs push --limit {host}")
