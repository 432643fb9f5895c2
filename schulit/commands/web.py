"""``schulit web``: the teachers' password page."""

from __future__ import annotations

import click

from schulit.context import AppContext
from schulit.errors import SchulitError


@click.command("web")
@click.option(
    "--listen", metavar="ADDR:PORT", help="Address to listen on (default: [web] listen, 127.0.0.1:8080)."
)
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@click.option(
    "--print-acl", is_flag=True, help="Print the OpenLDAP access rules for the web identity and exit."
)
@click.pass_obj
def web_command(app: AppContext, listen: str | None, threads: int, print_acl: bool) -> None:
    """Serve the page where teachers reset their classes' passwords and pupils change their own."""
    inventory = app.inventory()
    if inventory.directory.flavour != "openldap":  # it finds posixAccount entries and writes userPassword
        raise SchulitError(
            f"schulit web: the page works with the openldap directory flavour only so far, not "
            f"{inventory.directory.flavour}; reset AD passwords with 'schulit accounts reset-password'"
        )
    if inventory.web is None:
        raise SchulitError(
            f"{inventory.root / 'county.toml'}: no [web] section; set at least bind_dn and password_file "
            "of the web page's own directory identity (README: Teachers' web page)"
        )
    if print_acl:
        from schulit.directory.acl import web_rules

        for rule in web_rules(inventory):  # with Samba: the NT hash attributes too
            click.echo(rule)
        return
    from schulit.web.server import serve

    serve(inventory, inventory.web, listen or inventory.web.listen, threads)
