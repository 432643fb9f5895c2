"""``schulit configs render|push`` (placeholder until the configs module lands)."""

from __future__ import annotations

from pathlib import Path

import click

from schulit.commands.pending import not_implemented


@click.group("configs")
def configs_group() -> None:
    """Render school-server configs and push them over SSH."""


@configs_group.command("render")
@click.option("--limit", "limits", multiple=True, metavar="PATTERN", help="School id, server name or glob.")
@click.option("--output", required=True, type=click.Path(file_okay=False, path_type=Path))
def render(limits: tuple[str, ...], output: Path) -> None:
    """Render every server's files into OUTPUT/<server>/ for review (no network)."""
    raise not_implemented("configs render")


@configs_group.command("push")
@click.option("--limit", "limits", multiple=True, metavar="PATTERN", help="School id, server name or glob.")
@click.option("--check", is_flag=True, help="Change nothing; report what would change.")
@click.option("--diff", is_flag=True, help="Show unified diffs of changed files.")
@click.option("--forks", type=int, default=None, help="Hosts in parallel (default from inventory, 10).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def push(limits: tuple[str, ...], check: bool, diff: bool, forks: int | None, as_json: bool) -> None:
    """Push rendered configs to the school servers; run handlers where files changed."""
    raise not_implemented("configs push")
