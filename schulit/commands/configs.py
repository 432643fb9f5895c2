"""``schulit configs render|push``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import ldap3

from schulit.configs.push import format_recap, push_configs, select_servers, tty_progress
from schulit.configs.render import render_hosts
from schulit.context import AppContext
from schulit.directory.connection import connected
from schulit.errors import SchulitError

LIMIT_OPTION = click.option(
    "--limit",
    "limits",
    multiple=True,
    metavar="PATTERN",
    help="School id, server name, or a glob on either (repeatable). Default: all.",
)


@click.group("configs")
def configs_group() -> None:
    """Render school-server configs and push them over SSH."""


@configs_group.command("render")
@LIMIT_OPTION
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write OUTPUT/<server>/<path> into.",
)
@click.pass_obj
def render(app: AppContext, limits: tuple[str, ...], output: Path) -> None:
    """Render every server's files into OUTPUT/<server>/ for review (reads the directory, no SSH).

    Classes, pupils and teachers come from the directory as the last successful sync left them, so the
    output is what 'configs push' would install; roster files are not read.
    """
    inventory = app.inventory()
    failures = 0
    with connected(inventory.directory, strategy=ldap3.SYNC, bulk_read=True) as connection:
        rendered = render_hosts(inventory, select_servers(inventory, limits), connection)
    for item in rendered:
        if isinstance(item, tuple):
            server, error = item
            app.warn(f"{server.name}: {error}")
            failures += 1
            continue
        for rendered in item.files:
            target = output / item.server.name / (rendered.dest or rendered.spec.dest).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rendered.content)
            app.detail(f"{target}")
        for folder in item.folders:
            app.detail(f"folder {folder.dest} {folder.mode:04o} {folder.owner}:{folder.group}")
        app.info(
            f"{item.server.name}: {len(item.files)} files"
            + (f", {len(item.folders)} folders" if item.folders else "")
        )
    if failures:
        raise SchulitError(f"{failures} server(s) could not be rendered")


@configs_group.command("push")
@LIMIT_OPTION
@click.option("--check", is_flag=True, help="Change nothing; report what would change.")
@click.option("--diff", is_flag=True, help="Show unified diffs of changed files.")
@click.option(
    "--forks",
    type=click.IntRange(1, 256),
    default=None,
    help="Hosts in parallel (default: ssh.forks in the inventory, 10).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_obj
def push(
    app: AppContext, limits: tuple[str, ...], check: bool, diff: bool, forks: int | None, as_json: bool
) -> None:
    """Push rendered configs to the school servers; run handlers where files changed.

    Exit 4 if any host failed or was unreachable (the others are done all the same).
    """
    result = push_configs(
        app.inventory(),
        limits=limits,
        check=check,
        diff=diff,
        forks=forks,
        progress=None if as_json or app.quiet else tty_progress,
    )
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        if diff:
            for host in result.hosts:
                for item in host.files:
                    if item.diff:
                        click.echo(item.diff, nl=False)
        if app.verbose:
            for host in result.hosts:
                for item in host.files:
                    app.detail(f"{host.name}: {item.status:<12} {item.path} {item.error}")
        if not app.quiet or result.exit_code:
            click.echo(format_recap(result), err=app.quiet)
    if result.exit_code:
        sys.exit(result.exit_code)
