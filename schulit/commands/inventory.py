"""``schulit inventory check``."""

from __future__ import annotations

import json

import click

from schulit.context import AppContext


@click.group("inventory")
def inventory_group() -> None:
    """Inspect the county inventory."""


@inventory_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the schools and servers as one JSON document.")
@click.pass_obj
def check(app: AppContext, as_json: bool) -> None:
    """Validate the inventory and that every roster source exists.

    Exits 1 and names file and key for every problem found.
    """
    inventory = app.inventory()
    if as_json:
        document = {
            "county": {"name": inventory.county_name, "short_name": inventory.county_short_name},
            "schools": [
                {
                    "id": school.id,
                    "name": school.name,
                    "type": school.type,
                    "identity": school.identity,
                    "rosters": [
                        {"path": str(r.path), "format": r.format, "role": r.role} for r in school.rosters
                    ],
                    "servers": [
                        {"name": s.name, "address": s.address, "port": s.port, "roles": list(s.roles)}
                        for s in school.servers
                    ],
                }
                for school in inventory.schools
            ],
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    app.info(
        f"{inventory.county_name}: {len(inventory.schools)} schools, "
        f"{len(inventory.servers())} servers, directory {inventory.directory.url}"
    )
    for school in inventory.schools:
        servers = ", ".join(f"{s.name} ({'+'.join(s.roles)})" for s in school.servers) or "no servers"
        app.info(
            f"  {school.id:<24} {school.type:<12} {school.name}  [{len(school.rosters)} roster source(s); "
            f"{servers}]"
        )
    app.info("inventory ok")
