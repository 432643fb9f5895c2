"""``schulit inventory check``."""

from __future__ import annotations

import json
import sys

import click

from schulit.check import check_inventory
from schulit.context import AppContext
from schulit.errors import EXIT_ERROR


@click.group("inventory")
def inventory_group() -> None:
    """Inspect the county inventory."""


@inventory_group.command("check")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print schools, servers, roster counts and problems as one JSON document.",
)
@click.pass_obj
def check(app: AppContext, as_json: bool) -> None:
    """Validate the inventory, read every roster source and render every server's templates (no network).

    Reports every problem as file[:line]: field: problem, roster counts per school; exit 1 on any problem.
    """
    inventory = app.inventory()
    report = check_inventory(inventory)
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
                    "counts": report.counts[school.id].to_json(),
                    "servers": [
                        {"name": s.name, "address": s.address, "port": s.port, "roles": list(s.roles)}
                        for s in school.servers
                    ],
                }
                for school in inventory.schools
            ],
            "problems": report.problems,
            "ok": report.ok,
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        app.info(
            f"{inventory.county_name}: {len(inventory.schools)} schools, "
            f"{len(inventory.servers())} servers, directory {inventory.directory.url}"
        )
        for school in inventory.schools:
            counts = report.counts[school.id]
            servers = ", ".join(f"{s.name} ({'+'.join(s.roles)})" for s in school.servers) or "no servers"
            app.info(
                f"  {school.id:<24} {school.type:<12} {counts.pupils:>5} pupils in {counts.classes:>3} "
                f"classes, {counts.teachers:>4} teachers"
                + (f", {counts.rejected} rejected rows" if counts.rejected else "")
                + f"  [{servers}]"
            )
    for problem in report.problems:
        app.warn(problem)
    if not report.ok:
        count = len(report.problems)
        app.warn(f"inventory check: {count} problem{'s' if count != 1 else ''}")
        sys.exit(EXIT_ERROR)
    if not as_json:
        app.info(f"inventory ok: every roster read, {report.rendered} config files rendered")
